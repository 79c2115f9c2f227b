package contract

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// KeyStore returns the contract suite of ports.KeyStore. newStore is called
// once per subtest and must return an empty or otherwise isolated store
// that also implements ports.AuditStore.
func KeyStore(newStore func(t *testing.T) ports.KeyStore) func(t *testing.T) {
	return func(t *testing.T) {
		tests := []struct {
			name string
			run  func(t *testing.T, ks ports.KeyStore, as ports.AuditStore)
		}{
			{"CreateGet/AllFields", testCreateGetAllFields},
			{"CreateGet/NilPointers", testCreateGetNilPointers},
			{"CreateGet/TruncatesToMicroseconds", testTruncatesToMicroseconds},
			{"CreateGet/TimeZones", testKeyTimeZones},
			{"CreateGet/UnicodeNames", testUnicodeNames},
			{"CreateGet/Scopes", testScopes},
			{"CreateGet/RecordsEvent", testCreateRecordsEvent},
			{"CreateGet/Copies", testKeyCopies},
			{"Create/DuplicateLookup", testDuplicateLookup},
			{"Create/DuplicateID", testDuplicateID},
			{"Create/FailedEventRollsBack", testCreateEventRollback},
			{"Create/Concurrent", testConcurrentCreates},
			{"NotFound", testKeyNotFound},
			{"CanceledContext", testCanceledContext},
			{"List/OrderAndPages", testListOrderAndPages},
			{"List/ExactPages", testListExactPages},
			{"List/IncludeRevoked", testListIncludeRevoked},
			{"List/Organizations", testListOrganizations},
			{"List/TimeZoneCursor", testListTimeZones},
			{"List/DefaultPageSize", testKeyPageSize},
			{"List/Filters", testListFilters},
			{"List/RotationDue", testListRotationDue},
			{"Rotate/Success", testRotateSuccess},
			{"Rotate/WrongVersion", testRotateWrongVersion},
			{"Rotate/Revoked", testRotateRevoked},
			{"Rotate/Missing", testRotateMissing},
			{"Rotate/LookupTaken", testRotateLookupTaken},
			{"Rotate/Twice", testRotateTwice},
			{"Rotate/ConcurrentSameVersion", testConcurrentRotations},
			{"Rotate/FailedEventRollsBack", testRotateEventRollback},
			{"Rotate/GracePeriod", testRotateGrace},
			{"Rotate/RetiredLookups", testRetiredLookupsAreTheirKeys},
			{"Revoke/Success", testRevokeSuccess},
			{"Revoke/Twice", testRevokeTwice},
			{"Revoke/Missing", testRevokeMissing},
			{"Revoke/ConcurrentSameKey", testConcurrentRevokes},
			{"Revoke/FailedEventRollsBack", testRevokeEventRollback},
			{"Update/Success", testUpdateSuccess},
			{"Update/Revoked", testUpdateRevoked},
			{"Update/Missing", testUpdateMissing},
			{"Update/ChangeRefused", testUpdateRefused},
			{"Update/FailedEventRollsBack", testUpdateEventRollback},
			{"Update/ConcurrentUpdates", testConcurrentUpdates},
			{"Update/ConcurrentRotate", testUpdateConcurrentRotate},
			{"Update/ConcurrentRevoke", testUpdateConcurrentRevoke},
			{"InvalidatedSince", testInvalidatedSince},
			{"Identifiers/Exact", testExactIdentifiers},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				ks, as := bothPorts(t, newStore(t))
				tc.run(t, ks, as)
			})
		}
	}
}

func testCreateGetAllFields(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	k.Environment = apikey.EnvLive
	k.Scopes = apikey.AllScopes
	k.UpdatedAt = at(time.Minute)
	k.ExpiresAt = ptr(at(90 * 24 * time.Hour))
	k.LastUsedAt = ptr(at(2 * time.Minute))
	k.RotatedAt = ptr(at(3 * time.Minute))
	k.RevokedAt = ptr(at(4 * time.Minute))
	k.Version = 7
	k.CreatedBy = "key:key_parent0000000000"
	k.RateLimit = apikey.RateLimit{Limit: 250, Window: apikey.WindowMinute}
	k.Metadata = apikey.Metadata(`{"customer":"cus_42","plan":{"tier":"pro","seats":[1,2.5]},"note":"héllo ☃"}`)
	k.IPAllowlist = allowlist(t, "203.0.113.0/24", "2001:db8::/32", "198.51.100.7")
	create(t, ks, k)

	checkKey(t, "GetKey", getKey(t, ks, k.ID), k)
	for _, r := range []apikey.RateLimit{{Limit: 1, Window: apikey.WindowSecond}, {Limit: apikey.MaxRateLimit, Window: apikey.WindowHour}} {
		other := newKey(k.OrganizationID, at(time.Second))
		other.RateLimit = r
		create(t, ks, other)
		checkKey(t, "GetKey with rate limit "+r.String(), getKey(t, ks, other.ID), other)
	}
	got, err := ks.FindByLookup(ctx, k.Lookup)
	if err != nil {
		t.Fatalf("FindByLookup: %v", err)
	}
	checkKey(t, "FindByLookup", got, k)
}

