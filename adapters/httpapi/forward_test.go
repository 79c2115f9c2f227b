package httpapi_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentauri/apikeys/adapters/httpapi"
)

const forward = "/api/v1/auth/forward"

// TestForwardFindsTheOriginalRequest: the original method and URI come
// from nginx's and Traefik/Caddy's headers only when a trusted proxy sends
// them, else from the request line below the endpoint (Envoy's HTTP
// mode); the use is recorded under the original method, path (no query)
// and client address.
func TestForwardFindsTheOriginalRequest(t *testing.T) {
	keys := &edgeKeys{}
	h := newEdgeServer(t, keys, httpapi.Options{TrustedProxies: []string{"10.0.0.0/8"}})
	for _, c := range []struct {
		name, method, target, remote string
		headers                      []string
		status                       int
		wantMethod, wantPath, wantIP string
	}{
		{"nginx", "GET", forward, "10.0.0.2:1", []string{"X-Original-Method", "GET", "X-Original-URI", "/api/v1/triggers/t1?secret=x", "X-Forwarded-For", "203.0.113.9"},
			200, "GET", "/api/v1/triggers/t1", "203.0.113.9"},
		{"traefik", "GET", forward, "10.0.0.2:1", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/api/v1/triggers", "X-Forwarded-For", "203.0.113.7"},
			200, "GET", "/api/v1/triggers", "203.0.113.7"},
		{"nginx, method refused", "GET", forward, "10.0.0.2:1", []string{"X-Original-Method", "DELETE", "X-Original-URI", "/api/v1/triggers/t1"},
			403, "DELETE", "/api/v1/triggers/t1", "10.0.0.2"},
		{"envoy", "GET", forward + "/api/v1/triggers/t1?page=2", "192.0.2.1:1", nil, 200, "GET", "/api/v1/triggers/t1", "192.0.2.1"},
		{"envoy, POST", "POST", forward + "/api/v1/triggers", "192.0.2.1:1", nil, 403, "POST", "/api/v1/triggers", "192.0.2.1"},
		{"headers from an untrusted peer are ignored", "GET", forward + "/api/v1/triggers", "192.0.2.1:1",
			[]string{"X-Original-Method", "DELETE", "X-Forwarded-Uri", "/api/v1/other", "X-Forwarded-For", "203.0.113.9"}, 200, "GET", "/api/v1/triggers", "192.0.2.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := serve(h, c.method, c.target, c.remote, append([]string{"X-API-Key", readKey}, c.headers...)...)
			if w.Code != c.status {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, c.status)
			}
			r := keys.lastRecord(t)
			if r.req.Method != c.wantMethod || r.req.Path != c.wantPath || r.req.ClientIP != c.wantIP || r.status != c.status {
				t.Fatalf("recorded %+v status %d, want %s %s from %s, %d", r.req, r.status, c.wantMethod, c.wantPath, c.wantIP, c.status)
			}
			if c.status == 200 {
				if w.Header().Get("X-Key-Id") != "key_read" || w.Header().Get("X-Organization-Id") != "org_1" ||
					w.Header().Get("X-Scopes") != "triggers:read" || w.Header().Get("X-Key-Environment") != "test" {
					t.Fatalf("identity headers: %v", w.Header())
				}
			}
		})
	}
	// A proxy passing on a client's header of the other proxies' pair:
	// two requests named, none chosen.
	w := serve(h, "GET", forward, "10.0.0.2:1", "X-API-Key", readKey, "X-Original-URI", "/api/v1/triggers", "X-Forwarded-Uri", "/api/v1/status")
	if code, field, _ := errorOf(t, w.Body.Bytes()); w.Code != 400 || code != "invalid_request" || field != "X-Forwarded-Uri" {
		t.Fatalf("disagreeing URIs: %d %s", w.Code, w.Body)
	}
	w = serve(h, "GET", forward, "10.0.0.2:1", "X-API-Key", readKey, "X-Original-URI", "/api/v1/triggers", "X-Forwarded-Method", "DELETE", "X-Original-Method", "GET")
	if w.Code != 400 {
		t.Fatalf("disagreeing methods: %d %s", w.Code, w.Body)
	}
	w = serve(h, "GET", forward, "10.0.0.2:1", "X-API-Key", readKey, "X-Original-URI", "/api/v1/triggers", "X-Forwarded-Uri", "/api/v1/triggers")
	if w.Code != 200 {
		t.Fatalf("agreeing URIs: %d %s", w.Code, w.Body)
	}
	// Headers from an untrusted peer, and no path below the endpoint:
	// nothing names the request, which is refused.
	before := keys.verifications()
	w = serve(h, "GET", forward, "192.0.2.1:1", "X-API-Key", readKey, "X-Original-URI", "/api/v1/triggers")
	if code, field, msg := errorOf(t, w.Body.Bytes()); w.Code != 400 || code != "invalid_request" || field != "X-Forwarded-Uri" || !strings.Contains(msg, "http.trusted_proxies") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if keys.verifications() != before {
		t.Fatal("a request naming nothing was verified")
	}
}

