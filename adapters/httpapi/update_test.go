package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

// updatingKeys records the UpdateInput a PATCH reaches the core with.
type updatingKeys struct {
	fakeKeys
	in    *ports.UpdateInput
	calls int
}

func (k *updatingKeys) Update(_ context.Context, _ apikey.Principal, id string, in ports.UpdateInput) (apikey.Key, error) {
	k.calls++
	k.in = &in
	return apikey.Key{ID: id, OrganizationID: "org_1", Name: "n", Environment: apikey.EnvTest,
		Scopes: apikey.Scopes{apikey.ScopeEventsRead}, CreatedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
}

// TestPatchIsAMergePatch: a member left out is unset, null clears the
// fields that may be empty and is refused for the others, unknown members
// and wrong types are 400 naming the field.
func TestPatchIsAMergePatch(t *testing.T) {
	keys := &updatingKeys{}
	s, err := httpapi.New(httpapi.Options{Keys: keys, Tokens: fakeTokens{}})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	patch := func(body string) (*http.Response, []byte) {
		w := serveBody(h, "PATCH", "/api/v1/api-keys/key_abc", body, "Authorization", "Bearer good", "Content-Type", "application/json")
		return w.Result(), w.Body.Bytes()
	}

	keys.in = nil
	if res, body := patch(`{"name":"New"}`); res.StatusCode != 200 {
		t.Fatalf("name: %d %s", res.StatusCode, body)
	}
	if in := keys.in; in == nil || in.Name == nil || *in.Name != "New" || in.Scopes != nil || in.ExpiresAt.Set || in.RateLimit.Set {
		t.Fatalf("name only: %+v", keys.in)
	}
	if res, body := patch(`{"expires_at":null,"rate_limit":null}`); res.StatusCode != 200 {
		t.Fatalf("nulls: %d %s", res.StatusCode, body)
	}
	if in := keys.in; !in.ExpiresAt.Set || in.ExpiresAt.Value != nil || !in.RateLimit.Set || in.RateLimit.Value != nil || in.Name != nil {
		t.Fatalf("nulls: %+v", keys.in)
	}
	if res, body := patch(`{"expires_at":"2031-02-03T04:05:06Z","rate_limit":{"limit":7,"window":"1h"},"scopes":["events:read"]}`); res.StatusCode != 200 {
		t.Fatalf("values: %d %s", res.StatusCode, body)
	}
	if in := keys.in; in.ExpiresAt.Value == nil || !in.ExpiresAt.Value.Equal(time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)) ||
		in.RateLimit.Value == nil || *in.RateLimit.Value != (apikey.RateLimit{Limit: 7, Window: time.Hour}) || len(in.Scopes) != 1 {
		t.Fatalf("values: %+v", keys.in)
	}

	calls := keys.calls
	for _, tc := range []struct{ body, code, field string }{
		{`{"nmae":"x"}`, "unknown_field", "nmae"},
		{`{"key":"sk_test_x"}`, "unknown_field", "key"},
		{`{"environment":"live"}`, "unknown_field", "environment"},
		{`{"name":null}`, "invalid_type", "name"},
		{`{"scopes":null}`, "invalid_type", "scopes"},
		{`{"name":5}`, "invalid_type", "name"},
		{`{"scopes":"events:read"}`, "invalid_type", "scopes"},
		{`{"scopes":["events:read",5]}`, "invalid_type", "scopes"},
		{`{"expires_at":17}`, "invalid_type", "expires_at"},
		{`{"expires_at":"tomorrow"}`, "invalid_expires_at", "expires_at"},
		{`{"rate_limit":{"limit":"x","window":"1m"}}`, "invalid_type", "rate_limit.limit"},
		{`{"rate_limit":{"limit":5}}`, "invalid_rate_limit", "rate_limit.window"},
		{`{"rate_limit":{"limit":5,"window":"1m","burst":2}}`, "unknown_field", "rate_limit.burst"},
		{`{"rate_limit":{"limit":5,"window":"2m"}}`, "invalid_rate_limit", "rate_limit.window"},
		{`{"rate_limit":"5/1m"}`, "invalid_type", "rate_limit"},
		{`[]`, "invalid_json", ""},
		{`{"name":"a"} {}`, "invalid_json", ""},
	} {
		res, body := patch(tc.body)
		code, field, _ := errorOf(t, body)
		if res.StatusCode != 400 || code != tc.code || field != tc.field {
			t.Errorf("%s: %d %s, want 400 %s field %q", tc.body, res.StatusCode, body, tc.code, tc.field)
		}
	}
	if keys.calls != calls {
		t.Errorf("refused bodies reached the core %d times", keys.calls-calls)
	}
}

// TestIPNotAllowedAnswer: a key refused at the client's address gets 403
// ip_not_allowed naming the address as resolved (through trusted proxies
// only), on verify and on the management API, recorded with that status.
func TestIPNotAllowedAnswer(t *testing.T) {
	keys := &fakeKeys{outcome: apikey.OutcomeIPNotAllowed}
	h := newServer(t, keys, nil, "10.0.0.1")
	for _, path := range []string{"/api/v1/auth/verify", "/api/v1/api-keys"} {
		w := serve(h, "GET", path, "10.0.0.1:5555", "X-API-Key", "sk_test_x", "X-Forwarded-For", "198.51.100.7")
		code, _, msg := errorOf(t, w.Body.Bytes())
		if w.Code != 403 || code != "ip_not_allowed" || msg != "the API key may not be used from 198.51.100.7" {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
		if st := keys.lastStatus(t); st != 403 {
			t.Errorf("%s: recorded with status %d", path, st)
		}
	}
	// From an untrusted peer the header is ignored.
	w := serve(h, "GET", "/api/v1/auth/verify", "192.0.2.5:5555", "X-API-Key", "sk_test_x", "X-Forwarded-For", "198.51.100.7")
	if _, _, msg := errorOf(t, w.Body.Bytes()); msg != "the API key may not be used from 192.0.2.5" {
		t.Errorf("untrusted peer: %s", w.Body)
	}
}