func testCreateGetNilPointers(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	k := newKey(newOrgID(), at(0))
	k.CreatedBy = ""
	k.Hint = ""
	create(t, ks, k)
	got := getKey(t, ks, k.ID)
	checkKey(t, "GetKey", got, k)
	for name, p := range map[string]*time.Time{"ExpiresAt": got.ExpiresAt, "LastUsedAt": got.LastUsedAt, "RotatedAt": got.RotatedAt, "RevokedAt": got.RevokedAt} {
		if p != nil {
			t.Errorf("%s = %v, want nil", name, *p)
		}
	}
}

func testTruncatesToMicroseconds(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	k := newKey(newOrgID(), at(999*time.Nanosecond))
	k.UpdatedAt = at(time.Second + 1999*time.Nanosecond)
	k.ExpiresAt = ptr(at(time.Hour + 500*time.Nanosecond))
	create(t, ks, k)
	got := getKey(t, ks, k.ID)
	checkKey(t, "GetKey", got, k)
	if !got.CreatedAt.Equal(base) {
		t.Errorf("CreatedAt = %v, want %v (truncated, not rounded)", got.CreatedAt, base)
	}
	if want := at(time.Second + time.Microsecond); !got.UpdatedAt.Equal(want) {
		t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, want)
	}
}

func testKeyTimeZones(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	india := time.FixedZone("IST", 5*3600+1800)
	pacific := time.FixedZone("PST", -8*3600)
	k := newKey(newOrgID(), base.In(india))
	k.UpdatedAt = base.Add(time.Hour).In(pacific)
	k.ExpiresAt = ptr(base.Add(48 * time.Hour).In(pacific))
	create(t, ks, k)
	got := getKey(t, ks, k.ID)
	checkKey(t, "GetKey", got, k)
}

func testUnicodeNames(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	names := []string{
		"Déploiement 🚀 production",
		"生产环境密钥",
		"本番環境のキー",
		"Cafe\u0301 with combining acute",
		"مفتاح الإنتاج",
		"👩🏽‍💻 team key 🔑",
		strings.Repeat("😀", 100),
		strings.Repeat("鍵", 100),
		strings.Repeat("e\u0301", 50),
		strings.Repeat("a", 99) + "🔑",
	}
	org := newOrgID()
	for i, name := range names {
		k := newKey(org, at(time.Duration(i)*time.Second))
		k.Name = name
		create(t, ks, k)
		got := getKey(t, ks, k.ID)
		if got.Name != name {
			t.Errorf("name %d: got %q (%d runes), want %q (%d runes)", i, got.Name, utf8.RuneCountInString(got.Name), name, utf8.RuneCountInString(name))
		}
	}
}

func testScopes(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	org := newOrgID()
	large := newKey(org, at(0))
	large.Scopes = nil
	for i := range 300 {
		large.Scopes = append(large.Scopes, apikey.Scope(fmt.Sprintf("custom:scope-%03d", 299-i)))
	}
	create(t, ks, large)
	if got := getKey(t, ks, large.ID); !slices.Equal(got.Scopes, large.Scopes) {
		t.Errorf("300 scopes: got %d scopes %v..., want them in the order written", len(got.Scopes), got.Scopes[:min(3, len(got.Scopes))])
	}

	none := newKey(org, at(time.Second))
	none.Scopes = nil
	create(t, ks, none)
	if got := getKey(t, ks, none.ID); len(got.Scopes) != 0 {
		t.Errorf("no scopes: got %v", got.Scopes)
	}

	all := newKey(org, at(2*time.Second))
	all.Scopes = apikey.Scopes{apikey.ScopeAPIKeysManage, apikey.ScopeTriggersRead}
	create(t, ks, all)
	if got := getKey(t, ks, all.ID); !slices.Equal(got.Scopes, all.Scopes) {
		t.Errorf("scopes: got %v, want %v (order kept)", got.Scopes, all.Scopes)
	}
}

