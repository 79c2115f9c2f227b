package keys

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// TestCreateAndRotatePrimeTheCache: the instance that issues a secret
// knows it, so the first uses of a new or rotated key cost no store read
// and no Argon2id there.
func TestCreateAndRotatePrimeTheCache(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	v, err := f.verify(iss.Secret, "triggers:read", audit.Request{})
	if err != nil || v.Outcome != apikey.OutcomeOK || !v.CacheHit {
		t.Fatalf("first use of a created key: %+v, %v; want a cache hit", v, err)
	}
	rot, err := f.svc.Rotate(ctx, alice, iss.Key.ID, ports.RotateInput{})
	if err != nil {
		t.Fatal(err)
	}
	v, err = f.verify(rot.Secret, "", audit.Request{})
	if err != nil || v.Outcome != apikey.OutcomeOK || !v.CacheHit || v.Key.Version != rot.Key.Version {
		t.Fatalf("first use of the rotated secret: %+v, %v; want a cache hit of version %d", v, err, rot.Key.Version)
	}
	if n := f.hasher.verifies.Load(); n != 0 {
		t.Errorf("Argon2id ran %d times for secrets this instance issued", n)
	}
	if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeRotated || v.Key.KeyID != iss.Key.ID {
		t.Errorf("the old secret after rotation: %+v, %v", v, err)
	}
	// The poll sees this instance's own rotation and must not drop the
	// primed entry.
	if err := f.svc.SyncInvalidations(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := f.verify(rot.Secret, "", audit.Request{}); err != nil || !v.CacheHit {
		t.Errorf("after the poll: %+v, %v; want the primed entry kept", v, err)
	}
}

// TestProofCachesUnlessItsKeyChanged: a verification that read a key
// before the key was rotated or revoked does not cache it afterwards, but
// other keys' invalidations (another organization's rotations) do not
// stop it from caching.
func TestProofCachesUnlessItsKeyChanged(t *testing.T) {
	other := apikey.Principal{Subject: "bob", Organizations: []string{"org_other"}}
	for _, c := range []struct {
		name       string
		sameKey    bool
		wantCached bool
	}{{"another organization's key rotated", false, true}, {"the key itself revoked", true, false}} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			iss := f.createElsewhere(t, alice, "triggers:read")
			theirs, err := f.svc.Create(ctx, other, ports.CreateInput{Name: "theirs", Scopes: []string{"events:read"}})
			if err != nil {
				t.Fatal(err)
			}
			f.hasher.delay = 100 * time.Millisecond
			var wg sync.WaitGroup
			wg.Go(func() {
				if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeOK {
					t.Errorf("verification under way: %+v, %v", v, err)
				}
			})
			time.Sleep(30 * time.Millisecond) // the verification is in Argon2id now
			if c.sameKey {
				_, err = f.svc.Revoke(ctx, alice, iss.Key.ID, audit.Request{})
			} else {
				_, err = f.svc.Rotate(ctx, other, theirs.Key.ID, ports.RotateInput{})
			}
			if err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			f.hasher.delay = 0
			v, err := f.verify(iss.Secret, "", audit.Request{})
			if err != nil || v.CacheHit != c.wantCached {
				t.Fatalf("next verification: %+v, %v; want cache hit %v", v, err, c.wantCached)
			}
			if c.sameKey && v.Outcome != apikey.OutcomeRevoked {
				t.Errorf("outcome %s, want revoked", v.Outcome)
			}
		})
	}
}

