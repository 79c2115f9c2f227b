package memstore_test

// The contract suites of test/contract check the store's behaviour as a
// port (TestKeyStore/memory, TestAuditStore/memory). These tests cover
// what the suites leave to each implementation.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/memstore"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

var t0 = time.Date(2025, time.March, 14, 15, 9, 26, 0, time.UTC)

func newKey(org string, i int) apikey.Key {
	at := t0.Add(time.Duration(i) * time.Second)
	return apikey.Key{
		ID:             fmt.Sprintf("key_%05d", i),
		OrganizationID: org,
		Name:           "key",
		Environment:    apikey.EnvTest,
		Scopes:         apikey.Scopes{apikey.ScopeTriggersRead},
		Lookup:         fmt.Sprintf("%064d", i),
		CreatedAt:      at,
		UpdatedAt:      at,
		Version:        1,
	}
}

func created(k apikey.Key) audit.Event {
	return audit.Event{
		ID: "evt_created_" + k.ID, Time: k.CreatedAt, OrganizationID: k.OrganizationID,
		Actor: "user:alice", Action: audit.ActionKeyCreated, KeyID: k.ID, Outcome: apikey.OutcomeOK,
	}
}

func used(k apikey.Key, n int, at time.Time) audit.Event {
	return audit.Event{
		ID: fmt.Sprintf("evt_used_%s_%d", k.ID, n), Time: at, OrganizationID: k.OrganizationID,
		Actor: audit.UsageActor(k.ID), Action: audit.ActionKeyUsed, KeyID: k.ID, Outcome: apikey.OutcomeOK,
	}
}

func mustCreate(t *testing.T, s *memstore.Store, k apikey.Key) {
	t.Helper()
	if err := s.CreateKey(context.Background(), k, created(k)); err != nil {
		t.Fatalf("CreateKey(%s): %v", k.ID, err)
	}
}

// TestKeyPageCap checks the cap on ListKeys' page size, which the contract
// checks on events only (a thousand keys cost a SQL store too long).
func TestKeyPageCap(t *testing.T) {
	s := memstore.New()
	for i := range memstore.MaxPageSize + 1 {
		mustCreate(t, s, newKey("org_a", i))
	}
	for _, limit := range []int{memstore.MaxPageSize, memstore.MaxPageSize + 1, math.MaxInt} {
		p, err := s.ListKeys(context.Background(), ports.KeyQuery{OrganizationIDs: []string{"org_a"}, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Keys) != memstore.MaxPageSize || p.Next == nil || p.Total != memstore.MaxPageSize+1 {
			t.Errorf("limit %d: %d keys, next %v, total %d; want %d, a cursor, %d",
				limit, len(p.Keys), p.Next, p.Total, memstore.MaxPageSize, memstore.MaxPageSize+1)
		}
	}
}

// TestContextErrors checks that an expired context reads as the store
// being unavailable, as on the SQL stores, and a canceled one does not.
func TestContextErrors(t *testing.T) {
	s := memstore.New()
	k := newKey("org_a", 1)
	mustCreate(t, s, k)
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()

	calls := map[string]func(context.Context) error{
		"GetKey":       func(ctx context.Context) error { _, err := s.GetKey(ctx, k.ID); return err },
		"FindByLookup": func(ctx context.Context) error { _, err := s.FindByLookup(ctx, k.Lookup); return err },
		"ListKeys": func(ctx context.Context) error {
			_, err := s.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{"org_a"}})
			return err
		},
		"RotateKey": func(ctx context.Context) error {
			r := ports.Rotation{KeyID: k.ID, ExpectVersion: 1, Lookup: "new", At: t0}
			_, err := s.RotateKey(ctx, r, audit.Event{ID: "evt_rot", Action: audit.ActionKeyRotated})
			return err
		},
		"RevokeKey": func(ctx context.Context) error {
			_, err := s.RevokeKey(ctx, k.ID, t0, audit.Event{ID: "evt_rev", Action: audit.ActionKeyRevoked})
			return err
		},
		"InvalidatedSince": func(ctx context.Context) error { _, err := s.InvalidatedSince(ctx, t0); return err },
		"AppendUsage":      func(ctx context.Context) error { return s.AppendUsage(ctx, []audit.Event{used(k, 1, t0)}) },
		"ListEvents": func(ctx context.Context) error {
			_, err := s.ListEvents(ctx, ports.AuditQuery{OrganizationIDs: []string{"org_a"}})
			return err
		},
	}
	for name, call := range calls {
		if err := call(expired); !errors.Is(err, apikey.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with an expired context: %v, want ErrUnavailable and DeadlineExceeded", name, err)
		}
		if err := call(canceled); !errors.Is(err, context.Canceled) || errors.Is(err, apikey.ErrUnavailable) {
			t.Errorf("%s with a canceled context: %v, want context.Canceled only", name, err)
		}
	}
	got, err := s.GetKey(context.Background(), k.ID)
	if err != nil || got.Version != 1 || got.LastUsedAt != nil {
		t.Errorf("key after the refused calls: %+v, %v; want it unchanged", got, err)
	}
	p, err := s.ListEvents(context.Background(), ports.AuditQuery{OrganizationIDs: []string{"org_a"}})
	if err != nil || len(p.Events) != 1 {
		t.Errorf("events after the refused calls: %d, %v; want only key.created", len(p.Events), err)
	}
}

