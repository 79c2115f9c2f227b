package contract

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/orgpolicy"
	"github.com/agentauri/apikeys/ports"
)

// OrganizationStore returns the contract suite of ports.OrganizationStore.
// newStore is called once per subtest and must return an empty or
// otherwise isolated store that also implements ports.AuditStore.
func OrganizationStore(newStore func(t *testing.T) ports.OrganizationStore) func(t *testing.T) {
	return func(t *testing.T) {
		tests := []struct {
			name string
			run  func(t *testing.T, os ports.OrganizationStore, as ports.AuditStore)
		}{
			{"Get/Unknown", testPolicyUnknown},
			{"Update/AllSettings", testPolicyAllSettings},
			{"Update/Clear", testPolicyClear},
			{"Update/ChangeRefused", testPolicyChangeRefused},
			{"Update/FailedEventRollsBack", testPolicyEventRollback},
			{"Update/Concurrent", testPolicyConcurrent},
			{"Identifiers/Exact", testPolicyExactIDs},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				s := newStore(t)
				as, ok := s.(ports.AuditStore)
				if !ok {
					t.Fatalf("contract: %T must implement ports.AuditStore", s)
				}
				tc.run(t, s, as)
			})
		}
	}
}

// policyEvent returns the organization.updated event of org at t.
func policyEvent(org string, t time.Time) audit.Event {
	return audit.OrganizationUpdated(audit.Stamp{ID: newEventID(), Time: t}, "user:alice", org,
		audit.Request{Method: "PATCH", Path: "/api/v1/organizations/" + org, RequestID: "req_" + token(16)},
		[]audit.FieldChange{{Field: orgpolicy.SettingRotationPeriod, Before: nil, After: "90d"}})
}

// setPolicy is a change that stores p at t.
func setPolicy(org string, p orgpolicy.Policy, t time.Time) ports.PolicyChanger {
	return func(orgpolicy.Policy) (orgpolicy.Policy, audit.Event, error) { return p, policyEvent(org, t), nil }
}

func getPolicy(t *testing.T, os ports.OrganizationStore, org string) orgpolicy.Policy {
	t.Helper()
	p, err := os.GetPolicy(context.Background(), org)
	if err != nil {
		t.Fatalf("GetPolicy(%s): %v", org, err)
	}
	return p
}

func checkPolicy(t *testing.T, what string, got, want orgpolicy.Policy) {
	t.Helper()
	// Empty and nil lists mean the same: none.
	norm := func(p orgpolicy.Policy) orgpolicy.Policy {
		if len(p.AllowedEnvironments) == 0 {
			p.AllowedEnvironments = nil
		}
		if len(p.DefaultIPAllowlist) == 0 {
			p.DefaultIPAllowlist = nil
		}
		return p
	}
	if !reflect.DeepEqual(norm(got), norm(want)) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func policyEvents(t *testing.T, as ports.AuditStore, org string) []audit.Event {
	t.Helper()
	return allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{org}, Action: audit.ActionOrganizationUpdated}, 100)
}

// fullPolicy sets every setting.
func fullPolicy(t *testing.T) orgpolicy.Policy {
	grace := 36 * time.Hour
	return orgpolicy.Policy{
		MaxKeyLifetime: 90 * 24 * time.Hour, RequireExpiry: true,
		AllowedEnvironments: []apikey.Environment{apikey.EnvLive, apikey.EnvTest},
		DefaultIPAllowlist:  allowlist(t, "10.0.0.0/8", "2001:db8::/32"),
		MaxRotationGrace:    &grace, RotationPeriod: 30 * 24 * time.Hour,
		DefaultRateLimit: apikey.RateLimit{Limit: 100, Window: apikey.WindowMinute},
	}
}

func testPolicyUnknown(t *testing.T, os ports.OrganizationStore, as ports.AuditStore) {
	checkPolicy(t, "policy of an organization never changed", getPolicy(t, os, newOrgID()), orgpolicy.Policy{})
}

