package contract

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// testKeyPageSize checks the default page size of ListKeys: a limit of
// zero or less means 100. (The cap of 1000 is checked on events, which
// are cheaper to store by the thousand.)
func testKeyPageSize(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	ctx := context.Background()
	org := newOrgID()
	for i := range 101 {
		create(t, ks, newKey(org, at(time.Duration(i)*time.Second)))
	}
	for _, limit := range []int{0, -1} {
		p, err := ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{org}, Limit: limit})
		if err != nil {
			t.Fatalf("ListKeys(limit %d): %v", limit, err)
		}
		if len(p.Keys) != 100 || p.Next == nil || p.Total != 101 {
			t.Fatalf("limit %d of 101 keys: %d keys, next %v, total %d; want 100, a cursor, 101", limit, len(p.Keys), p.Next, p.Total)
		}
		rest, err := ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{org}, Limit: limit, After: p.Next})
		if err != nil {
			t.Fatalf("ListKeys(limit %d, second page): %v", limit, err)
		}
		if len(rest.Keys) != 1 || rest.Next != nil {
			t.Errorf("limit %d, second page: %d keys, next %v; want 1 and no cursor", limit, len(rest.Keys), rest.Next)
		}
	}
}

// testEventPageSizes checks the default and the cap of ListEvents' page
// size: a limit of zero or less means 100, more than 1000 means 1000.
func testEventPageSizes(t *testing.T, _ ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	org := newOrgID()
	k := newKey(org, at(0))
	evs := make([]audit.Event, 1001)
	for i := range evs {
		evs[i] = useEvent(audit.ActionKeyAuthFailed, k, at(time.Duration(i)*time.Millisecond), "revoked")
	}
	appendUsage(t, as, evs...)
	for _, tc := range []struct{ limit, want int }{{0, 100}, {-1, 100}, {1000, 1000}, {1001, 1000}, {1 << 30, 1000}} {
		p, err := as.ListEvents(ctx, ports.AuditQuery{OrganizationIDs: []string{org}, Limit: tc.limit})
		if err != nil {
			t.Fatalf("ListEvents(limit %d): %v", tc.limit, err)
		}
		if len(p.Events) != tc.want || p.Next == nil {
			t.Errorf("limit %d of 1001 events: %d events, next %v; want %d and a cursor", tc.limit, len(p.Events), p.Next, tc.want)
		}
	}
}

// testUsageActorRule checks that AppendUsage refuses a batch holding a
// usage event whose actor is not audit.UsageActor of its key, and stores
// nothing of it: stores find usage events by actor through their key, and
// would miss such an event. A management event's actor may be anyone.
func testUsageActorRule(t *testing.T, _ ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	org := newOrgID()
	k, other := newKey(org, at(0)), newKey(org, at(0))
	for i, tc := range []struct {
		action     audit.Action
		actor, key string
	}{
		{audit.ActionKeyUsed, "key:" + other.ID, k.ID},
		{audit.ActionKeyUsed, "user:alice", k.ID},
		{audit.ActionKeyAuthFailed, audit.AnonymousActor, k.ID},
		{audit.ActionKeyAuthFailed, "key:", ""},
		{audit.ActionKeyAuthFailed, "key:" + k.ID, ""},
	} {
		good := useEvent(audit.ActionKeyUsed, k, at(time.Duration(i)*time.Second), "ok")
		bad := useEvent(tc.action, k, good.Time, "unknown")
		bad.Actor, bad.KeyID = tc.actor, tc.key
		if err := as.AppendUsage(ctx, []audit.Event{good, bad}); err == nil {
			t.Errorf("AppendUsage accepted a %s event by %q about key %q", tc.action, tc.actor, tc.key)
		}
	}
	if evs := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}}, 100); len(evs) != 0 {
		t.Fatalf("refused batches left %d events, want none: %v", len(evs), eventIDs(evs))
	}

	var ok []audit.Event
	for i, actor := range []string{"key:" + other.ID, "user:alice", "system:purge"} {
		ev := keyEvent(audit.ActionKeyRevoked, k, at(time.Duration(i)*time.Minute))
		ev.Actor = actor
		ok = append(ok, ev)
	}
	anon := useEvent(audit.ActionKeyAuthFailed, k, at(time.Hour), "unknown")
	anon.Actor, anon.KeyID = audit.AnonymousActor, ""
	ok = append(ok, anon, useEvent(audit.ActionKeyAuthFailed, k, at(2*time.Hour), "revoked"))
	appendUsage(t, as, ok...)
	if evs := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}}, 100); len(evs) != len(ok) {
		t.Errorf("events = %d, want %d", len(evs), len(ok))
	}
}

