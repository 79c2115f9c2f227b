package contract

import (
	"context"
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

// AuditStore returns the contract suite of ports.AuditStore. newStore is
// called once per subtest and must return an empty or otherwise isolated
// store that also implements ports.KeyStore.
func AuditStore(newStore func(t *testing.T) ports.AuditStore) func(t *testing.T) {
	return func(t *testing.T) {
		tests := []struct {
			name string
			run  func(t *testing.T, ks ports.KeyStore, as ports.AuditStore)
		}{
			{"AppendUsage/RoundTrip", testAppendRoundTrip},
			{"AppendUsage/Details", testEventDetails},
			{"AppendUsage/TimeZones", testEventTimeZones},
			{"AppendUsage/Empty", testAppendEmpty},
			{"AppendUsage/LongAndInvalidText", testAppendLongText},
			{"AppendUsage/LastUsedMovesForward", testLastUsedForward},
			{"AppendUsage/FailuresDoNotTouchLastUsed", testFailuresKeepLastUsed},
			{"AppendUsage/SeveralKeys", testLastUsedSeveralKeys},
			{"AppendUsage/Idempotent", testAppendIdempotent},
			{"AppendUsage/RepeatedInBatch", testAppendRepeatedInBatch},
			{"AppendUsage/Concurrent", testConcurrentAppend},
			{"AppendUsage/Copies", testEventCopies},
			{"AppendUsage/UsageActorRule", testUsageActorRule},
			{"ListEvents/Filters", testListEventFilters},
			{"ListEvents/Pages", testListEventPages},
			{"ListEvents/NoOrganizations", testListEventsNoOrgs},
			{"ListEvents/PageSizes", testEventPageSizes},
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

func appendUsage(t *testing.T, as ports.AuditStore, evs ...audit.Event) {
	t.Helper()
	if err := as.AppendUsage(context.Background(), evs); err != nil {
		t.Fatalf("AppendUsage(%d events): %v", len(evs), err)
	}
}

func testAppendRoundTrip(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	used := useEvent(audit.ActionKeyUsed, k, at(time.Minute+987*time.Nanosecond), "ok")
	used.TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	used.SpanID = "00f067aa0ba902b7" // kept in memory only: checkEvent wants it gone
	used.Details = map[string]any{"route": "/v1/triggers"}
	// The widest values the HTTP adapter hands over: a client request id
	// of audit.MaxClientRequestIDLen characters, every scope required.
	used.ClientRequestID = strings.Repeat("0123456789abcdef:._-", 4)[:audit.MaxClientRequestIDLen]
	used.Scope = apikey.Scopes(apikey.AllScopes).Join(audit.ScopeSeparator)
	failed := useEvent(audit.ActionKeyAuthFailed, k, at(2*time.Minute), "revoked")
	failed.Status = 401
	failed.Scope = ""
	failed.ClientRequestID = "" // the client sent none: stored as NULL, read back as ""
	failed.Details = map[string]any{"reason": "key revoked"}
	anonymous := audit.Event{
		ID: newEventID(), Time: at(3 * time.Minute), OrganizationID: k.OrganizationID,
		Actor: "anonymous", Action: audit.ActionKeyAuthFailed, Outcome: "malformed", Status: 401,
	}
	appendUsage(t, as, used, failed, anonymous)

	got := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{k.OrganizationID}, Action: ""}, 10)
	want := []audit.Event{anonymous, failed, used}
	// The key.created event of create is there too.
	got = slices.DeleteFunc(got, func(ev audit.Event) bool { return ev.Action == audit.ActionKeyCreated })
	if len(got) != len(want) {
		t.Fatalf("events = %v, want %v", eventIDs(got), eventIDs(want))
	}
	for i := range want {
		checkEvent(t, "event "+want[i].ID, got[i], want[i])
	}
}

func testEventDetails(t *testing.T, _ ports.KeyStore, as ports.AuditStore) {
	org := newOrgID()
	k := newKey(org, at(0))
	details := map[string]any{
		"scopes":  []any{"triggers:read", "api-keys:manage"},
		"count":   float64(3),
		"ratio":   0.25,
		"revoked": true,
		"nothing": nil,
		"name":    "Déploiement 🚀 \"quoted\" \\ back\nslash",
		"nested":  map[string]any{"a": []any{float64(1), "two", map[string]any{"b": false}}},
	}
	full := useEvent(audit.ActionKeyAuthFailed, k, at(time.Second), "scope_denied")
	full.Details = details
	empty := useEvent(audit.ActionKeyAuthFailed, k, at(2*time.Second), "unknown")
	empty.Details = map[string]any{}
	none := useEvent(audit.ActionKeyAuthFailed, k, at(3*time.Second), "unknown")
	none.Details = nil
	appendUsage(t, as, full, empty, none)

	got := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}}, 10)
	if len(got) != 3 {
		t.Fatalf("events = %d, want 3", len(got))
	}
	checkEvent(t, "details", got[2], full)
	if len(got[1].Details) != 0 || len(got[0].Details) != 0 {
		t.Errorf("empty and nil details came back as %v and %v", got[1].Details, got[0].Details)
	}
}