// TestStaleCacheFailsClosed: an instance whose invalidation poll has not
// succeeded for longer than MaxStaleness answers no verification from its
// cache (a revocation elsewhere may be unseen) until a poll succeeds; with
// MaxStaleness 0 it serves from the cache whatever the staleness.
func TestStaleCacheFailsClosed(t *testing.T) {
	for _, maxStale := range []time.Duration{time.Second, 0} {
		t.Run(fmt.Sprint("max_staleness=", maxStale), func(t *testing.T) {
			f := newFixture(t)
			svc, err := New(f.deps(f.cache), Options{MaxStaleness: maxStale})
			if err != nil {
				t.Fatal(err)
			}
			f.svc = svc
			iss := f.create(t, alice, "triggers:read")
			if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeOK {
				t.Fatalf("fresh: %+v, %v", v, err)
			}
			f.store.setFailure(fmt.Errorf("poll: %w", apikey.ErrUnavailable))
			f.clock.Advance(900 * time.Millisecond)
			if err := f.svc.SyncInvalidations(ctx); err == nil {
				t.Fatal("the poll succeeded against a failing store")
			}
			if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeOK {
				t.Fatalf("within the staleness bound: %+v, %v", v, err)
			}
			f.clock.Advance(200 * time.Millisecond)
			_, err = f.verify(iss.Secret, "", audit.Request{})
			if maxStale > 0 && (!errors.Is(err, ErrStale) || !errors.Is(err, apikey.ErrUnavailable)) {
				t.Fatalf("past the bound: %v, want ErrStale (unavailable)", err)
			}
			if maxStale == 0 && err != nil {
				t.Fatalf("serve_stale: %v", err)
			}
			if s := f.svc.Staleness(); s < 1100*time.Millisecond {
				t.Errorf("Staleness = %s, want at least 1.1s", s)
			}
			f.store.setFailure(nil)
			if err := f.svc.SyncInvalidations(ctx); err != nil {
				t.Fatal(err)
			}
			if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeOK {
				t.Fatalf("after a successful poll: %+v, %v", v, err)
			}
		})
	}
}

// TestKeysManageOnlyWhatTheyHold: a manage key may create, rotate and
// revoke only keys whose scopes it holds, and a test key only test keys;
// a token's user may do all of it.
func TestKeysManageOnlyWhatTheyHold(t *testing.T) {
	f := newFixture(t)
	broad := f.create(t, alice, "triggers:read", "events:read", "api-keys:manage")
	narrowTest := apikey.Principal{KeyID: "key_narrow", Organizations: []string{"org_123"}, Environment: apikey.EnvTest,
		Scopes: apikey.Scopes{apikey.ScopeAPIKeysManage, apikey.ScopeTriggersRead}}
	var se *apikey.ScopeError
	if _, err := f.svc.Revoke(ctx, narrowTest, broad.Key.ID, audit.Request{}); !errors.As(err, &se) || se.Required[0] != apikey.ScopeEventsRead {
		t.Errorf("a narrower key revoked a broader one: %v", err)
	}
	if _, err := f.svc.Rotate(ctx, narrowTest, broad.Key.ID, ports.RotateInput{}); !errors.As(err, &se) {
		t.Errorf("a narrower key rotated a broader one: %v", err)
	}
	live, err := f.svc.Create(ctx, alice, ports.CreateInput{Name: "live", Scopes: []string{"triggers:read"}, Environment: "live"})
	if err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"create a live key": func() error {
			_, err := f.svc.Create(ctx, narrowTest, ports.CreateInput{Name: "x", Scopes: []string{"triggers:read"}, Environment: "live"})
			return err
		}(),
		"rotate a live key": func() error { _, err := f.svc.Rotate(ctx, narrowTest, live.Key.ID, ports.RotateInput{}); return err }(),
		"revoke a live key": func() error { _, err := f.svc.Revoke(ctx, narrowTest, live.Key.ID, audit.Request{}); return err }(),
	} {
		if field, code := fieldCode(err); field != "environment" || code != "forbidden_environment" || !errors.Is(err, apikey.ErrForbidden) {
			t.Errorf("a test key may %s: %v", what, err)
		}
	}
	if _, err := f.svc.Create(ctx, narrowTest, ports.CreateInput{Name: "ok", Scopes: []string{"triggers:read"}}); err != nil {
		t.Errorf("a test key creating a test key within its scopes: %v", err)
	}
	liveKey := narrowTest
	liveKey.Environment = apikey.EnvLive
	if _, err := f.svc.Rotate(ctx, liveKey, live.Key.ID, ports.RotateInput{}); err != nil {
		t.Errorf("a live key rotating a live key within its scopes: %v", err)
	}
	if _, err := f.svc.Revoke(ctx, alice, broad.Key.ID, audit.Request{}); err != nil {
		t.Errorf("a user revoking any key of its organization: %v", err)
	}
}

