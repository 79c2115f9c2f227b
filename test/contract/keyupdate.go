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

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// updateEvent returns the key.updated event of k at t.
func updateEvent(k apikey.Key, t time.Time) audit.Event {
	ev := keyEvent(audit.ActionKeyUpdated, k, t)
	ev.Method, ev.Status = "PATCH", 200
	ev.Details = map[string]any{"changes": map[string]any{"name": map[string]any{"before": "old", "after": "new"}}}
	return ev
}

// renameTo is a change that renames the key to name at t.
func renameTo(name string, t time.Time) ports.KeyChanger {
	return func(cur apikey.Key) (apikey.Key, audit.Event, error) {
		next := cur
		next.Name = name
		return next, updateEvent(cur, t), nil
	}
}

func testUpdateSuccess(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	k.LastUsedAt = ptr(at(time.Minute))
	k.ExpiresAt = ptr(at(24 * time.Hour))
	create(t, ks, k)

	when := at(time.Hour + 321*time.Nanosecond)
	var ev audit.Event
	var seen apikey.Key
	got, err := ks.UpdateKey(ctx, k.ID, func(cur apikey.Key) (apikey.Key, audit.Event, error) {
		seen = cur
		next := cur
		next.Name = "Renamed ☃"
		next.Scopes = apikey.Scopes{apikey.ScopeEventsRead}
		next.ExpiresAt = nil
		next.RateLimit = apikey.RateLimit{Limit: 10, Window: apikey.WindowSecond}
		next.Metadata = apikey.Metadata(`{"customer":"cus_1"}`)
		next.IPAllowlist = allowlist(t, "10.0.0.0/8", "::1")
		// What UpdateKey does not store: the secret, the history, the
		// organization and environment.
		next.Hash, next.Lookup, next.Hint = "tampered", newLookup(), "tampered"
		next.OrganizationID, next.Environment, next.Version = "org_other", apikey.EnvLive, 99
		next.LastUsedAt, next.CreatedAt, next.CreatedBy = nil, at(time.Hour), "user:mallory"
		ev = updateEvent(cur, when)
		return next, ev, nil
	})
	if err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	checkKey(t, "key handed to change", seen, k)
	want := k
	want.Name = "Renamed ☃"
	want.Scopes = apikey.Scopes{apikey.ScopeEventsRead}
	want.ExpiresAt = nil
	want.RateLimit = apikey.RateLimit{Limit: 10, Window: apikey.WindowSecond}
	want.Metadata = apikey.Metadata(`{"customer":"cus_1"}`)
	want.IPAllowlist = allowlist(t, "10.0.0.0/8", "::1")
	want.UpdatedAt = when
	checkKey(t, "returned key", got, want)
	checkKey(t, "stored key", getKey(t, ks, k.ID), want)
	byLookup, err := ks.FindByLookup(ctx, k.Lookup)
	if err != nil {
		t.Fatalf("FindByLookup after the update: %v", err)
	}
	checkKey(t, "key by its lookup", byLookup, want)
	wantOneEvent(t, as, k, audit.ActionKeyUpdated, ev)

	// Other instances learn of the update like of a rotation.
	changes, err := ks.InvalidatedSince(ctx, when)
	if err != nil {
		t.Fatalf("InvalidatedSince: %v", err)
	}
	if len(changes) != 1 || changes[0].KeyID != k.ID || !changes[0].At.Equal(norm(when)) {
		t.Errorf("InvalidatedSince(update time) = %v, want the update of %s at %s", changes, k.ID, norm(when))
	}

	// Setting an expiry and clearing the rate limit round-trip too.
	exp := at(48 * time.Hour)
	got, err = ks.UpdateKey(ctx, k.ID, func(cur apikey.Key) (apikey.Key, audit.Event, error) {
		next := cur
		next.ExpiresAt, next.RateLimit = ptr(exp), apikey.RateLimit{}
		next.Metadata, next.IPAllowlist = "", nil
		return next, updateEvent(cur, at(2*time.Hour)), nil
	})
	if err != nil {
		t.Fatalf("second UpdateKey: %v", err)
	}
	want.ExpiresAt, want.RateLimit, want.UpdatedAt = ptr(exp), apikey.RateLimit{}, at(2*time.Hour)
	want.Metadata, want.IPAllowlist = "", nil
	checkKey(t, "key after the second update", getKey(t, ks, k.ID), want)
	checkKey(t, "returned by the second update", got, want)
}

