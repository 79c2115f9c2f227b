package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestIPAllowlist creates keys fenced to networks and verifies them from
// inside and outside, first as the direct peer (127.0.0.1), then behind a
// trusted proxy whose X-Forwarded-For names the client: a refused address
// gets 403 ip_not_allowed (verify and the management API alike) and a
// key.auth_failed event with the key, the outcome and the address.
func TestIPAllowlist(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		r := s.do("POST", "/api/v1/api-keys", `{"name":"fenced","organization_id":"org_123","scopes":["events:read"],"ip_allowlist":["203.0.113.77/24","2001:db8::/32"]}`, jsonBearer(tok)...)
		want(t, r, http.StatusCreated)
		fenced, fencedID := r.json(t)["key"].(string), r.json(t)["id"].(string)
		if got := fmt.Sprint(r.json(t)["ip_allowlist"]); got != "[203.0.113.0/24 2001:db8::/32]" {
			t.Errorf("created allowlist %s, want normalized", got)
		}
		_, local := createKey(t, s, tok, `{"name":"local","organization_id":"org_123","scopes":["events:read","api-keys:manage"],"ip_allowlist":["127.0.0.1"]}`)

		r = s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", fenced)
		if code, _ := r.errorCode(t); r.status != 403 || code != "ip_not_allowed" {
			t.Errorf("outside: %d %s", r.status, r.body)
		}
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", local), 200)
		want(t, s.do("GET", "/api/v1/api-keys", "", "X-API-Key", local), 200)
		// X-Forwarded-For from an untrusted peer changes nothing.
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", fenced, "X-Forwarded-For", "203.0.113.5"), 403)

		// Fence the manage key elsewhere: the management API refuses it too.
		localID := s.do("GET", "/api/v1/api-keys?limit=100", "", bearer(tok)...).json(t)["data"].([]any)[0].(map[string]any)["id"].(string)
		r = s.do("PATCH", "/api/v1/api-keys/"+localID, `{"ip_allowlist":["192.0.2.0/24"]}`, jsonBearer(tok)...)
		want(t, r, http.StatusOK)
		if code, _ := s.do("GET", "/api/v1/api-keys", "", "X-API-Key", local).errorCode(t); code != "ip_not_allowed" {
			t.Errorf("fenced manage key: %s", code)
		}
		want(t, s.do("PATCH", "/api/v1/api-keys/"+localID, `{"ip_allowlist":null}`, jsonBearer(tok)...), http.StatusOK)
		want(t, s.do("GET", "/api/v1/api-keys", "", "X-API-Key", local), 200)

		for _, c := range []struct{ body, field string }{
			{`{"name":"x","organization_id":"org_123","scopes":["events:read"],"ip_allowlist":["example.com"]}`, "ip_allowlist[0]"},
			{`{"name":"x","organization_id":"org_123","scopes":["events:read"],"ip_allowlist":["10.0.0.0/8","10.0.0.0/33"]}`, "ip_allowlist[1]"},
			{`{"name":"x","organization_id":"org_123","scopes":["events:read"],"ip_allowlist":[` + manyNetworks(101) + `]}`, "ip_allowlist"},
		} {
			r := s.do("POST", "/api/v1/api-keys", c.body, jsonBearer(tok)...)
			if code, field := r.errorCode(t); r.status != 400 || code != "invalid_ip_allowlist" || field != c.field {
				t.Errorf("bad allowlist: %d %s %s, want 400 invalid_ip_allowlist %s", r.status, code, field, c.field)
			}
		}
		want(t, s.do("POST", "/api/v1/api-keys", `{"name":"x","organization_id":"org_123","scopes":["events:read"],"ip_allowlist":[`+manyNetworks(100)+`]}`, jsonBearer(tok)...), 201)

		eventually(t, 5*time.Second, "the refusal is audited", func() bool {
			return len(s.auditLog("/api/v1/audit-logs?action=key.auth_failed&key_id="+fencedID, bearer(tok)...)) == 2
		})
		ev := s.auditLog("/api/v1/audit-logs?action=key.auth_failed&key_id="+fencedID, bearer(tok)...)[0]
		wantFields(t, "refusal", ev, map[string]any{"outcome": "ip_not_allowed", "client_ip": "127.0.0.1", "status": 403.0, "organization_id": "org_123"})
	})

	// Behind a trusted proxy, the forwarded client address decides.
	s := start(t, env{driver: "sqlite"}, "APIKEYS_HTTP_TRUSTED_PROXIES=127.0.0.1")
	tok := s.token("user_1", "org_123")
	id, fenced := createKey(t, s, tok, `{"name":"fenced","organization_id":"org_123","scopes":["events:read"],"ip_allowlist":["203.0.113.0/24","2001:db8::/32"]}`)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", fenced, "X-Forwarded-For", "203.0.113.50"), 200)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", fenced, "X-Real-IP", "2001:db8::9"), 200)
	r := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", fenced, "X-Forwarded-For", "198.51.100.23")
	if code, _ := r.errorCode(t); r.status != 403 || code != "ip_not_allowed" || !strings.Contains(string(r.body), "198.51.100.23") {
		t.Errorf("forwarded outside: %d %s", r.status, r.body)
	}
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", fenced), 403) // the proxy itself is outside
	eventually(t, 5*time.Second, "the refusals are audited", func() bool {
		return len(s.auditLog("/api/v1/audit-logs?action=key.auth_failed&key_id="+id, bearer(tok)...)) == 2
	})
	evs := s.auditLog("/api/v1/audit-logs?action=key.auth_failed&key_id="+id, bearer(tok)...)
	wantFields(t, "forwarded refusal", evs[1], map[string]any{"outcome": "ip_not_allowed", "client_ip": "198.51.100.23"})
}