// TestRotateExpiredKeyIsRefused: a rotated expired key would be dead on
// arrival; extending the expiry is another operation.
func TestRotateExpiredKeyIsRefused(t *testing.T) {
	f := newFixture(t)
	exp := f.clock.Now().Add(time.Hour)
	iss, err := f.svc.Create(ctx, alice, ports.CreateInput{Name: "x", Scopes: []string{"events:read"}, ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := f.svc.Rotate(ctx, alice, iss.Key.ID, ports.RotateInput{}); !errors.Is(err, apikey.ErrExpired) {
		t.Fatalf("rotate of an expired key: %v, want ErrExpired", err)
	}
	if n := f.hasher.hashes.Load(); n != 1 {
		t.Errorf("Argon2id hashed %d times, want 1 (the creation only)", n)
	}
}

// TestStalenessBoundary: the cache answers up to exactly
// Options.MaxStaleness after the start of the last successful poll, and
// not a microsecond (the service's resolution) later; Staleness says how long ago that start was.
func TestStalenessBoundary(t *testing.T) {
	f := newFixture(t)
	svc, err := New(f.deps(f.cache), Options{MaxStaleness: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	iss := f.create(t, alice, "triggers:read")
	// The service keeps times at the stores' microsecond: start on one.
	if rem := f.clock.Now().Sub(f.clock.Now().Truncate(time.Microsecond)); rem > 0 {
		f.clock.Advance(time.Microsecond - rem)
	}
	if err := f.svc.SyncInvalidations(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	if got := f.svc.Staleness(); got != time.Second {
		t.Fatalf("Staleness = %s, want exactly 1s", got)
	}
	if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeOK {
		t.Fatalf("exactly at max_staleness: %+v, %v", v, err)
	}
	f.clock.Advance(time.Microsecond) // the service's resolution
	if _, err := f.verify(iss.Secret, "", audit.Request{}); !errors.Is(err, ErrStale) {
		t.Fatalf("a microsecond past max_staleness: %v, want ErrStale", err)
	}
}

// TestInvalidationTrackingIsBounded: past maxTracked keys the per-key
// bookkeeping is forgotten, and every proof that started before then
// refrains from caching (as if its key had changed); one key short of the
// bound, nothing is forgotten.
func TestInvalidationTrackingIsBounded(t *testing.T) {
	var iv invalidations
	iv.init(time.Unix(0, 0))
	ids := make([]string, maxTracked-1)
	for i := range ids {
		ids[i] = fmt.Sprintf("key_%d", i)
	}
	start := iv.seq.Load()
	iv.mark(ids...)
	iv.mark("key_last") // exactly maxTracked tracked: still within the bound
	if iv.floor != 0 || len(iv.last) != maxTracked {
		t.Fatalf("at the bound: floor %d, %d tracked", iv.floor, len(iv.last))
	}
	if !iv.unchangedSince("key_other", start) || iv.unchangedSince("key_last", start) {
		t.Fatal("within the bound, only the marked keys count as changed")
	}
	iv.mark("key_more") // one past the bound
	if iv.floor == 0 || len(iv.last) != 1 {
		t.Fatalf("past the bound: floor %d, %d tracked", iv.floor, len(iv.last))
	}
	if iv.unchangedSince("key_other", start) {
		t.Fatal("a proof that started before the bookkeeping was forgotten may cache")
	}
	if !iv.unchangedSince("key_other", iv.seq.Load()) {
		t.Fatal("a proof that starts after it may not")
	}
}

// TestAppliedChangesArePruned: what a poll applied is remembered for two
// overlaps and then forgotten, so the bookkeeping does not grow forever.
func TestAppliedChangesArePruned(t *testing.T) {
	f := newFixture(t)
	f.svc.noteOwnChange("key_old", f.clock.Now())
	f.clock.Advance(2*invalidationOverlap - time.Millisecond)
	if err := f.svc.SyncInvalidations(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.svc.inval.applied["key_old"]; !ok {
		t.Fatal("a change younger than two overlaps was forgotten")
	}
	f.clock.Advance(2 * time.Millisecond)
	if err := f.svc.SyncInvalidations(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.svc.inval.applied["key_old"]; ok {
		t.Fatal("a change older than two overlaps is still remembered")
	}
}