func testEventTimeZones(t *testing.T, _ ports.KeyStore, as ports.AuditStore) {
	org := newOrgID()
	k := newKey(org, at(0))
	east := time.FixedZone("UTC+13", 13*3600)
	west := time.FixedZone("UTC-9:30", -(9*3600 + 1800))
	older := useEvent(audit.ActionKeyAuthFailed, k, base.In(east), "unknown")
	newer := useEvent(audit.ActionKeyAuthFailed, k, base.Add(time.Hour).In(west), "unknown")
	appendUsage(t, as, older, newer)

	got := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}}, 1)
	if want := []string{newer.ID, older.ID}; !slices.Equal(eventIDs(got), want) {
		t.Fatalf("order %v, want %v", eventIDs(got), want)
	}
	checkEvent(t, "newer", got[0], newer)
	checkEvent(t, "older", got[1], older)

	since := base.Add(30 * time.Minute).In(east)
	got = allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}, Since: &since}, 10)
	if want := []string{newer.ID}; !slices.Equal(eventIDs(got), want) {
		t.Errorf("since a non-UTC time: %v, want %v", eventIDs(got), want)
	}
}

func testAppendEmpty(t *testing.T, _ ports.KeyStore, as ports.AuditStore) {
	if err := as.AppendUsage(context.Background(), nil); err != nil {
		t.Errorf("AppendUsage(nil): %v", err)
	}
	if err := as.AppendUsage(context.Background(), []audit.Event{}); err != nil {
		t.Errorf("AppendUsage(empty): %v", err)
	}
}

// testAppendLongText stores request text no column was sized for: a long
// multi-byte user agent and path, and bytes that are not UTF-8. Usage
// must never be lost because a client sent odd headers.
func testAppendLongText(t *testing.T, _ ports.KeyStore, as ports.AuditStore) {
	org := newOrgID()
	k := newKey(org, at(0))
	long := useEvent(audit.ActionKeyAuthFailed, k, at(time.Second), "unknown")
	long.UserAgent = strings.Repeat("Mozilla/5.0 (日本語; ✓) ", 60) // 1260 runes
	long.Path = "/v1/" + strings.Repeat("é", 3000)
	bad := useEvent(audit.ActionKeyAuthFailed, k, at(2*time.Second), "malformed")
	bad.UserAgent = "curl\xff\xfe/8.0\x00"
	bad.RequestID = "req\x80"
	appendUsage(t, as, long, bad)

	got := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}}, 10)
	if len(got) != 2 {
		t.Fatalf("events = %d, want 2", len(got))
	}
	ua := got[1].UserAgent
	if !utf8.ValidString(ua) || !strings.HasPrefix(long.UserAgent, ua) || utf8.RuneCountInString(ua) < 512 {
		t.Errorf("long user agent stored as %d runes (valid UTF-8 %v), want a prefix of at least 512 runes",
			utf8.RuneCountInString(ua), utf8.ValidString(ua))
	}
	if p := got[1].Path; !strings.HasPrefix(long.Path, p) || utf8.RuneCountInString(p) < 2048 {
		t.Errorf("long path stored as %d runes, want a prefix of at least 2048", utf8.RuneCountInString(p))
	}
	if got[0].ID != bad.ID || got[0].UserAgent == "" {
		t.Errorf("event with invalid UTF-8: %+v", got[0])
	}
	if !utf8.ValidString(got[0].UserAgent) || !utf8.ValidString(got[0].RequestID) {
		t.Errorf("text with invalid UTF-8 came back as %q and %q, want valid UTF-8", got[0].UserAgent, got[0].RequestID)
	}
}

