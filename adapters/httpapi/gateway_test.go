package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/core/apikey"
)

// upstream is a test API that remembers what it received.
type upstream struct {
	mu   sync.Mutex
	reqs []seen
	srv  *httptest.Server
	wait time.Duration
}

type seen struct {
	method, uri, body string
	header            http.Header
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{r.Method, r.RequestURI, string(body), r.Header.Clone()})
		wait := u.wait
		u.mu.Unlock()
		time.Sleep(wait)
		w.Header().Set("Content-Type", "application/json")
		if r.Method == "POST" {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(body)
			return
		}
		_, _ = w.Write([]byte(`[{"id":"t1"}]`))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) last(t *testing.T) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream received nothing")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func gatewayTo(t *testing.T, raw string, timeout time.Duration) httpapi.GatewayOptions {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return httpapi.GatewayOptions{Upstream: u, DialTimeout: time.Second, ResponseTimeout: timeout, MaxIdleConns: 8, IdleConnTimeout: time.Minute}
}

// TestGatewayProxiesWhatThePolicyAdmits: an admitted request reaches the
// upstream without the key and without any identity header the client
// chose, with the verified identity and the forwarding headers; its body
// passes; the use is recorded with the upstream's status.
func TestGatewayProxiesWhatThePolicyAdmits(t *testing.T) {
	up := newUpstream(t)
	keys := &edgeKeys{}
	var propagated []string
	g := gatewayTo(t, up.srv.URL, 5*time.Second)
	g.Propagate = func(_ context.Context, h http.Header) {
		propagated = append(propagated, h.Get("Traceparent"))
		h.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	}
	h := newEdgeServer(t, keys, httpapi.Options{Gateway: g, TrustedProxies: []string{"10.0.0.1"}})

	w := serveGW(h, "GET", "/api/v1/triggers?page=2", "192.0.2.7:5000", "X-API-Key", readKey,
		"X-Key-Id", "key_forged", "X-Organization-Id", "org_forged", "X-Scopes", "api-keys:manage", "X-Key-Environment", "live",
		"X-Key-Anything", "x", "X-Forwarded-For", "198.51.100.1", "Forwarded", "for=198.51.100.1", "X-Real-IP", "198.51.100.2",
		"Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if w.Code != 200 || w.Body.String() != `[{"id":"t1"}]` {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	got := up.last(t)
	hd := got.header
	if got.uri != "/api/v1/triggers?page=2" || hd.Get("X-Api-Key") != "" || hd.Get("X-Key-Anything") != "" {
		t.Fatalf("upstream got %s %v", got.uri, hd)
	}
	for k, v := range map[string]string{
		"X-Key-Id": "key_read", "X-Organization-Id": "org_1", "X-Scopes": "triggers:read", "X-Key-Environment": "test",
		"X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "example.com",
		"Forwarded": "for=192.0.2.7;host=example.com;proto=http", "X-Real-Ip": "192.0.2.7",
		"Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	} {
		if vs := hd.Values(k); len(vs) != 1 || vs[0] != v {
			t.Errorf("upstream %s: %q, want %q", k, vs, v)
		}
	}
	if len(propagated) != 1 {
		t.Fatal("the trace context was not propagated")
	}
	if r := keys.lastRecord(t); r.status != 200 || r.outcome != apikey.OutcomeOK || r.req.Path != "/api/v1/triggers" || r.req.ClientIP != "192.0.2.7" {
		t.Fatalf("recorded %+v", r)
	}

	// A trusted proxy's chain is carried on.
	w = serveGW(h, "GET", "/api/v1/live/x", "10.0.0.1:5000", "X-API-Key", liveKey,
		"X-Forwarded-For", "203.0.113.5", "X-Forwarded-Proto", "https", "Forwarded", `for=203.0.113.5;proto=https`)
	if w.Code != 200 {
		t.Fatalf("live: %d %s", w.Code, w.Body)
	}
	hd = up.last(t).header
	if hd.Get("X-Forwarded-For") != "203.0.113.5, 10.0.0.1" || hd.Get("X-Forwarded-Proto") != "https" ||
		hd.Get("Forwarded") != "for=203.0.113.5;proto=https, for=10.0.0.1;host=example.com;proto=https" || hd.Get("X-Real-Ip") != "203.0.113.5" {
		t.Fatalf("through a trusted proxy: %v", hd)
	}
}

// TestGatewayBodiesAndBearer: a POST body streams to the upstream and its
// answer back, with its status recorded; a key in Authorization (with
// accept_bearer) is stripped like X-API-Key; a JWT is left for the API.
func TestGatewayBodiesAndBearer(t *testing.T) {
	up := newUpstream(t)
	keys := &edgeKeys{}
	policy := testPolicy(t)
	h := newEdgeServer(t, keys, httpapi.Options{Gateway: gatewayTo(t, up.srv.URL, 5*time.Second), AcceptBearer: true, Routes: policy})
	big := strings.Repeat("x", 1<<20) // far beyond http.max_body_bytes: a proxied body is not apikeys' to cap
	// POST on a GET-only route is no route at all.
	w := serveGWBody(h, "POST", "/api/v1/live/x", "192.0.2.7:1", big, "X-API-Key", liveKey)
	if w.Code != 403 || up.count() != 0 {
		t.Fatalf("POST with no rule: %d, upstream saw %d", w.Code, up.count())
	}
	w = serveGWBody(h, "POST", "/api/v1/echo", "192.0.2.7:1", big, "X-API-Key", readKey, "Content-Type", "text/plain")
	if w.Code != 201 || w.Body.String() != big || up.last(t).body != big || keys.lastRecord(t).status != 201 {
		t.Fatalf("POST: %d, %d bytes back, upstream got %d bytes, recorded %d", w.Code, w.Body.Len(), len(up.last(t).body), keys.lastRecord(t).status)
	}
	w = serveGWBody(h, "GET", "/api/v1/triggers", "192.0.2.7:1", "", "Authorization", "Bearer "+readKey)
	if w.Code != 200 || up.last(t).header.Get("Authorization") != "" {
		t.Fatalf("bearer key: %d, upstream Authorization %q", w.Code, up.last(t).header.Get("Authorization"))
	}
	w = serveGWBody(h, "GET", "/api/v1/triggers", "192.0.2.7:1", "", "Authorization", "Bearer eyJ.x.y", "X-API-Key", readKey)
	if w.Code != 200 || up.last(t).header.Get("Authorization") != "Bearer eyJ.x.y" {
		t.Fatalf("JWT: %d, upstream Authorization %q", w.Code, up.last(t).header.Get("Authorization"))
	}
}

// TestGatewayRefusalsStayHere: refused requests never reach the upstream
// and get the API's envelope; apikeys' own routes are never proxied.
func TestGatewayRefusalsStayHere(t *testing.T) {
	up := newUpstream(t)
	keys := &edgeKeys{}
	h := newEdgeServer(t, keys, httpapi.Options{Gateway: gatewayTo(t, up.srv.URL, 5*time.Second)})
	for _, c := range []struct {
		method, path, key string
		status            int
		code              string
	}{
		{"GET", "/api/v1/triggers", "", 401, "invalid_api_key"},
		{"GET", "/api/v1/triggers", revokedKey, 401, "invalid_api_key"},
		{"DELETE", "/api/v1/triggers/t1", readKey, 403, "insufficient_scope"},
		{"GET", "/api/v1/live/x", readKey, 403, "forbidden_environment"},
		{"GET", "/api/v1/other", readKey, 403, "no_route_policy"},
		{"GET", "/api/v1/triggers/%2e%2e/x", readKey, 400, "invalid_path"},
		{"GET", "/api/v1/triggers", spentKey, 429, "rate_limited"},
		{"GET", "/api/v1/auth/nope", readKey, 404, "not_found"},
		{"GET", "/api/v1/api-keys-not/x", readKey, 403, "no_route_policy"},
		{"GET", "/api/v1/audit-logs/x", readKey, 404, "not_found"},
		{"GET", "/healthz/x", readKey, 404, "not_found"},
	} {
		w := serveGW(h, c.method, c.path, "192.0.2.7:1", "X-API-Key", c.key)
		code, _, _ := errorOf(t, w.Body.Bytes())
		if w.Code != c.status || code != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, w.Code, code, c.status, c.code)
		}
		if c.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", c.method, c.path)
		}
	}
	if up.count() != 0 {
		t.Fatalf("the upstream saw %d refused requests", up.count())
	}
	if w := serveGW(h, "GET", "/api/v1/status", "192.0.2.7:1"); w.Code != 200 || up.last(t).header.Get("X-Key-Id") != "" {
		t.Fatalf("public route: %d", w.Code)
	}
}