func testUpdateRevoked(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	revoked, err := ks.RevokeKey(ctx, k.ID, at(time.Minute), keyEvent(audit.ActionKeyRevoked, k, at(time.Minute)))
	if err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	called := false
	_, err = ks.UpdateKey(ctx, k.ID, func(cur apikey.Key) (apikey.Key, audit.Event, error) {
		called = true
		return renameTo("x", at(time.Hour))(cur)
	})
	wantErr(t, "UpdateKey of a revoked key", err, apikey.ErrRevoked)
	if called {
		t.Error("UpdateKey handed a revoked key to change")
	}
	checkKey(t, "revoked key after the update attempt", getKey(t, ks, k.ID), revoked)
	wantEvents(t, as, k, audit.ActionKeyUpdated, 0)
}

func testUpdateMissing(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	k := newKey(newOrgID(), at(0))
	_, err := ks.UpdateKey(context.Background(), k.ID, renameTo("x", at(time.Hour)))
	wantErr(t, "UpdateKey of a missing key", err, apikey.ErrNotFound)
	wantEvents(t, as, k, "", 0)
}

// errRefused is the error a change returns in testUpdateRefused.
var errRefused = errors.New("refused by the change")

func testUpdateRefused(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	_, err := ks.UpdateKey(context.Background(), k.ID, func(cur apikey.Key) (apikey.Key, audit.Event, error) {
		next := cur
		next.Name = "never stored"
		return next, updateEvent(cur, at(time.Hour)), fmt.Errorf("wrapped: %w", errRefused)
	})
	if !errors.Is(err, errRefused) {
		t.Errorf("UpdateKey with a refusing change: %v, want its error", err)
	}
	checkKey(t, "key after a refused change", getKey(t, ks, k.ID), k)
	wantEvents(t, as, k, audit.ActionKeyUpdated, 0)
}

func testUpdateEventRollback(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	k := newKey(newOrgID(), at(0))
	created := create(t, ks, k)
	_, err := ks.UpdateKey(context.Background(), k.ID, func(cur apikey.Key) (apikey.Key, audit.Event, error) {
		next := cur
		next.Name = "never stored"
		ev := updateEvent(cur, at(time.Hour))
		ev.ID = created.ID // taken: the event cannot be stored
		return next, ev, nil
	})
	wantErr(t, "UpdateKey whose event id is taken", err, apikey.ErrConflict)
	checkKey(t, "key after the failed update", getKey(t, ks, k.ID), k)
	wantEvents(t, as, k, audit.ActionKeyUpdated, 0)
}

// testConcurrentUpdates runs updates that each append a mark to the name
// of the key as they find it: every mark must be in the final name, none
// lost to an update that read the key before another one committed.
func testConcurrentUpdates(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	k.Name = "k"
	create(t, ks, k)
	const n = 8
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = ks.UpdateKey(ctx, k.ID, func(cur apikey.Key) (apikey.Key, audit.Event, error) {
				next := cur
				next.Name = fmt.Sprintf("%s+%d", cur.Name, i)
				return next, updateEvent(cur, at(time.Hour+time.Duration(i)*time.Second)), nil
			})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("update %d: %v", i, err)
		}
	}
	name := getKey(t, ks, k.ID).Name
	for i := range n {
		if !strings.Contains(name+"+", fmt.Sprintf("+%d+", i)) {
			t.Errorf("final name %q lacks update %d's mark: an update was lost", name, i)
		}
	}
	wantEvents(t, as, k, audit.ActionKeyUpdated, n)
}