func lastUsed(t *testing.T, ks ports.KeyStore, k apikey.Key) *time.Time {
	t.Helper()
	return getKey(t, ks, k.ID).LastUsedAt
}

func wantLastUsed(t *testing.T, ks ports.KeyStore, k apikey.Key, want *time.Time) {
	t.Helper()
	if d := diffTimePtr("LastUsedAt", lastUsed(t, ks, k), want); len(d) > 0 {
		t.Errorf("key %s: %s", k.ID, strings.Join(d, "; "))
	}
}

func testLastUsedForward(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	before := getKey(t, ks, k.ID)

	t1, t2, t3 := at(time.Hour), at(2*time.Hour+456*time.Nanosecond), at(3*time.Hour)
	appendUsage(t, as,
		useEvent(audit.ActionKeyUsed, k, t1, "ok"),
		useEvent(audit.ActionKeyUsed, k, t3, "ok"),
		useEvent(audit.ActionKeyUsed, k, t2, "ok"),
	)
	wantLastUsed(t, ks, k, &t3)

	appendUsage(t, as, useEvent(audit.ActionKeyUsed, k, t2, "ok")) // older batch
	wantLastUsed(t, ks, k, &t3)

	t4 := at(4*time.Hour + 999*time.Nanosecond)
	appendUsage(t, as, useEvent(audit.ActionKeyUsed, k, t4, "ok"))
	wantLastUsed(t, ks, k, &t4)

	after := getKey(t, ks, k.ID)
	after.LastUsedAt = before.LastUsedAt
	checkKey(t, "key apart from LastUsedAt (usage must not bump version or updated_at)", after, before)
	changes, err := ks.InvalidatedSince(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.KeyID == k.ID {
			t.Errorf("usage marked key %s invalidated at %v", k.ID, c.At)
		}
	}
	wantEvents(t, as, k, audit.ActionKeyUsed, 5)
}

func testFailuresKeepLastUsed(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	appendUsage(t, as,
		useEvent(audit.ActionKeyAuthFailed, k, at(time.Hour), "revoked"),
		useEvent(audit.ActionKeyAuthFailed, k, at(2*time.Hour), "expired"),
		useEvent(audit.ActionKeyUsed, k, at(3*time.Hour), "scope_denied"),
	)
	wantLastUsed(t, ks, k, nil)

	t4 := at(4 * time.Hour)
	appendUsage(t, as,
		useEvent(audit.ActionKeyUsed, k, t4, "ok"),
		useEvent(audit.ActionKeyAuthFailed, k, at(5*time.Hour), "checksum"),
		useEvent(audit.ActionKeyUsed, k, at(6*time.Hour), "scope_denied"),
	)
	wantLastUsed(t, ks, k, &t4)
	if evs := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{k.OrganizationID}, KeyID: k.ID}, 100); len(evs) != 7 {
		t.Errorf("events = %d, want 7 (6 usage events and key.created)", len(evs))
	}
}

func testLastUsedSeveralKeys(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	org := newOrgID()
	a, b, c := newKey(org, at(0)), newKey(org, at(time.Second)), newKey(org, at(2*time.Second))
	for _, k := range []apikey.Key{a, b, c} {
		create(t, ks, k)
	}
	ta, tb := at(5*time.Hour), at(7*time.Hour)
	appendUsage(t, as,
		useEvent(audit.ActionKeyUsed, a, at(time.Hour), "ok"),
		useEvent(audit.ActionKeyUsed, b, tb, "ok"),
		useEvent(audit.ActionKeyUsed, a, ta, "ok"),
		useEvent(audit.ActionKeyUsed, b, at(3*time.Hour), "ok"),
		useEvent(audit.ActionKeyAuthFailed, c, at(9*time.Hour), "revoked"),
		useEvent(audit.ActionKeyUsed, apikey.Key{ID: newKeyID(), OrganizationID: org}, at(time.Hour), "ok"), // no such key
	)
	wantLastUsed(t, ks, a, &ta)
	wantLastUsed(t, ks, b, &tb)
	wantLastUsed(t, ks, c, nil)
}

