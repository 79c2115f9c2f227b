package keys

import (
	"testing"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// TestIPAllowlistRefusesBeforeArgon2 checks a key with an allowlist: an
// address outside it is ip_not_allowed (identified, so audited with the
// key) both for a key this instance has proven and for one it has not,
// without an Argon2id either way; addresses inside it verify.
func TestIPAllowlistRefusesBeforeArgon2(t *testing.T) {
	f := newFixture(t)
	iss, err := f.elsewhere(t).Create(ctx, alice, ports.CreateInput{Name: "fenced", OrganizationID: "org_123",
		Scopes: []string{"triggers:read"}, IPAllowlist: []string{"203.0.113.0/24", "2001:db8::/32"}})
	if err != nil {
		t.Fatal(err)
	}
	outside := audit.Request{ClientIP: "198.51.100.7"}
	inside := audit.Request{ClientIP: "203.0.113.9"}

	// Not proven here yet: refused after the lookup, before Argon2id.
	v, err := f.verify(iss.Secret, "", outside)
	if err != nil || v.Outcome != apikey.OutcomeIPNotAllowed || v.Key.KeyID != iss.Key.ID {
		t.Fatalf("cold, outside: %v %v %q", v.Outcome, err, v.Key.KeyID)
	}
	if n := f.hasher.verifies.Load(); n != 0 {
		t.Fatalf("a refused address cost %d Argon2id", n)
	}
	if v, err := f.verify(iss.Secret, "", inside); err != nil || v.Outcome != apikey.OutcomeOK {
		t.Fatalf("inside: %v %v", v.Outcome, err)
	}
	if v, err := f.verify(iss.Secret, "", audit.Request{ClientIP: "2001:db8:5::1"}); err != nil || v.Outcome != apikey.OutcomeOK || !v.CacheHit {
		t.Fatalf("inside (IPv6): %v %v", v.Outcome, err)
	}
	// Proven and cached: refused from the cache.
	v, err = f.verify(iss.Secret, "triggers:read", outside)
	if err != nil || v.Outcome != apikey.OutcomeIPNotAllowed || !v.CacheHit {
		t.Fatalf("cached, outside: %v %v", v.Outcome, err)
	}
	if n := f.hasher.verifies.Load(); n != 1 {
		t.Errorf("%d Argon2id, want 1", n)
	}
	// The refusal is audited with the key and the address.
	evs := f.usage.all()
	last := evs[len(evs)-1]
	if last.Action != audit.ActionKeyAuthFailed || last.Outcome != apikey.OutcomeIPNotAllowed || last.KeyID != iss.Key.ID || last.ClientIP != "198.51.100.7" {
		t.Errorf("event %+v", last)
	}
	// An unknown address is outside every list.
	if v, _ := f.verify(iss.Secret, "", audit.Request{}); v.Outcome != apikey.OutcomeIPNotAllowed {
		t.Errorf("no address: %v", v.Outcome)
	}
	// A revoked key stays a 401 whatever the address.
	if _, err := f.svc.Revoke(ctx, alice, iss.Key.ID, audit.Request{}); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.verify(iss.Secret, "", outside); v.Outcome != apikey.OutcomeRevoked {
		t.Errorf("revoked, outside: %v", v.Outcome)
	}
}

// TestIPAllowlistUpdateTakesEffectAtOnce fences a cached key in by PATCH:
// the next verification from outside is refused.
func TestIPAllowlistUpdateTakesEffectAtOnce(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	outside := audit.Request{ClientIP: "198.51.100.7"}
	if v, err := f.verify(iss.Secret, "", outside); err != nil || v.Outcome != apikey.OutcomeOK {
		t.Fatal(v.Outcome, err)
	}
	if _, err := f.svc.Update(ctx, alice, iss.Key.ID, ports.UpdateInput{IPAllowlist: ports.Some([]string{"10.0.0.0/8"})}); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.verify(iss.Secret, "", outside); v.Outcome != apikey.OutcomeIPNotAllowed {
		t.Errorf("after fencing: %v", v.Outcome)
	}
	if _, err := f.svc.Update(ctx, alice, iss.Key.ID, ports.UpdateInput{IPAllowlist: ports.Some[[]string](nil)}); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.verify(iss.Secret, "", outside); v.Outcome != apikey.OutcomeOK {
		t.Errorf("after clearing: %v", v.Outcome)
	}
}

func TestMetadataCreateUpdateVerify(t *testing.T) {
	f := newFixture(t)
	iss, err := f.svc.Create(ctx, alice, ports.CreateInput{Name: "m", OrganizationID: "org_123", Scopes: []string{"events:read"},
		Metadata: []byte(`{"customer": "cus_42", "plan": {"tier": "free"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if iss.Key.Metadata != `{"customer":"cus_42","plan":{"tier":"free"}}` {
		t.Fatalf("created with %s", iss.Key.Metadata)
	}
	v, err := f.verify(iss.Secret, "", audit.Request{})
	if err != nil || v.Key.Metadata != iss.Key.Metadata {
		t.Fatalf("verify metadata %q %v", v.Key.Metadata, err)
	}
	k, err := f.svc.Update(ctx, alice, iss.Key.ID, ports.UpdateInput{Metadata: ports.Some([]byte(`{"plan":{"tier":"pro"},"customer":null}`))})
	if err != nil || k.Metadata != `{"plan":{"tier":"pro"}}` {
		t.Fatalf("merged %s %v", k.Metadata, err)
	}
	if v, _ := f.verify(iss.Secret, "", audit.Request{}); v.Key.Metadata != k.Metadata {
		t.Errorf("verify after the update: %s", v.Key.Metadata)
	}
	if _, err := f.svc.Update(ctx, alice, iss.Key.ID, ports.UpdateInput{Metadata: ports.Some([]byte(`[1]`))}); err == nil {
		t.Error("metadata that is no object accepted")
	}
	k, err = f.svc.Update(ctx, alice, iss.Key.ID, ports.UpdateInput{Metadata: ports.Some[[]byte](nil)})
	if err != nil || !k.Metadata.IsZero() {
		t.Fatalf("cleared: %s %v", k.Metadata, err)
	}
	if _, err := f.svc.Create(ctx, alice, ports.CreateInput{Name: "m", OrganizationID: "org_123", Scopes: []string{"events:read"},
		Metadata: []byte(`{"a":{"b":{"c":{"d":1}}}}`)}); err == nil {
		t.Error("metadata four deep accepted")
	}
}