// testUpdateConcurrentRotate races an update against a rotation: both
// succeed, in one order or the other, and the key keeps both changes.
func testUpdateConcurrentRotate(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	for round := range 4 {
		k := newKey(newOrgID(), at(0))
		create(t, ks, k)
		r := rotation(k, 1, at(time.Hour))
		var uerr, rerr error
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { <-start; _, uerr = ks.UpdateKey(ctx, k.ID, renameTo("renamed", at(time.Hour))) })
		wg.Go(func() { <-start; _, rerr = ks.RotateKey(ctx, r, keyEvent(audit.ActionKeyRotated, k, r.At)) })
		close(start)
		wg.Wait()
		if uerr != nil || rerr != nil {
			t.Fatalf("round %d: update %v, rotation %v; want both to succeed", round, uerr, rerr)
		}
		got := getKey(t, ks, k.ID)
		if got.Name != "renamed" || got.Lookup != r.Lookup || got.Hash != r.Hash || got.Version != 2 {
			t.Errorf("round %d: key %q, lookup %s, version %d; want the new name, the rotation's lookup and version 2", round, got.Name, got.Lookup, got.Version)
		}
		wantEvents(t, as, k, audit.ActionKeyUpdated, 1)
		wantEvents(t, as, k, audit.ActionKeyRotated, 1)
	}
}

// testUpdateConcurrentRevoke races an update against a revocation:
// exactly one order happens. Either the update commits first (the revoked
// key keeps the new name, both events are stored) or the revocation does
// (the update is ErrRevoked, changes nothing and records nothing).
func testUpdateConcurrentRevoke(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	for round := range 4 {
		k := newKey(newOrgID(), at(0))
		create(t, ks, k)
		var uerr, rerr error
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { <-start; _, uerr = ks.UpdateKey(ctx, k.ID, renameTo("renamed", at(time.Hour))) })
		wg.Go(func() {
			<-start
			_, rerr = ks.RevokeKey(ctx, k.ID, at(time.Hour), keyEvent(audit.ActionKeyRevoked, k, at(time.Hour)))
		})
		close(start)
		wg.Wait()
		if rerr != nil {
			t.Fatalf("round %d: revocation: %v", round, rerr)
		}
		got := getKey(t, ks, k.ID)
		if got.RevokedAt == nil {
			t.Fatalf("round %d: key not revoked", round)
		}
		switch {
		case uerr == nil:
			if got.Name != "renamed" {
				t.Errorf("round %d: the update succeeded but the name is %q: lost", round, got.Name)
			}
			wantEvents(t, as, k, audit.ActionKeyUpdated, 1)
		case errors.Is(uerr, apikey.ErrRevoked):
			if got.Name != k.Name {
				t.Errorf("round %d: the update was refused but the name is %q", round, got.Name)
			}
			wantEvents(t, as, k, audit.ActionKeyUpdated, 0)
		default:
			t.Errorf("round %d: update: %v, want success or ErrRevoked", round, uerr)
		}
		wantEvents(t, as, k, audit.ActionKeyRevoked, 1)
	}
}