// testRotateEventRollback makes the rotation's event insert fail (its id
// is taken) and checks that the key was left as it was.
func testRotateEventRollback(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	created := create(t, ks, k)
	r := rotation(k, 1, at(time.Hour))
	ev := keyEvent(audit.ActionKeyRotated, k, r.At)
	ev.ID = created.ID
	if _, err := ks.RotateKey(ctx, r, ev); err == nil {
		t.Fatal("RotateKey with a taken event id succeeded")
	}
	checkKey(t, "key after the failed rotation", getKey(t, ks, k.ID), k)
	_, err := ks.FindByLookup(ctx, r.Lookup)
	wantErr(t, "FindByLookup(new lookup of the failed rotation)", err, apikey.ErrNotFound)
	if _, err := ks.FindByLookup(ctx, k.Lookup); err != nil {
		t.Errorf("FindByLookup(old lookup) after the failed rotation: %v", err)
	}
	if changes, err := ks.InvalidatedSince(ctx, base); err != nil || len(changes) != 0 {
		t.Errorf("InvalidatedSince after the failed rotation: %v, %v; want no change", changes, err)
	}
	evs := eventsOfKey(t, as, k, "")
	if len(evs) != 1 {
		t.Fatalf("events = %d, want only key.created", len(evs))
	}
	checkEvent(t, "surviving event", evs[0], created)
	if _, err := ks.RotateKey(ctx, r, keyEvent(audit.ActionKeyRotated, k, r.At)); err != nil {
		t.Errorf("RotateKey after the failed rotation: %v", err)
	}
}

// testRevokeEventRollback makes the revocation's event insert fail (its id
// is taken) and checks that the key was left as it was.
func testRevokeEventRollback(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	created := create(t, ks, k)
	ev := keyEvent(audit.ActionKeyRevoked, k, at(time.Hour))
	ev.ID = created.ID
	if _, err := ks.RevokeKey(ctx, k.ID, at(time.Hour), ev); err == nil {
		t.Fatal("RevokeKey with a taken event id succeeded")
	}
	checkKey(t, "key after the failed revocation", getKey(t, ks, k.ID), k)
	if changes, err := ks.InvalidatedSince(ctx, base); err != nil || len(changes) != 0 {
		t.Errorf("InvalidatedSince after the failed revocation: %v, %v; want no change", changes, err)
	}
	evs := eventsOfKey(t, as, k, "")
	if len(evs) != 1 {
		t.Fatalf("events = %d, want only key.created", len(evs))
	}
	checkEvent(t, "surviving event", evs[0], created)
	if _, err := ks.RevokeKey(ctx, k.ID, at(time.Hour), keyEvent(audit.ActionKeyRevoked, k, at(time.Hour))); err != nil {
		t.Errorf("RevokeKey after the failed revocation: %v", err)
	}
}

// testAppendRepeatedInBatch appends a batch that holds one event twice:
// it is stored once, and the batch is not refused.
func testAppendRepeatedInBatch(t *testing.T, _ ports.KeyStore, as ports.AuditStore) {
	org := newOrgID()
	k := newKey(org, at(0))
	a := useEvent(audit.ActionKeyAuthFailed, k, at(time.Second), "revoked")
	b := useEvent(audit.ActionKeyAuthFailed, k, at(2*time.Second), "revoked")
	appendUsage(t, as, a, b, a)
	evs := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}}, 10)
	if want := []string{b.ID, a.ID}; !slices.Equal(eventIDs(evs), want) {
		t.Errorf("events = %v, want %v", eventIDs(evs), want)
	}
}
