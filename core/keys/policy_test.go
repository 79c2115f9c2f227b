package keys

import (
	"errors"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/orgpolicy"
	"github.com/agentauri/apikeys/ports"
)

// setPolicy stores p as org_123's policy.
func (f *fixture) setPolicy(t *testing.T, p orgpolicy.Policy) {
	t.Helper()
	_, err := f.store.UpdatePolicy(ctx, "org_123", func(orgpolicy.Policy) (orgpolicy.Policy, audit.Event, error) {
		st, err := f.svc.stamp()
		return p, audit.OrganizationUpdated(st, "user:test", "org_123", audit.Request{}, nil), err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func policyCode(err error) string {
	var pe *orgpolicy.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

// TestPolicyIsEnforcedOnCreateRotateUpdate: the one rule (orgpolicy.Check)
// refuses what the organization's policy does not allow, in each use case.
func TestPolicyIsEnforcedOnCreateRotateUpdate(t *testing.T) {
	f := newFixture(t)
	day := 24 * time.Hour
	k := f.create(t, alice, "triggers:read") // before any policy: no expiry
	hour := time.Hour
	f.setPolicy(t, orgpolicy.Policy{MaxKeyLifetime: 30 * day, AllowedEnvironments: []apikey.Environment{apikey.EnvTest}, MaxRotationGrace: &hour})
	in := ports.CreateInput{Name: "n", OrganizationID: "org_123", Scopes: []string{"triggers:read"}}
	if _, err := f.svc.Create(ctx, alice, in); policyCode(err) != orgpolicy.CodeLifetimeExceeded {
		t.Errorf("create without expiry: %v", err)
	}
	far := f.clock.Now().Add(31 * day)
	in.ExpiresAt = &far
	if _, err := f.svc.Create(ctx, alice, in); policyCode(err) != orgpolicy.CodeLifetimeExceeded {
		t.Errorf("create beyond the lifetime: %v", err)
	}
	near := f.clock.Now().Add(29 * day)
	in.ExpiresAt, in.Environment = &near, "live"
	if _, err := f.svc.Create(ctx, alice, in); policyCode(err) != orgpolicy.CodeEnvironmentNotAllowed {
		t.Errorf("create a live key: %v", err)
	}
	in.Environment = ""
	if _, err := f.svc.Create(ctx, alice, in); err != nil {
		t.Errorf("create within the policy: %v", err)
	}
	// The key made before the policy cannot be rotated until it expires
	// within it, nor with a grace period over the cap.
	if _, err := f.svc.Rotate(ctx, alice, k.Key.ID, ports.RotateInput{}); policyCode(err) != orgpolicy.CodeLifetimeExceeded {
		t.Errorf("rotate a key without expiry: %v", err)
	}
	if _, err := f.svc.Update(ctx, alice, k.Key.ID, ports.UpdateInput{ExpiresAt: ports.Some(&far)}); policyCode(err) != orgpolicy.CodeLifetimeExceeded {
		t.Errorf("update beyond the lifetime: %v", err)
	}
	if _, err := f.svc.Update(ctx, alice, k.Key.ID, ports.UpdateInput{ExpiresAt: ports.Some(&near)}); err != nil {
		t.Errorf("update within the lifetime: %v", err)
	}
	if _, err := f.svc.Rotate(ctx, alice, k.Key.ID, ports.RotateInput{Grace: 2 * time.Hour}); policyCode(err) != orgpolicy.CodeGraceExceeded {
		t.Errorf("rotate with a grace over the cap: %v", err)
	}
	if _, err := f.svc.Rotate(ctx, alice, k.Key.ID, ports.RotateInput{Grace: time.Hour}); err != nil {
		t.Errorf("rotate within the policy: %v", err)
	}
	// A rename needs no expiry.
	name := "renamed"
	f.setPolicy(t, orgpolicy.Policy{RequireExpiry: true})
	if _, err := f.svc.Update(ctx, alice, k.Key.ID, ports.UpdateInput{ExpiresAt: ports.Some[*time.Time](nil)}); policyCode(err) != orgpolicy.CodeExpiryRequired {
		t.Errorf("clear the expiry: %v", err)
	}
	if _, err := f.svc.Update(ctx, alice, k.Key.ID, ports.UpdateInput{Name: &name}); err != nil {
		t.Errorf("rename: %v", err)
	}
}

func TestPolicyDefaultsAndRotationDue(t *testing.T) {
	f := newFixture(t)
	day := 24 * time.Hour
	allow, _ := apikey.ParseIPAllowlist([]string{"10.0.0.0/8"})
	rl := apikey.RateLimit{Limit: 7, Window: time.Minute}
	f.setPolicy(t, orgpolicy.Policy{DefaultIPAllowlist: allow, DefaultRateLimit: rl, RotationPeriod: 90 * day})
	k := f.create(t, alice, "triggers:read")
	if k.Key.RateLimit != rl || len(k.Key.IPAllowlist) != 1 || k.Key.IPAllowlist.Strings()[0] != "10.0.0.0/8" {
		t.Fatalf("defaults not applied: %+v %v", k.Key.RateLimit, k.Key.IPAllowlist)
	}
	if k.Key.RotationDue(f.clock.Now()) {
		t.Fatal("a new key is due for rotation")
	}
	f.clock.Advance(91 * day)
	got, err := f.svc.Get(ctx, alice, k.Key.ID)
	if err != nil || !got.RotationDue(f.clock.Now()) {
		t.Fatalf("key after the period: due %v, %v", got.RotationDueAt, err)
	}
	due := true
	page, err := f.svc.List(ctx, alice, ports.ListInput{RotationDue: &due})
	if err != nil || len(page.Keys) != 1 || !page.Keys[0].RotationDue(f.clock.Now()) {
		t.Fatalf("rotation_due=true: %d keys, %v", len(page.Keys), err)
	}
	iss, err := f.svc.Rotate(ctx, alice, k.Key.ID, ports.RotateInput{})
	if err != nil || iss.Key.RotationDue(f.clock.Now()) {
		t.Fatalf("rotated key: due %v, %v", iss.Key.RotationDueAt, err)
	}
	if page, err = f.svc.List(ctx, alice, ports.ListInput{RotationDue: &due}); err != nil || len(page.Keys) != 0 {
		t.Fatalf("rotation_due=true after the rotation: %d keys, %v", len(page.Keys), err)
	}
}