// TestGatewayUpstreamFailures: an unreachable upstream is 502, a slow one
// 504, both in the envelope and recorded with that status; an answer the
// audit trail cannot take is 503 and none of it reaches the client.
func TestGatewayUpstreamFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	keys := &edgeKeys{}
	h := newEdgeServer(t, keys, httpapi.Options{Gateway: gatewayTo(t, dead, time.Second)})
	w := serveGW(h, "GET", "/api/v1/triggers", "192.0.2.7:1", "X-API-Key", readKey)
	if code, _, _ := errorOf(t, w.Body.Bytes()); w.Code != 502 || code != "bad_gateway" || keys.lastRecord(t).status != 502 {
		t.Fatalf("down: %d %s, recorded %d", w.Code, w.Body, keys.lastRecord(t).status)
	}

	up := newUpstream(t)
	up.wait = 300 * time.Millisecond
	h = newEdgeServer(t, keys, httpapi.Options{Gateway: gatewayTo(t, up.srv.URL, 100*time.Millisecond)})
	w = serveGW(h, "GET", "/api/v1/triggers", "192.0.2.7:1", "X-API-Key", readKey)
	if code, _, _ := errorOf(t, w.Body.Bytes()); w.Code != 504 || code != "gateway_timeout" || keys.lastRecord(t).status != 504 {
		t.Fatalf("slow: %d %s, recorded %d", w.Code, w.Body, keys.lastRecord(t).status)
	}

	up.wait = 0
	keys.recordErr = errDown
	w = serveGW(h, "GET", "/api/v1/triggers", "192.0.2.7:1", "X-API-Key", readKey)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 503 || body["error"] == nil || w.Header().Get("Retry-After") == "" {
		t.Fatalf("unrecordable: %d %s", w.Code, w.Body)
	}
}

// notifyRecorder is a ResponseRecorder with the CloseNotify of a real
// connection, which the reverse proxy asks gin's writer for.
type notifyRecorder struct{ *httptest.ResponseRecorder }

func (notifyRecorder) CloseNotify() <-chan bool { return make(chan bool) }

func serveGW(h http.Handler, method, target, remote string, headers ...string) *httptest.ResponseRecorder {
	return serveGWBody(h, method, target, remote, "", headers...)
}

func serveGWBody(h http.Handler, method, target, remote, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := notifyRecorder{httptest.NewRecorder()}
	h.ServeHTTP(w, req)
	return w.ResponseRecorder
}
