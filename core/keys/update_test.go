package keys

import (
	"errors"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

func ptrTo[T any](v T) *T { return &v }

func TestUpdateChangesFieldsAndAudits(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read", "events:read")
	exp := f.clock.Now().Add(30 * 24 * time.Hour)
	rl := apikey.RateLimit{Limit: 5, Window: apikey.WindowMinute}
	got, err := f.svc.Update(ctx, alice, iss.Key.ID, ports.UpdateInput{
		Name: ptrTo("  Renamed  "), Scopes: []string{"events:read"},
		ExpiresAt: ports.Some(&exp), RateLimit: ports.Some(&rl),
		Request: audit.Request{RequestID: "req_1", Method: "PATCH"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Renamed" || len(got.Scopes) != 1 || got.Scopes[0] != apikey.ScopeEventsRead ||
		got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp.UTC().Truncate(time.Microsecond)) || got.RateLimit != rl {
		t.Fatalf("updated key: %+v", got)
	}
	var last audit.Event
	for _, ev := range f.store.events(t, "org_123") {
		if ev.Action == audit.ActionKeyUpdated {
			last = ev
		}
	}
	if last.Action != audit.ActionKeyUpdated || last.Actor != "user:user_1" || last.KeyID != iss.Key.ID || last.RequestID != "req_1" {
		t.Fatalf("event: %+v", last)
	}
	changes, _ := last.Details["changes"].(map[string]any)
	want := map[string][2]any{
		"name":       {"Production Webhook Server", "Renamed"},
		"expires_at": {nil, exp.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)},
		"rate_limit": {nil, "5/1m"},
	}
	if len(changes) != 4 {
		t.Fatalf("changes: %v, want name, scopes, expires_at, rate_limit", changes)
	}
	for field, ba := range want {
		c, _ := changes[field].(map[string]any)
		if c["before"] != ba[0] || c["after"] != ba[1] {
			t.Errorf("%s: %v, want before %v after %v", field, c, ba[0], ba[1])
		}
	}
	sc, _ := changes["scopes"].(map[string]any)
	if b, _ := sc["before"].([]any); len(b) != 2 {
		t.Errorf("scopes before: %v", sc)
	}

	// Clearing with null (a set Optional holding nil).
	got, err = f.svc.Update(ctx, alice, iss.Key.ID, ports.UpdateInput{
		ExpiresAt: ports.Some[*time.Time](nil), RateLimit: ports.Some[*apikey.RateLimit](nil),
	})
	if err != nil || got.ExpiresAt != nil || !got.RateLimit.IsZero() || got.Name != "Renamed" {
		t.Fatalf("clear: %+v %v", got, err)
	}

	// Nothing changed: nothing recorded.
	n := len(f.store.events(t, "org_123"))
	if _, err := f.svc.Update(ctx, alice, iss.Key.ID, ports.UpdateInput{Name: ptrTo("Renamed")}); err != nil {
		t.Fatal(err)
	}
	if m := len(f.store.events(t, "org_123")); m != n {
		t.Errorf("an update changing nothing recorded %d events", m-n)
	}
}

func TestUpdateValidation(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	past := f.clock.Now().Add(-time.Second)
	for _, tc := range []struct {
		name        string
		in          ports.UpdateInput
		field, code string
	}{
		{"blank name", ports.UpdateInput{Name: ptrTo(" ")}, "name", "invalid_name"},
		{"no scopes", ports.UpdateInput{Scopes: []string{}}, "scopes", "invalid_scope"},
		{"unknown scope", ports.UpdateInput{Scopes: []string{"triggers:admin"}}, "scopes[0]", "invalid_scope"},
		{"past expiry", ports.UpdateInput{ExpiresAt: ports.Some(&past)}, "expires_at", "invalid_expires_at"},
		{"bad rate limit", ports.UpdateInput{RateLimit: ports.Some(&apikey.RateLimit{Limit: 0, Window: time.Minute})}, "rate_limit.limit", "invalid_rate_limit"},
	} {
		_, err := f.svc.Update(ctx, alice, iss.Key.ID, tc.in)
		if field, code := fieldCode(err); field != tc.field || code != tc.code {
			t.Errorf("%s: %v (field %q code %q), want %s %s", tc.name, err, field, code, tc.field, tc.code)
		}
	}
}

func TestUpdateByKeyStaysWithinItself(t *testing.T) {
	f := newFixture(t)
	target := f.create(t, alice, "triggers:read")
	broad := f.create(t, alice, "triggers:read", "triggers:write")
	mgr := apikey.Principal{KeyID: "key_m", Organizations: []string{"org_123"}, Environment: apikey.EnvTest,
		Scopes: apikey.Scopes{apikey.ScopeTriggersRead, apikey.ScopeAPIKeysManage}}
	var se *apikey.ScopeError
	// Widening beyond the caller's own scopes.
	if _, err := f.svc.Update(ctx, mgr, target.Key.ID, ports.UpdateInput{Scopes: []string{"triggers:read", "events:read"}}); !errors.As(err, &se) {
		t.Fatalf("widen: %v", err)
	}
	// Changing a key broader than itself, even to narrow it.
	if _, err := f.svc.Update(ctx, mgr, broad.Key.ID, ports.UpdateInput{Scopes: []string{"triggers:read"}}); !errors.As(err, &se) {
		t.Fatalf("broader key: %v", err)
	}
	// Within itself: allowed.
	if _, err := f.svc.Update(ctx, mgr, target.Key.ID, ports.UpdateInput{Name: ptrTo("mine")}); err != nil {
		t.Fatal(err)
	}
	// Another organization's key: not found.
	other := apikey.Principal{Subject: "user_2", Organizations: []string{"org_other"}}
	if _, err := f.svc.Update(ctx, other, target.Key.ID, ports.UpdateInput{Name: ptrTo("x")}); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("other org: %v", err)
	}
	// A test key may not change a live key.
	live, err := f.svc.Create(ctx, alice, ports.CreateInput{Name: "live", OrganizationID: "org_123", Scopes: []string{"triggers:read"}, Environment: "live"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Update(ctx, mgr, live.Key.ID, ports.UpdateInput{Name: ptrTo("x")}); !errors.Is(err, apikey.ErrForbidden) {
		t.Fatalf("live key by a test key: %v", err)
	}
}

func TestUpdateRevokedIsRefused(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	if _, err := f.svc.Revoke(ctx, alice, iss.Key.ID, audit.Request{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Update(ctx, alice, iss.Key.ID, ports.UpdateInput{Name: ptrTo("x")}); !errors.Is(err, apikey.ErrRevoked) {
		t.Fatalf("got %v, want ErrRevoked", err)
	}
}

// TestUpdateTakesEffectAtOnce narrows a cached key's scopes: this
// instance refuses the dropped scope at once, another one after its next
// invalidation poll.
func TestUpdateTakesEffectAtOnce(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read", "events:read")
	other := f.elsewhere(t)
	for _, svc := range []*Service{f.svc, other} {
		v, err := svc.Verify(ctx, ports.VerifyInput{Secret: iss.Secret, Scopes: []string{"events:read"}})
		if err != nil || v.Outcome != apikey.OutcomeOK {
			t.Fatalf("before: %v %v", v.Outcome, err)
		}
	}
	hashes := f.hasher.verifies.Load()
	if _, err := f.svc.Update(ctx, alice, iss.Key.ID, ports.UpdateInput{Scopes: []string{"triggers:read"}}); err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.Verify(ctx, ports.VerifyInput{Secret: iss.Secret, Scopes: []string{"events:read"}})
	if err != nil || v.Outcome != apikey.OutcomeScopeDenied {
		t.Fatalf("this instance after the update: %v %v", v.Outcome, err)
	}
	if f.hasher.verifies.Load() != hashes {
		t.Error("the updated key cost an Argon2id on the instance that updated it")
	}
	f.clock.Advance(time.Millisecond)
	if err := other.SyncInvalidations(ctx); err != nil {
		t.Fatal(err)
	}
	v, err = other.Verify(ctx, ports.VerifyInput{Secret: iss.Secret, Scopes: []string{"events:read"}})
	if err != nil || v.Outcome != apikey.OutcomeScopeDenied {
		t.Fatalf("another instance after its poll: %v %v", v.Outcome, err)
	}
}