func testCreateRecordsEvent(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	k := newKey(newOrgID(), at(0))
	ev := create(t, ks, k)
	wantOneEvent(t, as, k, audit.ActionKeyCreated, ev)
}

func testDuplicateLookup(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	first := newKey(newOrgID(), at(0))
	create(t, ks, first)

	dup := newKey(newOrgID(), at(time.Second))
	dup.Lookup = first.Lookup
	err := ks.CreateKey(ctx, dup, keyEvent(audit.ActionKeyCreated, dup, dup.CreatedAt))
	wantErr(t, "CreateKey with a taken lookup", err, apikey.ErrConflict)

	_, err = ks.GetKey(ctx, dup.ID)
	wantErr(t, "GetKey of the rejected key", err, apikey.ErrNotFound)
	wantEvents(t, as, dup, "", 0)
	got, err := ks.FindByLookup(ctx, first.Lookup)
	if err != nil {
		t.Fatalf("FindByLookup: %v", err)
	}
	checkKey(t, "first key after the conflict", got, first)
}

func testDuplicateID(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	first := newKey(newOrgID(), at(0))
	create(t, ks, first)

	dup := newKey(first.OrganizationID, at(time.Second))
	dup.ID = first.ID
	dup.Name = "impostor"
	err := ks.CreateKey(ctx, dup, keyEvent(audit.ActionKeyCreated, dup, dup.CreatedAt))
	wantErr(t, "CreateKey with a taken id", err, apikey.ErrConflict)

	_, err = ks.FindByLookup(ctx, dup.Lookup)
	wantErr(t, "FindByLookup of the rejected key", err, apikey.ErrNotFound)
	checkKey(t, "first key after the conflict", getKey(t, ks, first.ID), first)
	wantEvents(t, as, first, audit.ActionKeyCreated, 1)
}

// testCreateEventRollback makes the event insert fail (its id is taken) and
// checks that the key row went with it.
func testCreateEventRollback(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	first := newKey(newOrgID(), at(0))
	firstEv := create(t, ks, first)

	second := newKey(first.OrganizationID, at(time.Second))
	ev := keyEvent(audit.ActionKeyCreated, second, second.CreatedAt)
	ev.ID = firstEv.ID
	err := ks.CreateKey(ctx, second, ev)
	if err == nil {
		t.Fatal("CreateKey with a taken event id succeeded")
	}
	_, err = ks.GetKey(ctx, second.ID)
	wantErr(t, "GetKey after the failed create", err, apikey.ErrNotFound)
	_, err = ks.FindByLookup(ctx, second.Lookup)
	wantErr(t, "FindByLookup after the failed create", err, apikey.ErrNotFound)
	page, err := ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{first.OrganizationID}, IncludeRevoked: true, Limit: 10})
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if page.Total != 1 || len(page.Keys) != 1 {
		t.Errorf("ListKeys: total %d, %d keys; want only the first key", page.Total, len(page.Keys))
	}
	evs := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{first.OrganizationID}}, 10)
	if len(evs) != 1 {
		t.Fatalf("events = %d, want 1", len(evs))
	}
	checkEvent(t, "surviving event", evs[0], firstEv)
}

func testConcurrentCreates(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	org := newOrgID()
	const workers, each = 12, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range each {
				k := newKey(org, at(time.Duration(w*each+i)*time.Millisecond))
				if err := ks.CreateKey(ctx, k, keyEvent(audit.ActionKeyCreated, k, k.CreatedAt)); err != nil {
					errs <- err
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent CreateKey: %v", err)
	}
	page, err := ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{org}, Limit: 1})
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if page.Total != workers*each {
		t.Errorf("Total = %d, want %d", page.Total, workers*each)
	}
	if evs := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}}, 1000); len(evs) != workers*each {
		t.Errorf("events = %d, want %d", len(evs), workers*each)
	}
}

func testKeyNotFound(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	for _, id := range []string{newKeyID(), "", strings.ToUpper(k.ID), k.ID + " ", "key_🔑"} {
		_, err := ks.GetKey(ctx, id)
		wantErr(t, fmt.Sprintf("GetKey(%q)", id), err, apikey.ErrNotFound)
	}
	for _, digest := range []string{newLookup(), "", strings.ToUpper(k.Lookup), k.Lookup[:63], k.Lookup + " ", "ünknown 🔑"} {
		_, err := ks.FindByLookup(ctx, digest)
		wantErr(t, fmt.Sprintf("FindByLookup(%q)", digest), err, apikey.ErrNotFound)
	}
}