// TestForwardAnswers: every decision of the policy and every outcome of
// the key gets its answer, in the envelope, with WWW-Authenticate on 401,
// whether a trusted proxy's headers or the request line name the request.
func TestForwardAnswers(t *testing.T) {
	keys := &edgeKeys{}
	h := newEdgeServer(t, keys, httpapi.Options{TrustedProxies: []string{"127.0.0.1"}})
	for _, c := range []struct {
		name, method, path, key string
		status                  int
		code                    string
		verified                bool
	}{
		{"allowed", "GET", "/api/v1/triggers", readKey, 200, "", true},
		{"HEAD is GET", "HEAD", "/api/v1/triggers/t1", readKey, 200, "", true},
		{"missing key", "GET", "/api/v1/triggers", "", 401, "invalid_api_key", true},
		{"unknown key", "GET", "/api/v1/triggers", "sk_test_UNKNOWNUNKNOWNUNKNOWNUNKNOWNUN", 401, "invalid_api_key", true},
		{"revoked key", "GET", "/api/v1/triggers", revokedKey, 401, "invalid_api_key", true},
		{"missing scope", "DELETE", "/api/v1/triggers/t1", readKey, 403, "insufficient_scope", true},
		{"test key on a live route", "GET", "/api/v1/live/x", readKey, 403, "forbidden_environment", true},
		{"live key on a live route", "GET", "/api/v1/live/x", liveKey, 200, "", true},
		{"budget spent", "GET", "/api/v1/triggers", spentKey, 429, "rate_limited", true},
		{"no route", "GET", "/api/v1/billing", readKey, 403, "no_route_policy", false},
		{"public", "GET", "/api/v1/status", "", 200, "", false},
		{"dot segments", "GET", "/api/v1/triggers/..%2Fadmin", readKey, 400, "invalid_path", false},
		{"case", "GET", "/API/v1/triggers", readKey, 400, "invalid_path", false},
		{"bad method", "G(T", "/api/v1/triggers", readKey, 400, "invalid_method", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for i := range 2 {
				before := keys.verifications()
				var w *httptest.ResponseRecorder
				switch {
				case i == 0:
					w = serve(h, "GET", forward, "127.0.0.1:1", "X-API-Key", c.key, "X-Forwarded-Method", c.method, "X-Forwarded-Uri", c.path)
				case c.name == "bad method":
					continue // no request line carries it
				default:
					w = serve(h, c.method, forward+c.path, "192.0.2.1:1", "X-API-Key", c.key)
				}
				if w.Code != c.status {
					t.Fatalf("%d: %d %s, want %d", i, w.Code, w.Body, c.status)
				}
				if c.code != "" && c.method != "HEAD" {
					if code, _, _ := errorOf(t, w.Body.Bytes()); code != c.code {
						t.Fatalf("code %s, want %s: %s", code, c.code, w.Body)
					}
				}
				if (c.status == 401) != (w.Header().Get("WWW-Authenticate") != "") {
					t.Fatalf("WWW-Authenticate %q on %d", w.Header().Get("WWW-Authenticate"), c.status)
				}
				if got := keys.verifications() > before; got != c.verified {
					t.Fatalf("verified: %v, want %v", got, c.verified)
				}
				if c.verified {
					if r := keys.lastRecord(t); r.status != c.status {
						t.Fatalf("recorded status %d, want %d", r.status, c.status)
					}
				}
				if (c.status == 200 && c.name != "public") != (w.Header().Get("X-Key-Id") != "") {
					t.Fatalf("identity headers %v on %d", w.Header(), c.status)
				}
				if c.name == "public" {
					if vs, ok := w.Header()["X-Key-Id"]; !ok || len(vs) != 1 || vs[0] != "" {
						t.Fatalf("public route: X-Key-Id %q, want present and empty", vs)
					}
				}
				if w.Header().Get("Cache-Control") != "no-store" {
					t.Fatal("a verdict without Cache-Control: no-store")
				}
			}
		})
	}
}