// manyNetworks is n distinct networks as JSON strings, comma-separated.
func manyNetworks(n int) string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`"10.%d.%d.0/24"`, i/256, i%256)
	}
	return strings.Join(out, ",")
}

// TestMetadata stores metadata with a key and reads it back from create,
// GET, list and verify (JSON only, never a header), merges a PATCH into it
// (RFC 7396), clears it with null, and refuses what is too big, too deep,
// or not an object.
func TestMetadata(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		meta := `{"customer":"cus_42","plan":{"tier":"pro","seats":[5]},"note":"héllo"}`
		r := s.do("POST", "/api/v1/api-keys", `{"name":"m","organization_id":"org_123","scopes":["events:read"],"metadata":`+meta+`}`, jsonBearer(tok)...)
		want(t, r, http.StatusCreated)
		id, secret := r.json(t)["id"].(string), r.json(t)["key"].(string)
		check := func(what string, got any, want string) {
			t.Helper()
			var w any
			if err := json.Unmarshal([]byte(want), &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("%s metadata %v, want %s", what, got, want)
			}
		}
		check("create", r.json(t)["metadata"], meta)
		check("GET", s.do("GET", "/api/v1/api-keys/"+id, "", bearer(tok)...).json(t)["metadata"], meta)
		check("list", s.do("GET", "/api/v1/api-keys", "", bearer(tok)...).json(t)["data"].([]any)[0].(map[string]any)["metadata"], meta)
		v := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret)
		want(t, v, 200)
		check("verify", v.json(t)["metadata"], meta)
		for name := range v.header {
			if strings.Contains(strings.ToLower(name), "metadata") {
				t.Errorf("verify sends metadata in header %s", name)
			}
		}

		r = s.do("PATCH", "/api/v1/api-keys/"+id, `{"metadata":{"plan":{"tier":"enterprise","seats":null},"note":null,"region":"eu"}}`, jsonBearer(tok)...)
		want(t, r, http.StatusOK)
		merged := `{"customer":"cus_42","plan":{"tier":"enterprise"},"region":"eu"}`
		check("merged", r.json(t)["metadata"], merged)
		check("verify after the merge", s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret).json(t)["metadata"], merged)
		r = s.do("PATCH", "/api/v1/api-keys/"+id, `{"metadata":null}`, jsonBearer(tok)...)
		want(t, r, http.StatusOK)
		if r.json(t)["metadata"] != nil {
			t.Errorf("cleared metadata: %v", r.json(t)["metadata"])
		}

		big := `{"pad":"` + strings.Repeat("x", 1100) + `"}`
		for _, bad := range []string{big, `{"a":{"b":{"c":{"d":1}}}}`, `[1,2]`, `"cus_42"`, `{"a":1,"a":2}`} {
			r := s.do("POST", "/api/v1/api-keys", `{"name":"m","organization_id":"org_123","scopes":["events:read"],"metadata":`+bad+`}`, jsonBearer(tok)...)
			if code, field := r.errorCode(t); r.status != 400 || code != "invalid_metadata" || field != "metadata" {
				t.Errorf("create with metadata %.40s: %d %s %s", bad, r.status, code, field)
			}
			r = s.do("PATCH", "/api/v1/api-keys/"+id, `{"metadata":`+bad+`}`, jsonBearer(tok)...)
			if code, _ := r.errorCode(t); r.status != 400 || code != "invalid_metadata" {
				t.Errorf("PATCH with metadata %.40s: %d %s", bad, r.status, code)
			}
		}
		// Exactly 1 KiB is accepted.
		exact := `{"pad":"` + strings.Repeat("x", 1024-10) + `"}`
		want(t, s.do("POST", "/api/v1/api-keys", `{"name":"m","organization_id":"org_123","scopes":["events:read"],"metadata":`+exact+`}`, jsonBearer(tok)...), 201)
	})
}
