package contract

import (
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// cloneKey returns a copy of k that shares no memory with it.
func cloneKey(k apikey.Key) apikey.Key {
	k.Scopes = slices.Clone(k.Scopes)
	k.IPAllowlist = slices.Clone(k.IPAllowlist)
	for _, p := range []**time.Time{&k.ExpiresAt, &k.LastUsedAt, &k.RotatedAt, &k.RevokedAt} {
		if *p != nil {
			*p = ptr(**p)
		}
	}
	return k
}

// scribbleKey changes every part of k that could share memory with a
// store's copy: its scopes and the times its pointers point to.
func scribbleKey(k apikey.Key) {
	for i := range k.Scopes {
		k.Scopes[i] = "scribbled:" + k.Scopes[i]
	}
	for i := range k.IPAllowlist {
		k.IPAllowlist[i] = netip.MustParsePrefix("192.0.2.0/24")
	}
	for _, p := range []*time.Time{k.ExpiresAt, k.LastUsedAt, k.RotatedAt, k.RevokedAt} {
		if p != nil {
			*p = p.Add(1000 * time.Hour)
		}
	}
}

// cloneDetails returns a deep copy of details, as a JSON round trip
// returns it.
func cloneDetails(t *testing.T, details map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(details)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// scribbleDetails changes details in place, at every depth.
func scribbleDetails(details map[string]any) {
	for k, v := range details {
		switch v := v.(type) {
		case map[string]any:
			scribbleDetails(v)
		case []any:
			for i := range v {
				if m, ok := v[i].(map[string]any); ok {
					scribbleDetails(m)
				} else {
					v[i] = "scribbled"
				}
			}
		default:
			details[k] = "scribbled"
		}
	}
	details["added"] = "scribbled"
}

// testKeyCopies checks that a store keeps a copy of what it is given and
// hands out copies: changing a key or event after writing it, or a key or
// event read back, changes nothing stored. (A SQL store cannot fail it; an
// in-memory store can.)
func testKeyCopies(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	k.ExpiresAt = ptr(at(90 * 24 * time.Hour))
	k.LastUsedAt = ptr(at(time.Minute))
	k.IPAllowlist = allowlist(t, "203.0.113.0/24", "2001:db8::/32")
	want := cloneKey(k)
	ev := keyEvent(audit.ActionKeyCreated, k, k.CreatedAt)
	wantEv := ev
	wantEv.Details = cloneDetails(t, ev.Details)
	if err := ks.CreateKey(ctx, k, ev); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	scribbleKey(k)
	scribbleDetails(ev.Details)
	checkKey(t, "key after changing the key written", getKey(t, ks, want.ID), want)

	for _, read := range []func() apikey.Key{
		func() apikey.Key { return getKey(t, ks, want.ID) },
		func() apikey.Key {
			got, err := ks.FindByLookup(ctx, want.Lookup)
			if err != nil {
				t.Fatalf("FindByLookup: %v", err)
			}
			return got
		},
		func() apikey.Key {
			p, err := ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{want.OrganizationID}, Limit: 10})
			if err != nil || len(p.Keys) != 1 {
				t.Fatalf("ListKeys: %d keys, %v; want 1", len(p.Keys), err)
			}
			return p.Keys[0]
		},
	} {
		scribbleKey(read())
	}
	checkKey(t, "key after changing keys read back", getKey(t, ks, want.ID), want)

	evs := wantEvents(t, as, want, audit.ActionKeyCreated, 1)
	checkEvent(t, "event after changing the event written", evs[0], wantEv)
	scribbleDetails(evs[0].Details)
	checkEvent(t, "event after changing an event read back", eventsOfKey(t, as, want, audit.ActionKeyCreated)[0], wantEv)

	r := rotation(want, 1, at(time.Hour))
	rotated, err := ks.RotateKey(ctx, r, keyEvent(audit.ActionKeyRotated, want, r.At))
	if err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	wantRotated := cloneKey(rotated)
	scribbleKey(rotated)
	checkKey(t, "key after changing the rotated key returned", getKey(t, ks, want.ID), wantRotated)

	revoked, err := ks.RevokeKey(ctx, want.ID, at(2*time.Hour), keyEvent(audit.ActionKeyRevoked, want, at(2*time.Hour)))
	if err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	wantRevoked := cloneKey(revoked)
	scribbleKey(revoked)
	again, err := ks.RevokeKey(ctx, want.ID, at(3*time.Hour), keyEvent(audit.ActionKeyRevoked, want, at(3*time.Hour)))
	wantErr(t, "second RevokeKey", err, apikey.ErrRevoked)
	scribbleKey(again)
	checkKey(t, "key after changing the revoked keys returned", getKey(t, ks, want.ID), wantRevoked)
}

// testEventCopies checks that changing usage events after appending them,
// or events read back, changes nothing stored.
func testEventCopies(t *testing.T, _ ports.KeyStore, as ports.AuditStore) {
	org := newOrgID()
	k := newKey(org, at(0))
	ev := useEvent(audit.ActionKeyAuthFailed, k, at(time.Second), "scope_denied")
	ev.Details = map[string]any{
		"required": []any{"api-keys:manage", map[string]any{"nested": []any{"x", float64(2)}}},
		"granted":  map[string]any{"scopes": []any{"triggers:read"}},
		"reason":   "missing scope",
	}
	want := ev
	want.Details = cloneDetails(t, ev.Details)
	appendUsage(t, as, ev)
	scribbleDetails(ev.Details)

	list := func() audit.Event {
		t.Helper()
		got := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}}, 10)
		if len(got) != 1 {
			t.Fatalf("events = %d, want 1", len(got))
		}
		return got[0]
	}
	checkEvent(t, "event after changing the event appended", list(), want)
	scribbleDetails(list().Details)
	checkEvent(t, "event after changing an event read back", list(), want)
}