// testAppendAtomic sends a batch whose last event cannot be stored (its id
// is taken) and checks that no event of it was.
// testAppendIdempotent appends a batch twice, as the audit queue does when
// a write committed but its answer was lost: each event is stored once.
func testAppendIdempotent(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	k := newKey(newOrgID(), at(0))
	created := create(t, ks, k)
	batch := []audit.Event{
		useEvent(audit.ActionKeyUsed, k, at(time.Hour), "ok"),
		useEvent(audit.ActionKeyUsed, k, at(2*time.Hour), "ok"),
	}
	appendUsage(t, as, batch...)
	retry := append(slices.Clone(batch), useEvent(audit.ActionKeyUsed, k, at(3*time.Hour), "ok"))
	appendUsage(t, as, retry...)
	evs := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{k.OrganizationID}}, 10)
	want := []string{retry[2].ID, batch[1].ID, batch[0].ID, created.ID}
	if got := eventIDs(evs); !slices.Equal(got, want) {
		t.Fatalf("events after a retried batch: %v, want %v", got, want)
	}
	last := at(3 * time.Hour)
	wantLastUsed(t, ks, k, &last)
}

func testConcurrentAppend(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	org := newOrgID()
	keys := []apikey.Key{newKey(org, at(0)), newKey(org, at(time.Second)), newKey(org, at(2*time.Second))}
	for _, k := range keys {
		create(t, ks, k)
	}
	const workers, batches, size = 8, 6, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches)
	start := make(chan struct{})
	newest := make(map[string]time.Time)
	var all [][]audit.Event
	for w := range workers {
		for b := range batches {
			batch := make([]audit.Event, size)
			for i := range batch {
				k := keys[(w+b+i)%len(keys)]
				when := at(time.Duration((w*batches+b)*size+i) * time.Millisecond)
				// Spread times so that batches overlap and arrive out of order.
				when = when.Add(time.Duration((i*7919+w*104729)%100000) * time.Microsecond)
				batch[i] = useEvent(audit.ActionKeyUsed, k, when, "ok")
				if when.After(newest[k.ID]) {
					newest[k.ID] = when
				}
			}
			all = append(all, batch)
		}
	}
	for w := range workers {
		wg.Go(func() {
			<-start
			for b := range batches {
				if err := as.AppendUsage(context.Background(), all[w*batches+b]); err != nil {
					errs <- err
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent AppendUsage: %v", err)
	}
	got := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}, Action: audit.ActionKeyUsed}, 500)
	if len(got) != workers*batches*size {
		t.Errorf("key.used events = %d, want %d", len(got), workers*batches*size)
	}
	seen := make(map[string]bool, len(got))
	for _, ev := range got {
		if seen[ev.ID] {
			t.Fatalf("event %s listed twice", ev.ID)
		}
		seen[ev.ID] = true
	}
	for _, k := range keys {
		want := newest[k.ID]
		wantLastUsed(t, ks, k, &want)
	}
}