func testPolicyAllSettings(t *testing.T, os ports.OrganizationStore, as ports.AuditStore) {
	org := newOrgID()
	want := fullPolicy(t)
	var seen orgpolicy.Policy
	ev := policyEvent(org, at(time.Hour))
	got, err := os.UpdatePolicy(context.Background(), org, func(cur orgpolicy.Policy) (orgpolicy.Policy, audit.Event, error) {
		seen = cur
		return want, ev, nil
	})
	if err != nil {
		t.Fatalf("UpdatePolicy: %v", err)
	}
	checkPolicy(t, "policy handed to change", seen, orgpolicy.Policy{})
	checkPolicy(t, "returned policy", got, want)
	checkPolicy(t, "stored policy", getPolicy(t, os, org), want)
	evs := policyEvents(t, as, org)
	if len(evs) != 1 {
		t.Fatalf("%d organization.updated events, want 1", len(evs))
	}
	checkEvent(t, "organization.updated event", evs[0], ev)
	// The next change starts from the stored policy; a grace cap of 0
	// (no grace period at all) is not "unset".
	zero := time.Duration(0)
	got, err = os.UpdatePolicy(context.Background(), org, func(cur orgpolicy.Policy) (orgpolicy.Policy, audit.Event, error) {
		checkPolicy(t, "policy handed to the second change", cur, want)
		cur.MaxRotationGrace = &zero
		return cur, policyEvent(org, at(2*time.Hour)), nil
	})
	if err != nil || got.MaxRotationGrace == nil || *got.MaxRotationGrace != 0 {
		t.Fatalf("second UpdatePolicy: %+v, %v", got, err)
	}
	if g := getPolicy(t, os, org).MaxRotationGrace; g == nil || *g != 0 {
		t.Fatalf("stored grace cap %v, want 0", g)
	}
}

