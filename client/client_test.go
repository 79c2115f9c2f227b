package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewRefusesBadBaseAndBothCredentials(t *testing.T) {
	for _, base := range []string{"", "127.0.0.1:8080", "ftp://x", "http://"} {
		if _, err := New(base); err == nil {
			t.Errorf("base %q accepted", base)
		}
	}
	if _, err := New("http://x", WithToken("t"), WithAPIKey("k")); err == nil {
		t.Error("token and API key together accepted")
	}
}

func TestErrorCarriesTheEnvelope(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer tok" {
			t.Errorf("Authorization %q", got)
		}
		w.Header().Set("X-Request-Id", "req_1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"code":"invalid_scope","message":"unknown scope","field":"scopes[1]"}}`)
	}))
	defer srv.Close()
	c, _ := New(srv.URL, WithToken("tok"))
	_, err := c.CreateKey(context.Background(), CreateKeyRequest{Name: "n", Scopes: []string{"x"}})
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || e.Code != "invalid_scope" || e.Field != "scopes[1]" || e.RequestID != "req_1" {
		t.Fatalf("%#v", err)
	}
	if !HasCode(err, "invalid_scope") || HasCode(err, "not_found") {
		t.Error("HasCode")
	}
}

func TestErrorWithoutEnvelope(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html>proxy</html>")
	}))
	defer srv.Close()
	c, _ := New(srv.URL)
	if _, err := c.GetKey(context.Background(), "key_1"); !HasCode(err, "http_502") {
		t.Fatalf("%v", err)
	}
}

// TestRetries503HonoringRetryAfter: a 503 is retried after its Retry-After,
// up to the retry count; a Retry-After beyond maxWait is not waited for.
func TestRetries503HonoringRetryAfter(t *testing.T) {
	var calls atomic.Int32
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		times = append(times, time.Now())
		if calls.Add(1) < 3 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"code":"service_unavailable","message":"retry"}}`)
			return
		}
		fmt.Fprint(w, `{"data":[],"total":0,"next_cursor":null}`)
	}))
	defer srv.Close()
	c, _ := New(srv.URL, WithRetries(2, 5*time.Second))
	if _, err := c.ListKeys(context.Background(), ListKeysOptions{}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || times[1].Sub(times[0]) < 900*time.Millisecond {
		t.Fatalf("%d calls, first wait %s", calls.Load(), times[1].Sub(times[0]))
	}

	calls.Store(-10)
	c, _ = New(srv.URL, WithRetries(2, 500*time.Millisecond))
	began := time.Now()
	_, err := c.ListKeys(context.Background(), ListKeysOptions{})
	var e *Error
	if !errors.As(err, &e) || e.Status != 503 || e.RetryAfter != time.Second || time.Since(began) > 500*time.Millisecond {
		t.Fatalf("a Retry-After beyond maxWait: %v after %s", err, time.Since(began))
	}
	calls.Store(-10)
	c, _ = New(srv.URL, WithRetries(0, 0))
	if _, err := c.ListKeys(context.Background(), ListKeysOptions{}); !HasCode(err, "service_unavailable") || calls.Load() != -9 {
		t.Fatalf("retries off: %v, %d calls", err, calls.Load()+10)
	}
}

func TestQueryAndPaths(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.RequestURI())
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		fmt.Fprint(w, `{}`)
	}))
	defer srv.Close()
	c, _ := New(srv.URL + "/")
	ctx := context.Background()
	_, _ = c.ListKeys(ctx, ListKeysOptions{OrganizationID: "org_1", Limit: 5, Cursor: "abc", IncludeRevoked: true})
	_, _ = c.AuditLogs(ctx, AuditLogOptions{Action: "key.used", Since: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), PageOptions: PageOptions{Limit: 7}})
	_, _ = c.KeyUsage(ctx, "key_1", PageOptions{Cursor: "c"})
	_, _ = c.Verify(ctx, VerifyRequest{Secret: "sk", Scopes: []string{"a:b", "c:d"}})
	_ = c.RevokeKey(ctx, "key/../x")
	want := []string{
		"GET /api/v1/api-keys?cursor=abc&include_revoked=true&limit=5&organization_id=org_1",
		"GET /api/v1/audit-logs?action=key.used&limit=7&since=2030-01-02T03%3A04%3A05Z",
		"GET /api/v1/api-keys/key_1/usage?cursor=c",
		"GET /api/v1/auth/verify?scope=a%3Ab&scope=c%3Ad",
		"DELETE /api/v1/api-keys/key%2F..%2Fx",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func TestUpdateKeyIsAMergePatch(t *testing.T) {
	name := "renamed"
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   UpdateKeyRequest
		want string
	}{
		{UpdateKeyRequest{Name: &name}, `{"name":"renamed"}`},
		{UpdateKeyRequest{ExpiresAt: &exp, ClearRateLimit: true}, `{"expires_at":"2030-01-01T00:00:00Z","rate_limit":null}`},
		{UpdateKeyRequest{Metadata: []byte(`{"plan":null}`), ClearIPAllowlist: true}, `{"ip_allowlist":null,"metadata":{"plan":null}}`},
		{UpdateKeyRequest{}, `{}`},
	} {
		b, err := c.in.MarshalJSON()
		if err != nil || string(b) != c.want {
			t.Errorf("%+v: %s %v, want %s", c.in, b, err, c.want)
		}
	}
	var ct string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct = r.Method + " " + r.Header.Get("Content-Type")
		fmt.Fprint(w, `{"id":"key_1"}`)
	}))
	defer srv.Close()
	cl, _ := New(srv.URL)
	if k, err := cl.UpdateKey(context.Background(), "key_1", UpdateKeyRequest{Name: &name}); err != nil || k.ID != "key_1" || ct != "PATCH application/merge-patch+json" {
		t.Fatalf("%v %v %q", k, err, ct)
	}
}