// TestUnencodableDetails checks that details JSON cannot encode fail the
// write, which then stores nothing.
func TestUnencodableDetails(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	k := newKey("org_a", 1)
	ev := created(k)
	ev.Details = map[string]any{"ratio": math.Inf(1)}
	if err := s.CreateKey(ctx, k, ev); err == nil {
		t.Fatal("CreateKey with details JSON cannot encode succeeded")
	}
	if _, err := s.GetKey(ctx, k.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("key of the refused create: %v, want ErrNotFound", err)
	}

	mustCreate(t, s, k)
	bad := used(k, 2, t0.Add(time.Hour))
	bad.Details = map[string]any{"ch": make(chan int)}
	if err := s.AppendUsage(ctx, []audit.Event{used(k, 1, t0.Add(time.Hour)), bad}); err == nil {
		t.Fatal("AppendUsage with details JSON cannot encode succeeded")
	}
	p, err := s.ListEvents(ctx, ports.AuditQuery{OrganizationIDs: []string{"org_a"}})
	if err != nil || len(p.Events) != 1 {
		t.Errorf("events after the refused batch: %d, %v; want only key.created", len(p.Events), err)
	}
	if got, _ := s.GetKey(ctx, k.ID); got.LastUsedAt != nil {
		t.Errorf("LastUsedAt = %v after a refused batch, want nil", got.LastUsedAt)
	}
}

// TestConcurrentReadersAndWriters mixes every method on shared keys, for
// the race detector, then checks the totals.
func TestConcurrentReadersAndWriters(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	const keys, workers, rounds = 8, 8, 50
	for i := range keys {
		mustCreate(t, s, newKey("org_a", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*4)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				k := newKey("org_a", (w+r)%keys)
				at := t0.Add(time.Duration(w*rounds+r) * time.Millisecond)
				if err := s.AppendUsage(ctx, []audit.Event{used(k, w*rounds+r, at)}); err != nil {
					errs <- err
				}
				if got, err := s.GetKey(ctx, k.ID); err != nil {
					errs <- err
				} else {
					rot := ports.Rotation{KeyID: k.ID, ExpectVersion: got.Version, Lookup: fmt.Sprintf("lookup-%d-%d", w, r), At: at}
					ev := audit.Event{ID: fmt.Sprintf("evt_rot_%d_%d", w, r), Time: at, OrganizationID: "org_a",
						Actor: "user:alice", Action: audit.ActionKeyRotated, KeyID: k.ID}
					if _, err := s.RotateKey(ctx, rot, ev); err != nil && !errors.Is(err, apikey.ErrConflict) {
						errs <- err
					}
				}
				if _, err := s.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{"org_a"}, Limit: 3}); err != nil {
					errs <- err
				}
				if p, err := s.ListEvents(ctx, ports.AuditQuery{OrganizationIDs: []string{"org_a"}, Limit: 5}); err != nil {
					errs <- err
				} else {
					for _, ev := range p.Events {
						ev.Details = map[string]any{"scribbled": true} // must not race with anything
					}
				}
				if _, err := s.InvalidatedSince(ctx, t0); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	p, err := s.ListEvents(ctx, ports.AuditQuery{OrganizationIDs: []string{"org_a"}, Action: audit.ActionKeyUsed, Limit: memstore.MaxPageSize})
	if err != nil || len(p.Events) != workers*rounds {
		t.Errorf("key.used events = %d, %v; want %d", len(p.Events), err, workers*rounds)
	}
	rotated, err := s.ListEvents(ctx, ports.AuditQuery{OrganizationIDs: []string{"org_a"}, Action: audit.ActionKeyRotated, Limit: memstore.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var versions int64
	for i := range keys {
		k, err := s.GetKey(ctx, newKey("org_a", i).ID)
		if err != nil {
			t.Fatal(err)
		}
		versions += k.Version - 1
		if byLookup, err := s.FindByLookup(ctx, k.Lookup); err != nil || byLookup.ID != k.ID {
			t.Errorf("FindByLookup(%s) = %s, %v; want %s", k.Lookup, byLookup.ID, err, k.ID)
		}
	}
	if int64(len(rotated.Events)) != versions {
		t.Errorf("key.rotated events = %d, version bumps = %d; want them equal", len(rotated.Events), versions)
	}
}