func testPolicyClear(t *testing.T, os ports.OrganizationStore, as ports.AuditStore) {
	org := newOrgID()
	if _, err := os.UpdatePolicy(context.Background(), org, setPolicy(org, fullPolicy(t), at(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.UpdatePolicy(context.Background(), org, setPolicy(org, orgpolicy.Policy{}, at(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	checkPolicy(t, "cleared policy", getPolicy(t, os, org), orgpolicy.Policy{})
	if n := len(policyEvents(t, as, org)); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
}

func testPolicyChangeRefused(t *testing.T, os ports.OrganizationStore, as ports.AuditStore) {
	org := newOrgID()
	refused := errors.New("refused by the change")
	_, err := os.UpdatePolicy(context.Background(), org, func(orgpolicy.Policy) (orgpolicy.Policy, audit.Event, error) {
		return orgpolicy.Policy{}, audit.Event{}, refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("UpdatePolicy with a refusing change: %v, want its error", err)
	}
	checkPolicy(t, "policy after a refused change", getPolicy(t, os, org), orgpolicy.Policy{})
	if n := len(policyEvents(t, as, org)); n != 0 {
		t.Fatalf("%d events after a refused change, want 0", n)
	}
}

func testPolicyEventRollback(t *testing.T, os ports.OrganizationStore, as ports.AuditStore) {
	org := newOrgID()
	first := policyEvent(org, at(time.Hour))
	if _, err := os.UpdatePolicy(context.Background(), org, func(orgpolicy.Policy) (orgpolicy.Policy, audit.Event, error) {
		return orgpolicy.Policy{RequireExpiry: true}, first, nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err := os.UpdatePolicy(context.Background(), org, func(cur orgpolicy.Policy) (orgpolicy.Policy, audit.Event, error) {
		ev := policyEvent(org, at(2*time.Hour))
		ev.ID = first.ID // taken: the event cannot be stored
		return fullPolicy(t), ev, nil
	})
	wantErr(t, "UpdatePolicy whose event id is taken", err, apikey.ErrConflict)
	checkPolicy(t, "policy after the failed change", getPolicy(t, os, org), orgpolicy.Policy{RequireExpiry: true})
	if n := len(policyEvents(t, as, org)); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
}

// testPolicyConcurrent runs changes that each lengthen the rotation
// period of the policy as they find it by one hour, starting from an
// organization without a stored policy: every hour must be in the final
// period, none lost to a change that read the policy before another
// committed (the first changes race to make the organization's row).
func testPolicyConcurrent(t *testing.T, os ports.OrganizationStore, as ports.AuditStore) {
	org := newOrgID()
	const n = 8
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = os.UpdatePolicy(context.Background(), org, func(cur orgpolicy.Policy) (orgpolicy.Policy, audit.Event, error) {
				next := cur.Clone()
				next.RotationPeriod += time.Hour
				return next, policyEvent(org, at(time.Duration(i+1)*time.Minute)), nil
			})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("change %d: %v", i, err)
		}
	}
	if got := getPolicy(t, os, org).RotationPeriod; got != n*time.Hour {
		t.Fatalf("rotation period %s after %d concurrent changes, want %s: a change was lost", got, n, n*time.Hour)
	}
	if got := len(policyEvents(t, as, org)); got != n {
		t.Fatalf("%d events, want %d", got, n)
	}
}

// testPolicyExactIDs: organization ids compare exactly, whatever a
// database's collation would equate.
func testPolicyExactIDs(t *testing.T, os ports.OrganizationStore, as ports.AuditStore) {
	org := newOrgID() + "_A"
	if _, err := os.UpdatePolicy(context.Background(), org, setPolicy(org, fullPolicy(t), at(time.Hour))); err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{org + " ", org[:len(org)-1] + "a"} {
		checkPolicy(t, "policy of "+other, getPolicy(t, os, other), orgpolicy.Policy{})
	}
	checkPolicy(t, "policy of "+org, getPolicy(t, os, org), fullPolicy(t))
}

// testListRotationDue: the rotation_due filter keeps the active keys of
// organizations with a cutoff created or last rotated at or before it, and
// false keeps every other key.
func testListRotationDue(t *testing.T, ks ports.KeyStore, _ ports.AuditStore) {
	ctx := context.Background()
	orgA, orgB := newOrgID(), newOrgID()
	old := newKey(orgA, at(0))                 // due: created before the cutoff
	fresh := newKey(orgA, at(10*time.Hour))    // not due: created after
	rotated := newKey(orgA, at(0))             // not due: rotated after the cutoff
	revoked := newKey(orgA, at(0))             // not due: revoked
	expired := newKey(orgA, at(0))             // not due: expired
	otherOrg := newKey(orgB, at(0))            // not due: its organization has no period
	atCutoff := newKey(orgA, at(5*time.Hour))  // due: exactly at the cutoff
	rotated.RotatedAt = ptr(at(6 * time.Hour)) // rotated after the cutoff
	expired.ExpiresAt = ptr(at(11 * time.Hour))
	for _, k := range []apikey.Key{old, fresh, rotated, revoked, expired, otherOrg, atCutoff} {
		create(t, ks, k)
	}
	if _, err := ks.RevokeKey(ctx, revoked.ID, at(7*time.Hour), keyEvent(audit.ActionKeyRevoked, revoked, at(7*time.Hour))); err != nil {
		t.Fatal(err)
	}
	list := func(due bool) map[string]bool {
		t.Helper()
		page, err := ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{orgA, orgB}, Statuses: []apikey.Status{apikey.StatusActive, apikey.StatusExpired, apikey.StatusRevoked},
			Now: at(12 * time.Hour), RotationDue: &due, RotationCutoffs: map[string]time.Time{orgA: at(5 * time.Hour)}, Limit: 100})
		if err != nil {
			t.Fatalf("ListKeys(rotation_due=%v): %v", due, err)
		}
		ids := map[string]bool{}
		for _, k := range page.Keys {
			ids[k.ID] = true
		}
		if int(page.Total) != len(ids) {
			t.Errorf("rotation_due=%v: total %d, %d keys listed", due, page.Total, len(ids))
		}
		return ids
	}
	wantDue := map[string]bool{old.ID: true, atCutoff.ID: true}
	if got := list(true); !reflect.DeepEqual(got, wantDue) {
		t.Errorf("rotation_due=true: %v, want %v", got, wantDue)
	}
	notDue := list(false)
	for _, k := range []apikey.Key{fresh, rotated, revoked, expired, otherOrg} {
		if !notDue[k.ID] {
			t.Errorf("rotation_due=false lacks %s", k.ID)
		}
	}
	if len(notDue) != 5 {
		t.Errorf("rotation_due=false: %d keys, want 5", len(notDue))
	}
	none := true
	page, err := ks.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{orgA}, Now: at(12 * time.Hour), RotationDue: &none, Limit: 100})
	if err != nil || len(page.Keys) != 0 || page.Total != 0 {
		t.Errorf("rotation_due=true without cutoffs: %d keys (total %d), %v; want none", len(page.Keys), page.Total, err)
	}
}