// TestForwardNginxCompat: nginx auth_request makes anything but 2xx, 401
// and 403 a 500; compat=nginx answers those 403 with the status meant in
// X-Auth-Status and Retry-After kept.
func TestForwardNginxCompat(t *testing.T) {
	keys := &edgeKeys{}
	h := newEdgeServer(t, keys, httpapi.Options{TrustedProxies: []string{"127.0.0.1"}})
	nginx := []string{"X-Original-URI", "/api/v1/triggers"}
	w := serve(h, "GET", forward+"?compat=nginx", "127.0.0.1:1", "X-API-Key", spentKey, nginx[0], nginx[1])
	if w.Code != 403 || w.Header().Get("X-Auth-Status") != "429" || w.Header().Get("Retry-After") != "3" {
		t.Fatalf("spent budget: %d %v", w.Code, w.Header())
	}
	if code, _, _ := errorOf(t, w.Body.Bytes()); code != "rate_limited" || w.Header().Get("X-Auth-Code") != "rate_limited" {
		t.Fatalf("body %s", w.Body)
	}
	for _, c := range []struct {
		key    string
		status string
	}{{readKey, ""}, {"", ""}, {revokedKey, ""}} {
		w := serve(h, "GET", forward+"?compat=nginx", "127.0.0.1:1", "X-API-Key", c.key, nginx[0], nginx[1])
		if w.Header().Get("X-Auth-Status") != c.status {
			t.Fatalf("%d with X-Auth-Status %q", w.Code, w.Header().Get("X-Auth-Status"))
		}
	}
	keys.err = errDown
	w = serve(h, "GET", forward+"?compat=nginx", "127.0.0.1:1", "X-API-Key", readKey, nginx[0], nginx[1])
	if w.Code != 403 || w.Header().Get("X-Auth-Status") != "503" || w.Header().Get("Retry-After") == "" {
		t.Fatalf("unavailable: %d %v", w.Code, w.Header())
	}
	w = serve(h, "GET", forward, "127.0.0.1:1", "X-API-Key", readKey, nginx[0], nginx[1])
	if w.Code != 503 {
		t.Fatalf("unavailable without compat: %d", w.Code)
	}
	keys.err = nil
	for _, q := range []string{"?compat=apache", "?mode=nginx", "?compat=nginx&x=1"} {
		if w := serve(h, "GET", forward+q, "127.0.0.1:1", "X-API-Key", readKey, nginx[0], nginx[1]); w.Code != 400 {
			t.Fatalf("%s: %d", q, w.Code)
		}
	}
}

// TestForwardBearer: Authorization: Bearer sk_... is a key only with
// edge.accept_bearer; with both headers the request is ambiguous.
func TestForwardBearer(t *testing.T) {
	for _, accept := range []bool{false, true} {
		keys := &edgeKeys{}
		h := newEdgeServer(t, keys, httpapi.Options{AcceptBearer: accept})
		w := serve(h, "GET", forward+"/api/v1/triggers", "127.0.0.1:1", "Authorization", "Bearer "+readKey)
		if want := map[bool]int{false: 401, true: 200}[accept]; w.Code != want {
			t.Fatalf("accept %v: %d, want %d", accept, w.Code, want)
		}
		w = serve(h, "GET", forward+"/api/v1/triggers", "127.0.0.1:1", "Authorization", "Bearer "+readKey, "X-API-Key", readKey)
		if want := map[bool]int{false: 200, true: 400}[accept]; w.Code != want {
			t.Fatalf("accept %v, both: %d, want %d", accept, w.Code, want)
		}
		// A JWT is the API's own business.
		w = serve(h, "GET", forward+"/api/v1/triggers", "127.0.0.1:1", "Authorization", "Bearer eyJhbGciOi.x.y", "X-API-Key", readKey)
		if w.Code != 200 {
			t.Fatalf("accept %v, JWT and key: %d", accept, w.Code)
		}
	}
}