// allowlist parses entries, failing t on an error.
func allowlist(t *testing.T, entries ...string) apikey.IPAllowlist {
	t.Helper()
	l, err := apikey.ParseIPAllowlist(entries)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testRotateGrace rotates with a grace period: the replaced secret becomes
// the key's previous one until then and still finds the key; a second
// rotation during the period makes the first new secret the previous one
// (the original is only retired); a rotation without a grace period drops
// the previous secret; revoking keeps every digest finding the key, revoked.
func testRotateGrace(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	create(t, ks, k)
	r1 := rotation(k, 1, at(time.Hour))
	r1.PreviousUntil = ptr(at(25 * time.Hour))
	got, err := ks.RotateKey(ctx, r1, keyEvent(audit.ActionKeyRotated, k, r1.At))
	if err != nil {
		t.Fatalf("RotateKey with a grace period: %v", err)
	}
	want := k
	want.Hash, want.Lookup, want.Hint = r1.Hash, r1.Lookup, r1.Hint
	want.PreviousHash, want.PreviousLookup, want.PreviousHint, want.PreviousExpiresAt = k.Hash, k.Lookup, k.Hint, ptr(at(25*time.Hour))
	want.RotatedAt, want.UpdatedAt, want.Version = ptr(r1.At), r1.At, 2
	checkKey(t, "rotated with grace", got, want)
	checkKey(t, "stored", getKey(t, ks, k.ID), want)
	byPrev, err := ks.FindByLookup(ctx, k.Lookup)
	if err != nil {
		t.Fatalf("FindByLookup(previous): %v", err)
	}
	checkKey(t, "key by its previous lookup", byPrev, want)

	// A second rotation during the grace period, with one of its own.
	r2 := rotation(k, 2, at(2*time.Hour))
	r2.PreviousUntil = ptr(at(3 * time.Hour))
	got, err = ks.RotateKey(ctx, r2, keyEvent(audit.ActionKeyRotated, k, r2.At))
	if err != nil {
		t.Fatalf("second RotateKey: %v", err)
	}
	if got.PreviousLookup != r1.Lookup || got.PreviousHash != r1.Hash || got.PreviousHint != r1.Hint || !got.PreviousExpiresAt.Equal(norm(at(3*time.Hour))) {
		t.Errorf("after the second rotation the previous secret is %s until %v, want the first rotation's until %v; %+v", got.PreviousLookup, got.PreviousExpiresAt, norm(at(3*time.Hour)), getKey(t, ks, k.ID))
	}
	for _, d := range []string{k.Lookup, r1.Lookup, r2.Lookup} {
		if byD, err := ks.FindByLookup(ctx, d); err != nil || byD.ID != k.ID || byD.Lookup != r2.Lookup {
			t.Errorf("FindByLookup(%s…) after two rotations: %s %v", d[:8], byD.ID, err)
		}
	}

	// A rotation without a grace period ends it.
	r3 := rotation(k, 3, at(4*time.Hour))
	got, err = ks.RotateKey(ctx, r3, keyEvent(audit.ActionKeyRotated, k, r3.At))
	if err != nil {
		t.Fatalf("third RotateKey: %v", err)
	}
	if got.PreviousLookup != "" || got.PreviousHash != "" || got.PreviousHint != "" || got.PreviousExpiresAt != nil {
		t.Errorf("a rotation without grace kept a previous secret: %s until %v", got.PreviousLookup, got.PreviousExpiresAt)
	}
	checkKey(t, "stored after the third rotation", getKey(t, ks, k.ID), got)

	// Revoked, every digest it ever had still finds it, revoked.
	if _, err := ks.RevokeKey(ctx, k.ID, at(5*time.Hour), keyEvent(audit.ActionKeyRevoked, k, at(5*time.Hour))); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{k.Lookup, r1.Lookup, r2.Lookup, r3.Lookup} {
		if byD, err := ks.FindByLookup(ctx, d); err != nil || byD.ID != k.ID || byD.RevokedAt == nil {
			t.Errorf("FindByLookup(%s…) of a revoked key: %v, want it, revoked", d[:8], err)
		}
	}
	wantEvents(t, as, k, audit.ActionKeyRotated, 3)
}

// testRetiredLookupsAreTheirKeys checks that retired digests find only
// their own key, and that a lookup retired by one key cannot become
// another's secret.
func testRetiredLookupsAreTheirKeys(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	ctx := context.Background()
	org := newOrgID()
	a, b := newKey(org, at(0)), newKey(org, at(time.Second))
	create(t, ks, a)
	create(t, ks, b)
	ra := rotation(a, 1, at(time.Hour))
	if _, err := ks.RotateKey(ctx, ra, keyEvent(audit.ActionKeyRotated, a, ra.At)); err != nil {
		t.Fatal(err)
	}
	if got, err := ks.FindByLookup(ctx, a.Lookup); err != nil || got.ID != a.ID {
		t.Errorf("a's retired lookup: %s %v", got.ID, err)
	}
	rb := rotation(b, 1, at(2*time.Hour))
	rb.Lookup = a.Lookup
	_, err := ks.RotateKey(ctx, rb, keyEvent(audit.ActionKeyRotated, b, rb.At))
	wantErr(t, "RotateKey to another key's retired lookup", err, apikey.ErrConflict)
	checkKey(t, "b after the refused rotation", getKey(t, ks, b.ID), b)
	if _, err := ks.FindByLookup(ctx, newLookup()); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("an unknown lookup: %v", err)
	}
}

