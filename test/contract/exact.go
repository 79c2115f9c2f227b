package contract

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// lookAlikes are the identifiers a collation could take for id: with a
// trailing space (MySQL's PAD SPACE collations equate them), in another
// case, with a trailing no-break space.
func lookAlikes(id string) []string {
	return []string{id + " ", strings.ToLower(id), strings.ToUpper(id), id + "\u00a0"}
}

// testExactIdentifiers: lookups and listings by an identifier that only
// looks like a stored one (org_A vs "org_A ", "org_a", "org_A\u00a0")
// find nothing of it, in keys and in events. The service refuses such
// identifiers at its edges; this case proves that the database itself
// never equates them either (issue 11 §1: MariaDB answered org_A's keys
// for "org_A ").
func testExactIdentifiers(t *testing.T, ks ports.KeyStore, as ports.AuditStore) {
	ctx := context.Background()
	org := "org_Ab" + token(10)
	k := newKey(org, at(0))
	k.ID = "key_Ab" + token(12)
	create(t, ks, k)
	use := useEvent(audit.ActionKeyUsed, k, at(1), apikey.OutcomeOK)
	if err := as.AppendUsage(ctx, []audit.Event{use}); err != nil {
		t.Fatalf("AppendUsage: %v", err)
	}
	// The stored ones are found, so that finding nothing below means
	// something.
	if page, err := ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{org}, Limit: 10}); err != nil || len(page.Keys) != 1 {
		t.Fatalf("ListKeys(%q) = %d keys, %v; want 1", org, len(page.Keys), err)
	}
	if evs := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}, KeyID: k.ID, Actor: use.Actor}, 10); len(evs) != 1 {
		t.Fatalf("ListEvents of %s = %d events, want 1", k.ID, len(evs))
	}
	for _, o := range lookAlikes(org) {
		page, err := ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{o}, IncludeRevoked: true, Limit: 10})
		if err != nil || len(page.Keys) != 0 || page.Total != 0 {
			t.Errorf("ListKeys(%q) = %d keys (total %d), %v; want none of %q", o, len(page.Keys), page.Total, err, org)
		}
		if evs := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{o}}, 10); len(evs) != 0 {
			t.Errorf("ListEvents(organization %q) = %d events of %q, want none", o, len(evs), org)
		}
	}
	for _, id := range lookAlikes(k.ID) {
		if got, err := ks.GetKey(ctx, id); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("GetKey(%q) = %s, %v; want not found", id, got.ID, err)
		}
		if evs := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}, KeyID: id}, 10); len(evs) != 0 {
			t.Errorf("ListEvents(key %q) = %d events of %s, want none", id, len(evs), k.ID)
		}
	}
	for _, actor := range lookAlikes(use.Actor) {
		if evs := allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}, Actor: actor}, 10); len(evs) != 0 {
			t.Errorf("ListEvents(actor %q) = %d events of %q, want none", actor, len(evs), use.Actor)
		}
	}
	if _, err := ks.FindByLookup(ctx, k.Lookup+" "); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("FindByLookup(lookup + space) = %v; want not found", err)
	}
}
