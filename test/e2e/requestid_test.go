package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// serverRequestID is the form of the request ids the server makes.
var serverRequestID = regexp.MustCompile(`^req_[0-9a-f]{32}$`)

// TestClientCannotChooseTheRequestID: a caller's X-Request-Id, however
// server-like it looks, is never recorded as the request's id. The audit
// API shows the server's own id as request_id (the one echoed in
// X-Request-Id) and the caller's, when it has the safe form, only as
// client_request_id (echoed in X-Client-Request-Id); an unsafe one is
// dropped (null), on verifications and management calls alike.
func TestClientCannotChooseTheRequestID(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		id, secret := createKey(t, s, tok, `{"name":"ids","scopes":["triggers:read","api-keys:manage"]}`)

		type sent struct {
			what, clientID string
			kept           bool
			r              response
		}
		const spoofed = "req_SPOOFED00000000000000000000000"
		var calls []sent
		call := func(what, clientID string, kept bool, method, path string, headers ...string) {
			t.Helper()
			if clientID != "" {
				headers = append(headers, "X-Request-Id", clientID)
			}
			r := s.do(method, path, "", headers...)
			if r.status >= 300 {
				t.Fatalf("%s: status %d: %s", what, r.status, r.body)
			}
			calls = append(calls, sent{what, clientID, kept, r})
		}
		call("spoofed verify", spoofed, true, "GET", "/api/v1/auth/verify", "X-API-Key", secret)
		call("uuid verify", "0f8fad5b-d9cb-469f-a165-70867728950e", true, "GET", "/api/v1/auth/verify?scope=triggers:read", "X-API-Key", secret)
		call("unsafe verify", "req_SPOOFED<script>", false, "GET", "/api/v1/auth/verify", "X-API-Key", secret)
		call("overlong verify", strings.Repeat("A", 65), false, "GET", "/api/v1/auth/verify", "X-API-Key", secret)
		call("spaced verify", "req 1", false, "GET", "/api/v1/auth/verify", "X-API-Key", secret)
		call("no id verify", "", false, "GET", "/api/v1/auth/verify", "X-API-Key", secret)
		call("spoofed management by key", spoofed+"2", true, "GET", "/api/v1/api-keys", "X-API-Key", secret)
		call("unsafe rotation", "rot\u00e9", false, "POST", "/api/v1/api-keys/"+id+"/rotate", bearer(tok)...)

		seen := map[string]bool{}
		for _, c := range calls {
			rid := c.r.header.Get("X-Request-Id")
			if !serverRequestID.MatchString(rid) || seen[rid] {
				t.Fatalf("%s: X-Request-Id %q, want a new id of the server's", c.what, rid)
			}
			seen[rid] = true
			want := ""
			if c.kept {
				want = c.clientID
			}
			if got := c.r.header.Get("X-Client-Request-Id"); got != want {
				t.Errorf("%s: X-Client-Request-Id %q, want %q", c.what, got, want)
			}
		}

		var evs []map[string]any
		eventually(t, 10*time.Second, "every call recorded", func() bool {
			evs = s.auditLog("/api/v1/audit-logs?key_id="+id, bearer(tok)...)
			n := 0
			for _, ev := range evs {
				if seen[ev["request_id"].(string)] {
					n++
				}
			}
			return n == len(calls)
		})
		for _, ev := range evs {
			if rid, _ := ev["request_id"].(string); !serverRequestID.MatchString(rid) {
				t.Errorf("event %v: request_id %q is not one of the server's", ev["id"], rid)
			}
			if ev["request_id"] == spoofed || ev["request_id"] == spoofed+"2" {
				t.Errorf("the spoofed id was recorded as the request id: %v", ev)
			}
		}
		for _, c := range calls {
			ev := findEvent(t, evs, map[string]any{"request_id": c.r.header.Get("X-Request-Id")})
			var want any
			if c.kept {
				want = c.clientID
			}
			if ev["client_request_id"] != want {
				t.Errorf("%s: client_request_id %#v, want %#v (event %v)", c.what, ev["client_request_id"], want, ev)
			}
		}
	})
}
