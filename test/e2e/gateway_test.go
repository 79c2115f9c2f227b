package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// exampleRoutes is the documented API's route policy, as shipped.
const exampleRoutes = "../../configs/routes.example.yaml"

// testAPI is the upstream of the edge tests: the documented API's
// GET /api/v1/triggers, a POST that echoes, and what it received.
type testAPI struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []apiRequest
}

type apiRequest struct {
	method, uri, body string
	header            http.Header
	remote            string
}

const triggersJSON = `[{"id":"trg_1","name":"New block"},{"id":"trg_2","name":"Large transfer"}]`

func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	a := &testAPI{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.got = append(a.got, apiRequest{r.Method, r.RequestURI, string(body), r.Header.Clone(), r.RemoteAddr})
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/api/v1/triggers"):
			_, _ = io.WriteString(w, triggersJSON)
		case r.Method == "POST":
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(body)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"not found"}`)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testAPI) last(t *testing.T) apiRequest {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.got) == 0 {
		t.Fatal("the upstream received nothing")
	}
	return a.got[len(a.got)-1]
}

func (a *testAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.got)
}

// edgeKeys creates the keys of the edge tests: one with triggers:read,
// one without, one revoked.
func edgeKeys(t *testing.T, s *server, tok string) (reader, other, revoked string) {
	t.Helper()
	_, reader = createKey(t, s, tok, `{"name":"reader","organization_id":"org_123","scopes":["triggers:read","events:read"]}`)
	_, other = createKey(t, s, tok, `{"name":"events only","organization_id":"org_123","scopes":["events:read"]}`)
	id, revoked := createKey(t, s, tok, `{"name":"revoked","organization_id":"org_123","scopes":["triggers:read"]}`)
	want(t, s.do("DELETE", "/api/v1/api-keys/"+id, "", bearer(tok)...), 204)
	return reader, other, revoked
}

// TestGatewayRunsTheDocumentedExamples: apikeys in gateway mode with the
// shipped example policy in front of a test API; the documentation's
// Python and Node.js examples, unchanged but for the base URL, print the
// triggers; a key without triggers:read gets 403 and a revoked one 401;
// the API never sees a key and always sees the identity; the audit trail
// has the use with the API's status. On every database.
func TestGatewayRunsTheDocumentedExamples(t *testing.T) {
	python := requireTool(t, "the documented Python example", pythonWithRequests)
	modules := requireTool(t, "the documented Node.js example", installAxios)
	forEachDatabase(t, func(t *testing.T, e env) {
		api := newTestAPI(t)
		s := start(t, e, "APIKEYS_ROUTES_FILE="+exampleRoutes, "APIKEYS_GATEWAY_UPSTREAM="+api.srv.URL)
		tok := s.token("user_1", "org_123")
		reader, other, revoked := edgeKeys(t, s, tok)

		out, err := runPython(t, python, s.base, reader)
		if err != nil || !strings.HasPrefix(out, "200\n") || !sameJSON(t, strings.TrimPrefix(out, "200\n"), triggersJSON) {
			t.Fatalf("python example: %v\n%s", err, out)
		}
		up := api.last(t)
		if up.uri != "/api/v1/triggers" || up.header.Get("X-Api-Key") != "" || up.header.Get("X-Organization-Id") != "org_123" ||
			!strings.HasPrefix(up.header.Get("X-Key-Id"), "key_") || up.header.Get("X-Scopes") != "triggers:read,events:read" ||
			up.header.Get("X-Key-Environment") != "test" || up.header.Get("X-Forwarded-For") != "127.0.0.1" {
			t.Fatalf("the API received %s %v", up.uri, up.header)
		}
		out, err = runNode(t, modules, s.base, reader)
		if err != nil || !strings.Contains(out, "trg_1") || !strings.Contains(out, "Large transfer") {
			t.Fatalf("node example: %v\n%s", err, out)
		}

		before := api.count()
		out, err = runPython(t, python, s.base, other)
		if err != nil || !strings.HasPrefix(out, "403\n") || !strings.Contains(out, "insufficient_scope") {
			t.Fatalf("python example, key without triggers:read: %v\n%s", err, out)
		}
		out, err = runNode(t, modules, s.base, other)
		if err == nil || !strings.HasPrefix(out, "403\n") || !strings.Contains(out, "insufficient_scope") {
			t.Fatalf("node example, key without triggers:read: %v\n%s", err, out)
		}
		for _, run := range []func() (string, error){
			func() (string, error) { return runPython(t, python, s.base, revoked) },
			func() (string, error) { return runNode(t, modules, s.base, revoked) },
		} {
			if out, _ := run(); !strings.HasPrefix(out, "401\n") || !strings.Contains(out, "invalid_api_key") {
				t.Fatalf("revoked key: %s", out)
			}
		}
		if api.count() != before {
			t.Fatalf("refused requests reached the API")
		}

		// A POST body passes both ways; the route policy wants
		// triggers:write for it.
		_, writer := createKey(t, s, tok, `{"name":"writer","organization_id":"org_123","scopes":["triggers:write"]}`)
		r := s.do("POST", "/api/v1/triggers", `{"name":"t"}`, "X-API-Key", writer, "Content-Type", "application/json", "X-Request-ID", "gw-post")
		if r.status != 201 || string(r.body) != `{"name":"t"}` || api.last(t).body != `{"name":"t"}` {
			t.Fatalf("POST: %d %s", r.status, r.body)
		}
		// The upstream's status is the event's.
		r = s.do("GET", "/api/v1/triggers/../x", "", "X-API-Key", reader)
		if r.status != 400 {
			t.Fatalf("dot segments: %d %s", r.status, r.body)
		}
		eventually(t, 5*time.Second, "the POST's use in the audit trail", func() bool {
			evs := s.auditLog("/api/v1/audit-logs?action=key.used", bearer(tok)...)
			for _, ev := range evs {
				if ev["client_request_id"] == "gw-post" {
					wantFields(t, "gateway use", ev, map[string]any{"method": "POST", "path": "/api/v1/triggers", "status": float64(201), "client_ip": "127.0.0.1"})
					return true
				}
			}
			return false
		})
	})
}

// TestForwardAuthIsAudited: the forward-auth endpoint, called as nginx
// calls it from a trusted address, records the original method, path and
// client address; on every database.
func TestForwardAuthIsAudited(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e, "APIKEYS_ROUTES_FILE="+exampleRoutes, "APIKEYS_HTTP_TRUSTED_PROXIES=127.0.0.1")
		tok := s.token("user_1", "org_123")
		reader, other, revoked := edgeKeys(t, s, tok)
		nginx := func(key, method, uri, id string) response {
			return s.do("GET", "/api/v1/auth/forward?compat=nginx", "", "X-API-Key", key, "X-Original-Method", method,
				"X-Original-URI", uri, "X-Forwarded-For", "203.0.113.9", "X-Request-ID", id)
		}
		r := nginx(reader, "GET", "/api/v1/triggers/trg_1?expand=1", "fw-ok")
		if r.status != 200 || r.header.Get("X-Scopes") != "triggers:read,events:read" || r.header.Get("X-Organization-Id") != "org_123" {
			t.Fatalf("allowed: %d %v %s", r.status, r.header, r.body)
		}
		if r := nginx(other, "GET", "/api/v1/triggers", "fw-scope"); r.status != 403 {
			t.Fatalf("scope: %d %s", r.status, r.body)
		}
		if r := nginx(revoked, "GET", "/api/v1/triggers", "fw-revoked"); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("revoked: %d %s", r.status, r.body)
		}
		if r := nginx(reader, "DELETE", "/api/v1/triggers/trg_1", "fw-write"); r.status != 403 {
			t.Fatalf("write: %d %s", r.status, r.body)
		}
		if r := nginx(reader, "GET", "/api/v1/billing", "fw-none"); r.status != 403 || !strings.Contains(string(r.body), "no_route_policy") {
			t.Fatalf("no route: %d %s", r.status, r.body)
		}
		// Envoy's HTTP mode: the original path below the endpoint.
		if r := s.do("PUT", "/api/v1/auth/forward/api/v1/organizations/org_123", "", "X-API-Key", reader); r.status != 403 {
			t.Fatalf("envoy mode: %d %s", r.status, r.body)
		}
		eventually(t, 5*time.Second, "the forward-auth uses in the audit trail", func() bool {
			evs := s.auditLog("/api/v1/audit-logs", bearer(tok)...)
			found := 0
			for _, ev := range evs {
				switch ev["client_request_id"] {
				case "fw-ok":
					wantFields(t, "allowed", ev, map[string]any{"action": "key.used", "method": "GET", "path": "/api/v1/triggers/trg_1",
						"client_ip": "203.0.113.9", "status": float64(200)})
					found++
				case "fw-write":
					wantFields(t, "refused", ev, map[string]any{"action": "key.auth_failed", "method": "DELETE", "path": "/api/v1/triggers/trg_1",
						"outcome": "scope_denied", "status": float64(403)})
					found++
				}
			}
			return found == 2
		})
	})
}

// sameJSON reports whether two JSON documents hold the same value.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// TestGatewayContinuesTheTrace: with tracing on, the request to the
// upstream continues the caller's trace under apikeys' server span; with
// tracing off, the caller's traceparent reaches the upstream unchanged.
func TestGatewayContinuesTheTrace(t *testing.T) {
	const callerTrace, callerSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	traceparent := "00-" + callerTrace + "-" + callerSpan + "-01"
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	for _, traced := range []bool{true, false} {
		api := newTestAPI(t)
		extra := []string{"APIKEYS_ROUTES_FILE=" + exampleRoutes, "APIKEYS_GATEWAY_UPSTREAM=" + api.srv.URL}
		if traced {
			extra = append(extra, "OTEL_EXPORTER_OTLP_ENDPOINT="+collector.URL, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_BSP_SCHEDULE_DELAY=100")
		}
		s := start(t, env{driver: "sqlite"}, extra...)
		tok := s.token("user_1", "org_123")
		_, key := createKey(t, s, tok, `{"name":"traced","organization_id":"org_123","scopes":["triggers:read"]}`)
		r := s.do("GET", "/api/v1/triggers", "", "X-API-Key", key, "traceparent", traceparent)
		want(t, r, http.StatusOK)
		got := api.last(t).header.Get("Traceparent")
		if !traced {
			if got != traceparent {
				t.Fatalf("tracing off: the upstream got traceparent %q, want the caller's %q", got, traceparent)
			}
			continue
		}
		parts := strings.Split(got, "-")
		if len(parts) != 4 || parts[1] != callerTrace || parts[2] == callerSpan {
			t.Fatalf("tracing on: the upstream got traceparent %q, want trace %s under apikeys' span", got, callerTrace)
		}
		eventually(t, 10*time.Second, "apikeys' spans of the caller's trace", func() bool {
			for _, sp := range recv.spans() {
				if sp.traceID == callerTrace {
					return true
				}
			}
			return false
		})
	}
}