// testListFilters lists keys by status, expiry ahead, disuse and last use.
func testListFilters(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	org := newOrgID()
	now := at(100 * time.Hour)
	mk := func(name string, created time.Duration, change func(k *apikey.Key)) apikey.Key {
		k := newKey(org, at(created))
		k.Name = name
		change(&k)
		create(t, ks, k)
		return k
	}
	plain := mk("plain", 0, func(*apikey.Key) {})
	soon := mk("soon", time.Second, func(k *apikey.Key) { k.ExpiresAt = ptr(now.Add(time.Hour)) })
	later := mk("later", 2*time.Second, func(k *apikey.Key) { k.ExpiresAt = ptr(now.Add(48 * time.Hour)) })
	expired := mk("expired", 3*time.Second, func(k *apikey.Key) { k.ExpiresAt = ptr(now.Add(-time.Hour)) })
	revoked := mk("revoked", 4*time.Second, func(k *apikey.Key) { k.RevokedAt = ptr(at(time.Hour)); k.ExpiresAt = ptr(now.Add(time.Hour)) })
	recent := mk("recent", 5*time.Second, func(k *apikey.Key) { k.LastUsedAt = ptr(now.Add(-time.Minute)) })
	stale := mk("stale", 6*time.Second, func(k *apikey.Key) { k.LastUsedAt = ptr(now.Add(-30 * 24 * time.Hour)) })
	base := ports.KeyQuery{OrganizationIDs: []string{org}, Now: now}
	names := func(q ports.KeyQuery) []string {
		t.Helper()
		var out []string
		for range 20 {
			p, err := ks.ListKeys(ctx, q)
			if err != nil {
				t.Fatalf("ListKeys: %v", err)
			}
			for _, k := range p.Keys {
				out = append(out, k.Name)
			}
			if p.Next == nil {
				if int(p.Total) != len(out) {
					t.Errorf("Total %d, %d keys listed", p.Total, len(out))
				}
				return out
			}
			q.After = p.Next
		}
		t.Fatal("pagination does not end")
		return nil
	}
	with := func(f func(q *ports.KeyQuery)) ports.KeyQuery {
		q := base
		f(&q)
		return q
	}
	// Keys never used tie on last use: they come last, by id, descending.
	neverUsed := func(keys ...apikey.Key) []string {
		slices.SortFunc(keys, func(a, b apikey.Key) int { return strings.Compare(b.ID, a.ID) })
		out := []string{"recent", "stale"}
		for _, k := range keys {
			out = append(out, k.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    ports.KeyQuery
		want []string
	}{
		{"default", base, []string{stale.Name, recent.Name, expired.Name, later.Name, soon.Name, plain.Name}},
		{"active", with(func(q *ports.KeyQuery) { q.Statuses = []apikey.Status{apikey.StatusActive} }), []string{"stale", "recent", "later", "soon", "plain"}},
		{"expired", with(func(q *ports.KeyQuery) { q.Statuses = []apikey.Status{apikey.StatusExpired} }), []string{"expired"}},
		{"revoked", with(func(q *ports.KeyQuery) { q.Statuses = []apikey.Status{apikey.StatusRevoked} }), []string{"revoked"}},
		{"expired,revoked", with(func(q *ports.KeyQuery) { q.Statuses = []apikey.Status{apikey.StatusExpired, apikey.StatusRevoked} }), []string{"revoked", "expired"}},
		{"expiring within 2h", with(func(q *ports.KeyQuery) { q.ExpiringBefore = ptr(now.Add(2 * time.Hour)) }), []string{"soon"}},
		{"expiring within 3d", with(func(q *ports.KeyQuery) { q.ExpiringBefore = ptr(now.Add(72 * time.Hour)) }), []string{"later", "soon"}},
		{"unused for 7d", with(func(q *ports.KeyQuery) { q.UnusedSince = ptr(now.Add(-7 * 24 * time.Hour)) }), []string{"stale", "expired", "later", "soon", "plain"}},
		{"by last use", with(func(q *ports.KeyQuery) { q.SortByLastUsed = true; q.Limit = 2 }), neverUsed(expired, later, soon, plain)},
		{"by last use, with revoked", with(func(q *ports.KeyQuery) { q.SortByLastUsed = true; q.IncludeRevoked = true; q.Limit = 1 }),
			neverUsed(revoked, expired, later, soon, plain)},
	} {
		if got := names(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
