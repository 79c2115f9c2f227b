package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAPIKeys answers verifications: "good" holds triggers:read, "slow"
// is a 429, "down" a 503, anything else a 401.
type fakeAPIKeys struct {
	calls atomic.Int32
}

func (f *fakeAPIKeys) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	switch r.Header.Get("X-API-Key") {
	case "good":
		if s := r.URL.Query()["scope"]; len(s) > 0 && s[0] != "triggers:read" {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"code":"insufficient_scope","message":"missing required scope"}}`)
			return
		}
		fmt.Fprint(w, `{"valid":true,"key_id":"key_1","organization_id":"org_1","environment":"test","scopes":["triggers:read"],"name":"n","expires_at":null,"rate_limit":{"limit":10,"remaining":9,"reset":1}}`)
	case "slow":
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"code":"rate_limited","message":"spent"}}`)
	case "down":
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"code":"service_unavailable","message":"retry"}}`)
	default:
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"code":"invalid_api_key","message":"bad"}}`)
	}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newVerifier(t *testing.T, o VerifierOptions) (*Verifier, *fakeAPIKeys, *clock) {
	t.Helper()
	f := &fakeAPIKeys{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	o.Now = clk.Now
	return NewVerifier(c, o), f, clk
}

func serve(v *Verifier, secret string, scopes ...string) (*httptest.ResponseRecorder, *Identity) {
	var seen *Identity
	h := v.Require(scopes...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = IdentityFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	req := httptest.NewRequest("GET", "/triggers", nil)
	if secret != "" {
		req.Header.Set("X-API-Key", secret)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, seen
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var env struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("not the envelope: %s", rec.Body)
	}
	return env.Error.Code
}

func TestMiddlewarePutsTheIdentityInTheContext(t *testing.T) {
	v, _, _ := newVerifier(t, VerifierOptions{})
	rec, id := serve(v, "good", "triggers:read")
	if rec.Code != http.StatusNoContent || id == nil || id.KeyID != "key_1" || id.OrganizationID != "org_1" || id.Budget == nil {
		t.Fatalf("%d %+v", rec.Code, id)
	}
}

func TestMiddlewareRefusals(t *testing.T) {
	v, f, _ := newVerifier(t, VerifierOptions{})
	for _, c := range []struct {
		secret, scope, code string
		status              int
	}{
		{"", "triggers:read", "invalid_api_key", 401},
		{"bad", "triggers:read", "invalid_api_key", 401},
		{"good", "events:read", "insufficient_scope", 403},
		{"slow", "triggers:read", "rate_limited", 429},
		{"down", "triggers:read", "service_unavailable", 503},
	} {
		rec, id := serve(v, c.secret, c.scope)
		if rec.Code != c.status || errorCode(t, rec) != c.code || id != nil {
			t.Errorf("%q: %d %s, want %d %s", c.secret, rec.Code, rec.Body, c.status, c.code)
		}
		if c.status == 429 && rec.Header().Get("Retry-After") != "3" {
			t.Errorf("429 without apikeys' Retry-After: %v", rec.Header())
		}
		if c.status == 503 && rec.Header().Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	if f.calls.Load() != 4 {
		t.Errorf("%d calls to apikeys; a request without a key needs none", f.calls.Load())
	}
}

// TestCacheLifetimes: a positive answer is reused for CacheTTL, a refusal
// for at most a second, a 429 or 503 never.
func TestCacheLifetimes(t *testing.T) {
	v, f, clk := newVerifier(t, VerifierOptions{CacheTTL: 5 * time.Second, NegativeTTL: time.Hour})
	calls := func() int32 { return f.calls.Load() }
	serve(v, "good", "triggers:read")
	clk.advance(4 * time.Second)
	if _, id := serve(v, "good", "triggers:read"); id == nil || id.Budget != nil || calls() != 1 {
		t.Fatalf("within the TTL: %d calls, %+v (a cached answer has no budget)", calls(), id)
	}
	clk.advance(time.Second)
	serve(v, "good", "triggers:read")
	if calls() != 2 {
		t.Fatalf("past the TTL: %d calls, want 2", calls())
	}
	serve(v, "good", "events:read") // other scopes: another entry
	if calls() != 3 {
		t.Fatalf("other scopes answered from the cache")
	}

	serve(v, "bad", "triggers:read")
	serve(v, "bad", "triggers:read")
	if calls() != 4 {
		t.Fatalf("a refusal is reused within a second: %d calls", calls())
	}
	clk.advance(time.Second) // NegativeTTL is capped at 1 s
	serve(v, "bad", "triggers:read")
	if calls() != 5 {
		t.Fatalf("a refusal reused past a second: %d calls", calls())
	}
	for _, secret := range []string{"slow", "down"} {
		before := calls()
		serve(v, secret, "triggers:read")
		serve(v, secret, "triggers:read")
		if calls() != before+2 {
			t.Errorf("%s answers were cached", secret)
		}
	}
}

func TestCacheIsBoundedAndCanBeOff(t *testing.T) {
	v, f, _ := newVerifier(t, VerifierOptions{CacheSize: 2})
	for _, s := range []string{"a", "b", "c"} {
		serve(v, "good", "triggers:read", s)
	}
	if n := len(v.entries); n != 2 || v.order.Len() != 2 {
		t.Fatalf("%d entries, bound 2", n)
	}
	before := f.calls.Load()
	serve(v, "good", "triggers:read", "a") // the least recently used went first
	if f.calls.Load() != before+1 {
		t.Error("the oldest entry was kept")
	}
	off, f2, _ := newVerifier(t, VerifierOptions{CacheTTL: -1})
	serve(off, "good", "triggers:read")
	serve(off, "good", "triggers:read")
	if f2.calls.Load() != 2 {
		t.Errorf("CacheTTL -1: %d calls, want 2", f2.calls.Load())
	}
}

func TestCacheKeepsNoSecret(t *testing.T) {
	k1, k2 := cacheKey("sk_test_a", []string{"x", "y"}), cacheKey("sk_test_a", []string{"y", "x", "x"})
	if k1 != k2 {
		t.Error("the order or repetition of scopes changes the cache key")
	}
	if k1 == cacheKey("sk_test_b", []string{"x", "y"}) {
		t.Error("two secrets share a cache key")
	}
}
