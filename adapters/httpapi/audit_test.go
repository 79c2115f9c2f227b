package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// fakeKeys decides every verification with outcome (OK by default), or
// fails with err, and keeps what it was asked to verify and record.
type fakeKeys struct {
	ports.KeyService
	mu       sync.Mutex
	reqs     []audit.Request
	scopes   [][]string // the scopes each verification required
	recorded []int      // statuses of the recorded verifications
	outcome  apikey.Outcome
	err      error
}

func (f *fakeKeys) Verify(_ context.Context, in ports.VerifyInput) (ports.Verification, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, in.Request)
	if f.err != nil {
		return ports.Verification{}, f.err
	}
	out := f.outcome
	if out == "" {
		out = apikey.OutcomeOK
	}
	f.scopes = append(f.scopes, in.Scopes)
	var missing apikey.Scopes
	if out == apikey.OutcomeScopeDenied {
		for _, n := range in.Scopes {
			missing = append(missing, apikey.Scope(n))
		}
	}
	return ports.Verification{Outcome: out, Missing: missing, Request: in.Request, Key: apikey.Verified{KeyID: "key_caller", OrganizationID: "org_1",
		Scopes: apikey.Scopes{apikey.ScopeAPIKeysManage}, Environment: apikey.EnvTest}}, nil
}

func (f *fakeKeys) Record(_ context.Context, _ ports.Verification, status int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recorded = append(f.recorded, status)
	return nil
}

func (f *fakeKeys) last(t *testing.T) audit.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("no verification recorded")
	}
	return f.reqs[len(f.reqs)-1]
}

func (f *fakeKeys) lastStatus(t *testing.T) int {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.recorded) == 0 {
		t.Fatal("no verification recorded")
	}
	return f.recorded[len(f.recorded)-1]
}

type fakeTokens struct{}

func (fakeTokens) Verify(_ context.Context, token string) (apikey.Principal, error) {
	if token != "good" {
		return apikey.Principal{}, errors.New("bad token")
	}
	return apikey.Principal{Subject: "alice", Organizations: []string{"org_1"}}, nil
}

// fakeAudit records the inputs of the audit service and answers page.
type fakeAudit struct {
	list  ports.AuditListInput
	usage struct {
		id string
		in ports.AuditPageInput
	}
	who  apikey.Principal
	page ports.AuditPage
	err  error
}

func (f *fakeAudit) List(_ context.Context, p apikey.Principal, in ports.AuditListInput) (ports.AuditPage, error) {
	f.who, f.list = p, in
	return f.page, f.err
}

func (f *fakeAudit) KeyUsage(_ context.Context, p apikey.Principal, id string, in ports.AuditPageInput) (ports.AuditPage, error) {
	f.who, f.usage.id, f.usage.in = p, id, in
	return f.page, f.err
}