func testCanceledContext(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ks.GetKey(ctx, k.ID)
	if err == nil {
		t.Fatal("GetKey with a canceled context succeeded")
	}
	if errors.Is(err, apikey.ErrNotFound) || errors.Is(err, apikey.ErrConflict) {
		t.Fatalf("GetKey with a canceled context: %v, which a caller would take for an answer", err)
	}
	k2 := newKey(k.OrganizationID, at(time.Second))
	if err := ks.CreateKey(ctx, k2, keyEvent(audit.ActionKeyCreated, k2, k2.CreatedAt)); err == nil {
		t.Fatal("CreateKey with a canceled context succeeded")
	}
	if _, err := ks.GetKey(context.Background(), k2.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("key of the canceled create: %v, want ErrNotFound", err)
	}
}

// listAll follows every page of q and checks each page's invariants.
func listAll(t *testing.T, ks ports.KeyStore, q ports.KeyQuery) ([]apikey.Key, int) {
	t.Helper()
	var out []apikey.Key
	pages := 0
	var total int64 = -1
	for {
		pages++
		if pages > 1000 {
			t.Fatal("ListKeys: pagination does not end")
		}
		p, err := ks.ListKeys(context.Background(), q)
		if err != nil {
			t.Fatalf("ListKeys(%+v): %v", q, err)
		}
		if p.Keys == nil {
			t.Fatal("ListKeys: Keys is nil, want a non-nil slice")
		}
		if len(p.Keys) > q.Limit {
			t.Fatalf("ListKeys: %d keys on a page of %d", len(p.Keys), q.Limit)
		}
		if total >= 0 && p.Total != total {
			t.Fatalf("ListKeys: Total changed from %d to %d between pages", total, p.Total)
		}
		total = p.Total
		out = append(out, p.Keys...)
		if p.Next == nil {
			if int64(len(out)) != total {
				t.Fatalf("ListKeys: %d keys over all pages, Total %d", len(out), total)
			}
			return out, pages
		}
		if len(p.Keys) != q.Limit {
			t.Fatalf("ListKeys: %d keys with a next cursor, want a full page of %d", len(p.Keys), q.Limit)
		}
		last := p.Keys[len(p.Keys)-1]
		if !p.Next.Time.Equal(last.CreatedAt) || p.Next.ID != last.ID {
			t.Fatalf("ListKeys: Next = %+v, want the last key's position (%s, %s)", *p.Next, last.CreatedAt, last.ID)
		}
		q.After = p.Next
	}
}

func keyIDs(keys []apikey.Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

// newestKeysFirst sorts keys the way ListKeys returns them.
func newestKeysFirst(keys []apikey.Key) {
	slices.SortFunc(keys, func(a, b apikey.Key) int {
		if c := norm(b.CreatedAt).Compare(norm(a.CreatedAt)); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
}

func testListOrderAndPages(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	org := newOrgID()
	// Three keys share one creation time and two share another, so pages
	// must break ties by id; ids are written in no particular order.
	offsets := []time.Duration{time.Minute, 0, time.Minute, time.Minute, 2 * time.Minute, 0, 3 * time.Minute, time.Minute}
	var keys []apikey.Key
	for i, off := range offsets {
		k := newKey(org, at(off))
		k.ID = fmt.Sprintf("key_%c%02d", "QbZaMzcA"[i], i)
		create(t, ks, k)
		keys = append(keys, k)
	}
	newestKeysFirst(keys)
	want := keyIDs(keys)

	for _, limit := range []int{1, 2, 3, 5, 8, 50} {
		got, pages := listAll(t, ks, ports.KeyQuery{OrganizationIDs: []string{org}, Limit: limit})
		if !slices.Equal(keyIDs(got), want) {
			t.Errorf("limit %d: order %v, want %v", limit, keyIDs(got), want)
		}
		if wantPages := max(1, (len(keys)+limit-1)/limit); pages != wantPages {
			t.Errorf("limit %d: %d pages, want %d", limit, pages, wantPages)
		}
	}
	got, _ := listAll(t, ks, ports.KeyQuery{OrganizationIDs: []string{org}, Limit: 3})
	for i := range got {
		checkKey(t, "listed key "+got[i].ID, got[i], keys[i])
	}
}

func testListExactPages(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	ctx := context.Background()
	org := newOrgID()
	for i := range 6 {
		create(t, ks, newKey(org, at(time.Duration(i)*time.Second)))
	}
	p, err := ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{org}, Limit: 6})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Keys) != 6 || p.Next != nil || p.Total != 6 {
		t.Errorf("limit 6 of 6: %d keys, next %v, total %d; want 6, nil, 6", len(p.Keys), p.Next, p.Total)
	}
	p, err = ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{org}, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Keys) != 3 || p.Next == nil {
		t.Fatalf("limit 3 of 6: %d keys, next %v; want 3 and a cursor", len(p.Keys), p.Next)
	}
	p, err = ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{org}, Limit: 3, After: p.Next})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Keys) != 3 || p.Next != nil || p.Total != 6 {
		t.Errorf("second page of 3: %d keys, next %v, total %d; want 3, nil, 6", len(p.Keys), p.Next, p.Total)
	}

	empty, err := ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{newOrgID()}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if empty.Keys == nil || len(empty.Keys) != 0 || empty.Total != 0 || empty.Next != nil {
		t.Errorf("organization without keys: %+v, want a non-nil empty page", empty)
	}
}