// seedEvents stores a mix of events over three organizations and returns
// them with the organizations.
func seedEvents(t *testing.T, as ports.AuditStore) ([]audit.Event, [3]string) {
	orgs := [3]string{newOrgID(), newOrgID(), newOrgID()}
	var keys []apikey.Key
	for i := range 6 {
		keys = append(keys, newKey(orgs[i%3], at(0)))
	}
	actions := []audit.Action{audit.ActionKeyCreated, audit.ActionKeyUsed, audit.ActionKeyAuthFailed, audit.ActionKeyRotated, audit.ActionKeyRevoked}
	// Management events have any of these actors, among them keys[0]
	// acting on other keys; a usage event's actor is always its key's.
	actors := []string{"user:alice", "user:bob", "key:" + keys[0].ID}
	var evs []audit.Event
	for i := range 60 {
		k := keys[i%len(keys)]
		ev := useEvent(actions[i%len(actions)], k, at(time.Duration(i/2)*time.Minute), "ok") // pairs share a time
		if !ev.Action.Usage() {
			ev.Actor = actors[(i/5)%len(actors)]
		}
		evs = append(evs, ev)
	}
	// Failed verifications that named no key.
	for i := range 4 {
		evs = append(evs, audit.Event{ID: newEventID(), Time: at(time.Duration(5*i) * time.Minute), OrganizationID: orgs[i%2],
			Actor: audit.AnonymousActor, Action: audit.ActionKeyAuthFailed, Outcome: "unknown", Status: 401})
	}
	appendUsage(t, as, evs...)
	return evs, orgs
}

func testListEventFilters(t *testing.T, _ ports.KeyStore, as ports.AuditStore) {
	evs, orgs := seedEvents(t, as)
	keyID := evs[1].KeyID
	keyActor := audit.UsageActor(evs[0].KeyID) // keys[0]: it uses itself and manages others
	since, until := at(10*time.Minute), at(20*time.Minute)
	cases := []struct {
		name string
		q    ports.AuditQuery
		keep func(audit.Event) bool
	}{
		{"one organization", ports.AuditQuery{OrganizationIDs: orgs[:1]},
			func(ev audit.Event) bool { return ev.OrganizationID == orgs[0] }},
		{"two organizations", ports.AuditQuery{OrganizationIDs: orgs[1:]},
			func(ev audit.Event) bool { return ev.OrganizationID != orgs[0] }},
		{"unknown organization", ports.AuditQuery{OrganizationIDs: []string{newOrgID()}},
			func(audit.Event) bool { return false }},
		{"key", ports.AuditQuery{OrganizationIDs: orgs[:], KeyID: keyID},
			func(ev audit.Event) bool { return ev.KeyID == keyID }},
		{"key of another organization", ports.AuditQuery{OrganizationIDs: orgs[2:], KeyID: keyID},
			func(audit.Event) bool { return false }},
		{"action", ports.AuditQuery{OrganizationIDs: orgs[:], Action: audit.ActionKeyRotated},
			func(ev audit.Event) bool { return ev.Action == audit.ActionKeyRotated }},
		{"actor", ports.AuditQuery{OrganizationIDs: orgs[:], Actor: "user:bob"},
			func(ev audit.Event) bool { return ev.Actor == "user:bob" }},
		// A key's own uses and its management calls on other keys.
		{"key actor", ports.AuditQuery{OrganizationIDs: orgs[:], Actor: keyActor},
			func(ev audit.Event) bool { return ev.Actor == keyActor }},
		{"key actor, management action", ports.AuditQuery{OrganizationIDs: orgs[:], Actor: keyActor, Action: audit.ActionKeyCreated},
			func(ev audit.Event) bool { return ev.Actor == keyActor && ev.Action == audit.ActionKeyCreated }},
		{"key actor, usage action", ports.AuditQuery{OrganizationIDs: orgs[:], Actor: keyActor, Action: audit.ActionKeyUsed},
			func(ev audit.Event) bool { return ev.Actor == keyActor && ev.Action == audit.ActionKeyUsed }},
		{"key actor, several actions", ports.AuditQuery{OrganizationIDs: orgs[:], Actor: keyActor, Actions: []audit.Action{audit.ActionKeyAuthFailed, audit.ActionKeyRevoked}},
			func(ev audit.Event) bool {
				return ev.Actor == keyActor && (ev.Action == audit.ActionKeyAuthFailed || ev.Action == audit.ActionKeyRevoked)
			}},
		{"key actor on another key", ports.AuditQuery{OrganizationIDs: orgs[:], Actor: keyActor, KeyID: keyID},
			func(ev audit.Event) bool { return ev.Actor == keyActor && ev.KeyID == keyID }},
		{"anonymous", ports.AuditQuery{OrganizationIDs: orgs[:], Actor: audit.AnonymousActor},
			func(ev audit.Event) bool { return ev.Actor == audit.AnonymousActor }},
		{"user actor, usage action", ports.AuditQuery{OrganizationIDs: orgs[:], Actor: "user:alice", Action: audit.ActionKeyUsed},
			func(audit.Event) bool { return false }},
		{"since (inclusive)", ports.AuditQuery{OrganizationIDs: orgs[:], Since: &since},
			func(ev audit.Event) bool { return !ev.Time.Before(since) }},
		{"until (exclusive)", ports.AuditQuery{OrganizationIDs: orgs[:], Until: &until},
			func(ev audit.Event) bool { return ev.Time.Before(until) }},
		{"window", ports.AuditQuery{OrganizationIDs: orgs[:], Since: &since, Until: &until},
			func(ev audit.Event) bool { return !ev.Time.Before(since) && ev.Time.Before(until) }},
		{"everything at once", ports.AuditQuery{OrganizationIDs: orgs[:2], Action: audit.ActionKeyUsed, Actor: keyActor, Since: &since},
			func(ev audit.Event) bool {
				return ev.OrganizationID != orgs[2] && ev.Action == audit.ActionKeyUsed && ev.Actor == keyActor && !ev.Time.Before(since)
			}},
	}
	for _, tc := range cases {
		var want []audit.Event
		for _, ev := range evs {
			if tc.keep(ev) {
				want = append(want, ev)
			}
		}
		newestFirst(want)
		got := allEvents(t, as, tc.q, 4)
		if !slices.Equal(eventIDs(got), eventIDs(want)) {
			t.Errorf("%s: got %d events %v, want %d %v", tc.name, len(got), eventIDs(got), len(want), eventIDs(want))
		}
		if !strings.HasPrefix(tc.name, "unknown organization") && tc.name != "key of another organization" && tc.name != "user actor, usage action" && len(want) == 0 {
			t.Errorf("%s: the fixture selects no event; the case checks nothing", tc.name)
		}
	}
}