func newServer(t *testing.T, keys *fakeKeys, aud ports.AuditService, proxies ...string) http.Handler {
	t.Helper()
	opts := httpapi.Options{Keys: keys, Tokens: fakeTokens{}, TrustedProxies: proxies}
	if aud != nil {
		opts.Audit = aud
	}
	s, err := httpapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

func serve(h http.Handler, method, target, remote string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

const validKey = "sk_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// TestClientIPTrustsOnlyListedProxies checks the claim of http.trusted_proxies:
// X-Forwarded-For and X-Real-IP name the client only when the socket peer
// is a listed proxy; from anyone else the socket address is recorded.
func TestClientIPTrustsOnlyListedProxies(t *testing.T) {
	cases := []struct {
		name    string
		proxies []string
		remote  string
		headers []string
		want    string
	}{
		{"no proxy configured, header ignored", nil, "10.1.2.3:4000", []string{"X-Forwarded-For", "203.0.113.9"}, "10.1.2.3"},
		{"untrusted peer spoofs X-Forwarded-For", []string{"10.0.0.0/8"}, "192.0.2.44:4000", []string{"X-Forwarded-For", "203.0.113.9"}, "192.0.2.44"},
		{"untrusted peer spoofs X-Real-IP", []string{"10.0.0.0/8"}, "192.0.2.44:4000", []string{"X-Real-IP", "203.0.113.9"}, "192.0.2.44"},
		{"trusted proxy", []string{"10.0.0.0/8"}, "10.1.2.3:4000", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9"},
		{"trusted proxy by address", []string{"10.1.2.3"}, "10.1.2.3:4000", []string{"X-Forwarded-For", "203.0.113.9"}, "203.0.113.9"},
		{"chain of trusted proxies skipped", []string{"10.0.0.0/8"}, "10.1.2.3:4000",
			[]string{"X-Forwarded-For", "203.0.113.9, 10.7.7.7"}, "203.0.113.9"},
		{"client-supplied hop before an untrusted one", []string{"10.0.0.0/8"}, "10.1.2.3:4000",
			[]string{"X-Forwarded-For", "198.51.100.66, 203.0.113.9"}, "203.0.113.9"},
		{"trusted proxy sends X-Real-IP", []string{"10.0.0.0/8"}, "10.1.2.3:4000", []string{"X-Real-IP", "203.0.113.9"}, "203.0.113.9"},
		{"trusted proxy sends garbage", []string{"10.0.0.0/8"}, "10.1.2.3:4000", []string{"X-Forwarded-For", "not-an-ip"}, "10.1.2.3"},
		{"IPv6 peer", []string{"10.0.0.0/8"}, "[2001:db8::1]:4000", []string{"X-Forwarded-For", "203.0.113.9"}, "2001:db8::1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys := &fakeKeys{}
			h := newServer(t, keys, nil, tc.proxies...)
			w := serve(h, "GET", "/api/v1/auth/verify", tc.remote, append([]string{"X-API-Key", validKey}, tc.headers...)...)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if got := keys.last(t).ClientIP; got != tc.want {
				t.Errorf("verify recorded client IP %q, want %q", got, tc.want)
			}
			// The management API records the same address.
			serve(h, "GET", "/api/v1/api-keys/key_x", tc.remote, append([]string{"X-API-Key", validKey}, tc.headers...)...)
			if got := keys.last(t).ClientIP; got != tc.want {
				t.Errorf("management recorded client IP %q, want %q", got, tc.want)
			}
		})
	}
}

// TestVerifyRecordsRequest checks what the verify endpoint hands the core
// for its usage event: the forwarded original request without its query
// string, the server's request id it echoes, the client's request id
// apart, and the status of each outcome.
func TestVerifyRecordsRequest(t *testing.T) {
	keys := &fakeKeys{}
	h := newServer(t, keys, nil, "127.0.0.1")
	w := serve(h, "GET", "/api/v1/auth/verify?scope=events:read", "127.0.0.1:1", "X-API-Key", validKey,
		"X-Request-ID", "req-42", "X-Original-URI", "/v1/events?token=secret", "X-Original-Method", "POST", "User-Agent", "nginx-auth")
	rid := w.Header().Get("X-Request-ID")
	if w.Code != 200 || !serverRequestID.MatchString(rid) || w.Header().Get("X-Client-Request-Id") != "req-42" {
		t.Fatalf("status %d, request id %q, client request id %q", w.Code, rid, w.Header().Get("X-Client-Request-Id"))
	}
	ri := keys.last(t)
	if ri.Path != "/v1/events" || ri.Method != "POST" || ri.RequestID != rid || ri.ClientRequestID != "req-42" || ri.UserAgent != "nginx-auth" {
		t.Errorf("request info %+v", ri)
	}
	if got := keys.lastStatus(t); got != 200 {
		t.Errorf("recorded status %d, want 200", got)
	}
	for outcome, want := range map[apikey.Outcome]int{"ok": 200, "scope_denied": 403, "unknown": 401, "revoked": 401, "expired": 401,
		"checksum": 401, "missing": 401, "malformed": 401} {
		keys.outcome = outcome
		w := serve(h, "GET", "/api/v1/auth/verify?scope=events:read", "127.0.0.1:1", "X-API-Key", validKey)
		if w.Code != want || keys.lastStatus(t) != want {
			t.Errorf("verify of outcome %s answered %d and recorded %d, want %d", outcome, w.Code, keys.lastStatus(t), want)
		}
		// Management by key: a success is recorded before the operation
		// runs (status 0: not known yet); a failure with its answer.
		serve(h, "GET", "/api/v1/api-keys", "127.0.0.1:1", "X-API-Key", validKey)
		if outcome == apikey.OutcomeOK {
			want = 0
		}
		if keys.lastStatus(t) != want {
			t.Errorf("management by a key of outcome %s recorded %d, want %d", outcome, keys.lastStatus(t), want)
		}
	}
}

func TestAuditLogsEndpoint(t *testing.T) {
	at := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
	aud := &fakeAudit{page: ports.AuditPage{
		Events: []audit.Event{
			{ID: "evt_2", Time: at, OrganizationID: "org_1", Actor: "key:key_a", Action: audit.ActionKeyUsed, KeyID: "key_a",
				RequestID: "req_1", ClientRequestID: "client-1", Method: "GET", Path: "/v1/x", ClientIP: "203.0.113.9", UserAgent: "curl", Status: 200,
				Outcome: "ok", Scope: "events:read"},
			{ID: "evt_1", Time: at.Add(-time.Second), OrganizationID: "org_1", Actor: "user:alice", Action: audit.ActionKeyCreated,
				KeyID: "key_a", Details: map[string]any{"name": "ci", "scopes": []any{"events:read"}}},
		},
		Next: &ports.Cursor{Time: at.Add(-time.Second), ID: "evt_1"},
	}}
	h := newServer(t, &fakeKeys{}, aud)
	w := serve(h, "GET", "/api/v1/audit-logs?organization_id=org_1&key_id=key_a&action=key.used&actor=key:key_a"+
		"&since=2025-03-14T00:00:00Z&until=2025-03-15T00:00:00%2B02:00&limit=7", "127.0.0.1:1", "Authorization", "Bearer good")
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	in := aud.list
	if in.OrganizationID != "org_1" || in.KeyID != "key_a" || in.Action != "key.used" || in.Actor != "key:key_a" || in.Limit != 7 ||
		in.Since == nil || !in.Since.Equal(time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)) ||
		in.Until == nil || !in.Until.Equal(time.Date(2025, 3, 14, 22, 0, 0, 0, time.UTC)) || aud.who.Subject != "alice" {
		t.Errorf("input %+v by %+v", in, aud.who)
	}
	var body struct {
		Data       []map[string]any `json:"data"`
		NextCursor *string          `json:"next_cursor"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Data) != 2 || body.NextCursor == nil {
		t.Fatalf("body %s", w.Body)
	}
	used, created := body.Data[0], body.Data[1]
	for _, f := range []string{"id", "time", "organization_id", "actor", "action", "key_id", "request_id", "client_request_id", "trace_id", "method",
		"path", "client_ip", "user_agent", "status", "outcome", "scope", "details"} {
		if _, ok := used[f]; !ok {
			t.Errorf("field %s missing", f)
		}
	}
	if used["time"] != "2025-03-14T15:09:26.535897Z" || used["status"] != float64(200) || used["trace_id"] != nil || used["client_ip"] != "203.0.113.9" {
		t.Errorf("key.used as JSON: %v", used)
	}
	if used["request_id"] != "req_1" || used["client_request_id"] != "client-1" {
		t.Errorf("key.used request ids as JSON: %v, %v", used["request_id"], used["client_request_id"])
	}
	if created["status"] != nil || created["method"] != nil || created["client_request_id"] != nil || created["details"].(map[string]any)["name"] != "ci" {
		t.Errorf("key.created as JSON: %v", created)
	}

	// The cursor comes back as the position of the next page.
	w = serve(h, "GET", "/api/v1/audit-logs?cursor="+*body.NextCursor, "127.0.0.1:1", "Authorization", "Bearer good")
	if w.Code != 200 || aud.list.After == nil || aud.list.After.ID != "evt_1" || !aud.list.After.Time.Equal(at.Add(-time.Second)) {
		t.Errorf("cursor: status %d, after %+v", w.Code, aud.list.After)
	}

	for _, tc := range []struct{ query, field string }{
		{"since=yesterday", "since"}, {"until=2025-13-01T00:00:00Z", "until"}, {"limit=0", "limit"},
		{"limit=x", "limit"}, {"cursor=%21%21", "cursor"},
	} {
		w := serve(h, "GET", "/api/v1/audit-logs?"+tc.query, "127.0.0.1:1", "Authorization", "Bearer good")
		var e struct {
			Error struct{ Code, Field, Message string } `json:"error"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != 400 || e.Error.Field != tc.field || e.Error.Message == "" {
			t.Errorf("%s: status %d, body %s; want 400 naming %s", tc.query, w.Code, w.Body, tc.field)
		}
	}

	aud.err = apikey.ForbiddenOrganization("organization_id", "org_9")
	if w := serve(h, "GET", "/api/v1/audit-logs?organization_id=org_9", "127.0.0.1:1", "Authorization", "Bearer good"); w.Code != 403 {
		t.Errorf("foreign organization: status %d", w.Code)
	}
	if w := serve(h, "GET", "/api/v1/audit-logs", "127.0.0.1:1"); w.Code != 401 {
		t.Errorf("no credentials: status %d", w.Code)
	}
}

func TestKeyUsageEndpoint(t *testing.T) {
	aud := &fakeAudit{page: ports.AuditPage{Events: []audit.Event{}}}
	keys := &fakeKeys{}
	h := newServer(t, keys, aud)
	w := serve(h, "GET", "/api/v1/api-keys/key_abc/usage?limit=3", "127.0.0.1:1", "X-API-Key", validKey)
	if w.Code != 200 || w.Body.String() != `{"data":[],"next_cursor":null}` {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if aud.usage.id != "key_abc" || aud.usage.in.Limit != 3 || aud.who.KeyID != "key_caller" {
		t.Errorf("usage of %q, input %+v, by %+v", aud.usage.id, aud.usage.in, aud.who)
	}
	if keys.last(t).Path != "/api/v1/api-keys/key_abc/usage" {
		t.Errorf("the caller key's use was recorded for %q", keys.last(t).Path)
	}
	aud.err = apikey.ErrNotFound
	if w := serve(h, "GET", "/api/v1/api-keys/key_other/usage", "127.0.0.1:1", "Authorization", "Bearer good"); w.Code != 404 {
		t.Errorf("a key of another organization: status %d, want 404", w.Code)
	}
}

func TestAuditEndpointsNeedAService(t *testing.T) {
	h := newServer(t, &fakeKeys{}, nil)
	if w := serve(h, "GET", "/api/v1/audit-logs", "127.0.0.1:1", "Authorization", "Bearer good"); w.Code != 404 {
		t.Errorf("without an audit service: status %d, want 404", w.Code)
	}
}