func testListIncludeRevoked(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	ctx := context.Background()
	org := newOrgID()
	var keys []apikey.Key
	for i := range 5 {
		k := newKey(org, at(time.Duration(i)*time.Second))
		create(t, ks, k)
		keys = append(keys, k)
	}
	for _, k := range []apikey.Key{keys[1], keys[3]} {
		if _, err := ks.RevokeKey(ctx, k.ID, at(time.Hour), keyEvent(audit.ActionKeyRevoked, k, at(time.Hour))); err != nil {
			t.Fatalf("RevokeKey: %v", err)
		}
	}
	active, _ := listAll(t, ks, ports.KeyQuery{OrganizationIDs: []string{org}, Limit: 2})
	if want := []string{keys[4].ID, keys[2].ID, keys[0].ID}; !slices.Equal(keyIDs(active), want) {
		t.Errorf("without revoked: %v, want %v", keyIDs(active), want)
	}
	all, _ := listAll(t, ks, ports.KeyQuery{OrganizationIDs: []string{org}, IncludeRevoked: true, Limit: 2})
	if want := []string{keys[4].ID, keys[3].ID, keys[2].ID, keys[1].ID, keys[0].ID}; !slices.Equal(keyIDs(all), want) {
		t.Errorf("with revoked: %v, want %v", keyIDs(all), want)
	}
	for _, k := range all {
		revoked := k.ID == keys[1].ID || k.ID == keys[3].ID
		if (k.RevokedAt != nil) != revoked {
			t.Errorf("key %s: RevokedAt = %v, want revoked %v", k.ID, k.RevokedAt, revoked)
		}
	}
}

func testListOrganizations(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	ctx := context.Background()
	orgA, orgB, orgC := newOrgID(), newOrgID(), newOrgID()
	var inAB []apikey.Key
	for i := range 9 {
		org := []string{orgA, orgB, orgC}[i%3]
		k := newKey(org, at(time.Duration(i)*time.Second))
		create(t, ks, k)
		if org != orgC {
			inAB = append(inAB, k)
		}
	}
	newestKeysFirst(inAB)
	got, _ := listAll(t, ks, ports.KeyQuery{OrganizationIDs: []string{orgA, orgB}, Limit: 4})
	if !slices.Equal(keyIDs(got), keyIDs(inAB)) {
		t.Errorf("orgs A and B: %v, want %v", keyIDs(got), keyIDs(inAB))
	}
	for _, k := range got {
		if k.OrganizationID == orgC {
			t.Errorf("key %s of another organization listed", k.ID)
		}
	}
	onlyC, _ := listAll(t, ks, ports.KeyQuery{OrganizationIDs: []string{orgC}, Limit: 10})
	if len(onlyC) != 3 {
		t.Errorf("org C: %d keys, want 3", len(onlyC))
	}

	none, err := ks.ListKeys(ctx, ports.KeyQuery{Limit: 10})
	if err == nil && len(none.Keys) != 0 {
		t.Errorf("no organizations: %d keys listed, want none", len(none.Keys))
	}
}