func testListEventPages(t *testing.T, _ ports.KeyStore, as ports.AuditStore) {
	org := newOrgID()
	k := newKey(org, at(0))
	var evs []audit.Event
	// Seven events share one time and ids that sort in no particular
	// insertion order; the others surround them.
	for i, suffix := range []string{"m", "C", "z", "a", "Q", "b", "y"} {
		ev := useEvent(audit.ActionKeyUsed, k, at(time.Hour), "ok")
		ev.ID = fmt.Sprintf("evt_%s%02d", suffix, i)
		evs = append(evs, ev)
	}
	for i := range 5 {
		evs = append(evs, useEvent(audit.ActionKeyUsed, k, at(time.Duration(i*50)*time.Minute), "ok"))
	}
	appendUsage(t, as, evs...)
	newestFirst(evs)
	for _, limit := range []int{1, 2, 3, 5, 12, 100} {
		got := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}}, limit)
		if !slices.Equal(eventIDs(got), eventIDs(evs)) {
			t.Errorf("limit %d: %v, want %v", limit, eventIDs(got), eventIDs(evs))
		}
	}
	p, err := as.ListEvents(context.Background(), ports.AuditQuery{OrganizationIDs: []string{org}, Limit: 12})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 12 || p.Next != nil {
		t.Errorf("limit equal to the count: %d events, next %v; want 12 and no cursor", len(p.Events), p.Next)
	}
	p, err = as.ListEvents(context.Background(), ports.AuditQuery{OrganizationIDs: []string{org}, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if p.Next == nil || p.Next.ID != p.Events[4].ID || !p.Next.Time.Equal(p.Events[4].Time) {
		t.Errorf("Next = %+v, want the position of the last event on the page", p.Next)
	}
}

func testListEventsNoOrgs(t *testing.T, _ ports.KeyStore, as ports.AuditStore) {
	seedEvents(t, as)
	p, err := as.ListEvents(context.Background(), ports.AuditQuery{Limit: 100})
	if err == nil && len(p.Events) != 0 {
		t.Errorf("no organizations: %d events listed, want none", len(p.Events))
	}
	if err == nil && p.Events == nil {
		t.Error("no organizations: Events is nil, want a non-nil slice")
	}
}