func testListTimeZones(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	org := newOrgID()
	east := time.FixedZone("UTC+14", 14*3600)
	west := time.FixedZone("UTC-11", -11*3600)
	// Wall clocks disagree with the instants: a store that compares local
	// times instead of instants gets the order wrong.
	older := newKey(org, base.In(east))                       // wall clock: next day
	newer := newKey(org, base.Add(time.Hour).In(west))        // wall clock: earlier day
	newest := newKey(org, base.Add(2*time.Hour).In(time.UTC)) // UTC
	for _, k := range []apikey.Key{older, newer, newest} {
		create(t, ks, k)
	}
	got, _ := listAll(t, ks, ports.KeyQuery{OrganizationIDs: []string{org}, Limit: 1})
	if want := []string{newest.ID, newer.ID, older.ID}; !slices.Equal(keyIDs(got), want) {
		t.Errorf("order %v, want %v", keyIDs(got), want)
	}
	p, err := ks.ListKeys(context.Background(), ports.KeyQuery{
		OrganizationIDs: []string{org}, Limit: 10,
		After: &ports.Cursor{Time: newer.CreatedAt.In(east), ID: newer.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{older.ID}; !slices.Equal(keyIDs(p.Keys), want) {
		t.Errorf("after a non-UTC cursor: %v, want %v", keyIDs(p.Keys), want)
	}
}

func rotation(k apikey.Key, version int64, t time.Time) ports.Rotation {
	return ports.Rotation{
		KeyID:         k.ID,
		ExpectVersion: version,
		Hash:          "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdG5ld3NhbHQ$" + token(26),
		Lookup:        newLookup(),
		Hint:          "sk_test_…" + token(4),
		At:            t,
	}
}

func testRotateSuccess(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	k.ExpiresAt = ptr(at(30 * 24 * time.Hour))
	k.LastUsedAt = ptr(at(time.Minute))
	create(t, ks, k)

	r := rotation(k, 1, at(time.Hour+123*time.Nanosecond))
	ev := keyEvent(audit.ActionKeyRotated, k, r.At)
	got, err := ks.RotateKey(ctx, r, ev)
	if err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	want := k
	want.Hash, want.Lookup, want.Hint = r.Hash, r.Lookup, r.Hint
	want.RotatedAt = ptr(r.At)
	want.UpdatedAt = r.At
	want.Version = 2
	checkKey(t, "returned key", got, want)
	checkKey(t, "stored key", getKey(t, ks, k.ID), want)

	// The old secret's digest is retired: it still finds the key, whose
	// Lookup and PreviousLookup it matches neither.
	byOld, err := ks.FindByLookup(ctx, k.Lookup)
	if err != nil {
		t.Fatalf("FindByLookup(retired lookup): %v", err)
	}
	checkKey(t, "key by its retired lookup", byOld, want)
	byNew, err := ks.FindByLookup(ctx, r.Lookup)
	if err != nil {
		t.Fatalf("FindByLookup(new lookup): %v", err)
	}
	checkKey(t, "key by new lookup", byNew, want)

	wantOneEvent(t, as, k, audit.ActionKeyRotated, ev)
}

func testRotateWrongVersion(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	for _, v := range []int64{0, 2, -1} {
		_, err := ks.RotateKey(ctx, rotation(k, v, at(time.Hour)), keyEvent(audit.ActionKeyRotated, k, at(time.Hour)))
		wantErr(t, fmt.Sprintf("RotateKey at version %d of a version-1 key", v), err, apikey.ErrConflict)
	}
	checkKey(t, "key after failed rotations", getKey(t, ks, k.ID), k)
	wantEvents(t, as, k, audit.ActionKeyRotated, 0)
}

func testRotateRevoked(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	revoked, err := ks.RevokeKey(ctx, k.ID, at(time.Minute), keyEvent(audit.ActionKeyRevoked, k, at(time.Minute)))
	if err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	r := rotation(k, revoked.Version, at(time.Hour))
	_, err = ks.RotateKey(ctx, r, keyEvent(audit.ActionKeyRotated, k, r.At))
	wantErr(t, "RotateKey of a revoked key", err, apikey.ErrRevoked)
	checkKey(t, "revoked key after the rotation attempt", getKey(t, ks, k.ID), revoked)
	_, err = ks.FindByLookup(ctx, r.Lookup)
	wantErr(t, "FindByLookup(refused lookup)", err, apikey.ErrNotFound)
	wantEvents(t, as, k, audit.ActionKeyRotated, 0)
}

func testRotateMissing(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	k := newKey(newOrgID(), at(0))
	_, err := ks.RotateKey(context.Background(), rotation(k, 1, at(time.Hour)), keyEvent(audit.ActionKeyRotated, k, at(time.Hour)))
	wantErr(t, "RotateKey of a missing key", err, apikey.ErrNotFound)
	wantEvents(t, as, k, "", 0)
}

func testRotateLookupTaken(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	org := newOrgID()
	k, other := newKey(org, at(0)), newKey(org, at(time.Second))
	create(t, ks, k)
	create(t, ks, other)
	r := rotation(k, 1, at(time.Hour))
	r.Lookup = other.Lookup
	_, err := ks.RotateKey(ctx, r, keyEvent(audit.ActionKeyRotated, k, r.At))
	wantErr(t, "RotateKey to a taken lookup", err, apikey.ErrConflict)
	checkKey(t, "rotated key", getKey(t, ks, k.ID), k)
	checkKey(t, "owner of the lookup", getKey(t, ks, other.ID), other)
	wantEvents(t, as, k, audit.ActionKeyRotated, 0)
}

func testRotateTwice(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	r1 := rotation(k, 1, at(time.Hour))
	if _, err := ks.RotateKey(ctx, r1, keyEvent(audit.ActionKeyRotated, k, r1.At)); err != nil {
		t.Fatalf("first RotateKey: %v", err)
	}
	_, err := ks.RotateKey(ctx, rotation(k, 1, at(2*time.Hour)), keyEvent(audit.ActionKeyRotated, k, at(2*time.Hour)))
	wantErr(t, "RotateKey with the version the first rotation consumed", err, apikey.ErrConflict)
	r2 := rotation(k, 2, at(3*time.Hour))
	got, err := ks.RotateKey(ctx, r2, keyEvent(audit.ActionKeyRotated, k, r2.At))
	if err != nil {
		t.Fatalf("second RotateKey: %v", err)
	}
	if got.Version != 3 || got.Lookup != r2.Lookup || got.RotatedAt == nil || !got.RotatedAt.Equal(norm(r2.At)) {
		t.Errorf("after two rotations: version %d, lookup %s, rotated %v; want 3, %s, %s", got.Version, got.Lookup, got.RotatedAt, r2.Lookup, norm(r2.At))
	}
	for _, old := range []string{k.Lookup, r1.Lookup} {
		byOld, err := ks.FindByLookup(ctx, old)
		if err != nil || byOld.ID != k.ID || byOld.Lookup != r2.Lookup {
			t.Errorf("FindByLookup(retired %s): %s %v, want the key", old, byOld.ID, err)
		}
	}
	wantEvents(t, as, k, audit.ActionKeyRotated, 2)
}

func testConcurrentRotations(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)

	const n = 16
	rotations := make([]ports.Rotation, n)
	errs := make([]error, n)
	results := make([]apikey.Key, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		rotations[i] = rotation(k, 1, at(time.Hour+time.Duration(i)*time.Millisecond))
		wg.Go(func() {
			<-start
			results[i], errs[i] = ks.RotateKey(ctx, rotations[i], keyEvent(audit.ActionKeyRotated, k, rotations[i].At))
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("rotations %d and %d both succeeded at version 1", winner, i)
			}
			winner = i
		case errors.Is(err, apikey.ErrConflict):
		default:
			t.Errorf("rotation %d: %v, want success or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no rotation succeeded")
	}
	stored := getKey(t, ks, k.ID)
	if stored.Version != 2 || stored.Lookup != rotations[winner].Lookup || stored.Hash != rotations[winner].Hash {
		t.Errorf("stored key: version %d, lookup %s; want 2 and the winner's lookup %s", stored.Version, stored.Lookup, rotations[winner].Lookup)
	}
	checkKey(t, "winner's result", results[winner], stored)
	wantEvents(t, as, k, audit.ActionKeyRotated, 1)
	for i, r := range rotations {
		if i == winner {
			continue
		}
		if _, err := ks.FindByLookup(ctx, r.Lookup); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("losing rotation %d's lookup: %v, want ErrNotFound", i, err)
		}
	}
}

func testRevokeSuccess(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	when := at(time.Hour + 789*time.Nanosecond)
	ev := keyEvent(audit.ActionKeyRevoked, k, when)
	got, err := ks.RevokeKey(ctx, k.ID, when, ev)
	if err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	want := k
	want.RevokedAt = ptr(when)
	want.UpdatedAt = when
	want.Version = 2
	checkKey(t, "returned key", got, want)
	checkKey(t, "stored key", getKey(t, ks, k.ID), want)
	byLookup, err := ks.FindByLookup(ctx, k.Lookup)
	if err != nil {
		t.Fatalf("FindByLookup of a revoked key: %v (revoked keys stay findable, so that they are reported as revoked)", err)
	}
	if byLookup.RevokedAt == nil {
		t.Error("FindByLookup: RevokedAt = nil after revocation")
	}
	wantOneEvent(t, as, k, audit.ActionKeyRevoked, ev)
}

func testRevokeTwice(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	first, err := ks.RevokeKey(ctx, k.ID, at(time.Hour), keyEvent(audit.ActionKeyRevoked, k, at(time.Hour)))
	if err != nil {
		t.Fatalf("first RevokeKey: %v", err)
	}
	again, err := ks.RevokeKey(ctx, k.ID, at(2*time.Hour), keyEvent(audit.ActionKeyRevoked, k, at(2*time.Hour)))
	wantErr(t, "second RevokeKey", err, apikey.ErrRevoked)
	checkKey(t, "key returned by the second revocation", again, first)
	checkKey(t, "stored key", getKey(t, ks, k.ID), first)
	wantEvents(t, as, k, audit.ActionKeyRevoked, 1)
}

func testRevokeMissing(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	k := newKey(newOrgID(), at(0))
	_, err := ks.RevokeKey(context.Background(), k.ID, at(time.Hour), keyEvent(audit.ActionKeyRevoked, k, at(time.Hour)))
	wantErr(t, "RevokeKey of a missing key", err, apikey.ErrNotFound)
	wantEvents(t, as, k, "", 0)
}

func testConcurrentRevokes(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	const n = 8
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			when := at(time.Hour + time.Duration(i)*time.Second)
			_, errs[i] = ks.RevokeKey(ctx, k.ID, when, keyEvent(audit.ActionKeyRevoked, k, when))
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, apikey.ErrRevoked):
			t.Errorf("revocation %d: %v, want success or ErrRevoked", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d revocations succeeded, want exactly 1", ok)
	}
	if got := getKey(t, ks, k.ID); got.Version != 2 {
		t.Errorf("version = %d, want 2", got.Version)
	}
	wantEvents(t, as, k, audit.ActionKeyRevoked, 1)
}

func testInvalidatedSince(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	ctx := context.Background()
	org := newOrgID()
	var keys [5]apikey.Key
	for i := range keys {
		keys[i] = newKey(org, at(time.Duration(i)*time.Second))
		create(t, ks, keys[i])
	}
	t1, t2, t3 := at(time.Hour), at(2*time.Hour), at(3*time.Hour)
	mustRotate := func(k apikey.Key, when time.Time) {
		t.Helper()
		if _, err := ks.RotateKey(ctx, rotation(k, 1, when), keyEvent(audit.ActionKeyRotated, k, when)); err != nil {
			t.Fatalf("RotateKey: %v", err)
		}
	}
	mustRotate(keys[0], t1)
	if _, err := ks.RevokeKey(ctx, keys[1].ID, t2, keyEvent(audit.ActionKeyRevoked, keys[1], t2)); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	mustRotate(keys[2], t3)
	// keys[3] and keys[4] are never invalidated; usage must not count.
	if as, ok := ks.(ports.AuditStore); ok {
		if err := as.AppendUsage(ctx, []audit.Event{useEvent(audit.ActionKeyUsed, keys[3], t3.Add(time.Minute), "ok")}); err != nil {
			t.Fatalf("AppendUsage: %v", err)
		}
	}

	changes := func(since time.Time) map[string]time.Time {
		t.Helper()
		got, err := ks.InvalidatedSince(ctx, since)
		if err != nil {
			t.Fatalf("InvalidatedSince(%v): %v", since, err)
		}
		out := make(map[string]time.Time)
		for _, c := range got {
			if c.At.Before(norm(since)) {
				t.Errorf("InvalidatedSince(%v) returned %s at %v, before since", since, c.KeyID, c.At)
			}
			if c.At.Location() != time.UTC {
				t.Errorf("change of %s: location %v, want UTC", c.KeyID, c.At.Location())
			}
			out[c.KeyID] = c.At
		}
		return out
	}
	check := func(since time.Time, want map[string]time.Time) {
		t.Helper()
		got := changes(since)
		for _, k := range keys {
			w, wantIt := want[k.ID]
			g, gotIt := got[k.ID]
			switch {
			case wantIt && !gotIt:
				t.Errorf("InvalidatedSince(%v): %s missing", since, k.ID)
			case !wantIt && gotIt:
				t.Errorf("InvalidatedSince(%v): %s listed at %v, want it left out", since, k.ID, g)
			case wantIt && !g.Equal(w):
				t.Errorf("InvalidatedSince(%v): %s at %v, want %v", since, k.ID, g, w)
			}
		}
	}
	check(base, map[string]time.Time{keys[0].ID: t1, keys[1].ID: t2, keys[2].ID: t3})
	check(t2, map[string]time.Time{keys[1].ID: t2, keys[2].ID: t3}) // since is inclusive
	check(t2.Add(time.Microsecond), map[string]time.Time{keys[2].ID: t3})
	check(t3.Add(time.Microsecond), map[string]time.Time{})
	check(t2.In(time.FixedZone("UTC-7", -7*3600)), map[string]time.Time{keys[1].ID: t2, keys[2].ID: t3})
}
