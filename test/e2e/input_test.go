package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestBadInputGetsClearErrors sends malformed requests and checks each gets
// the one error envelope with a stable code and the offending field.
func TestBadInputGetsClearErrors(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		cases := []struct {
			name, body string
			status     int
			code       string
			field      string
		}{
			{"malformed JSON", `{"name": "x",`, 400, "invalid_json", ""},
			{"not an object", `["x"]`, 400, "invalid_json", ""},
			{"empty body", ``, 400, "invalid_json", ""},
			{"trailing data", `{"name":"x","scopes":["events:read"]} {}`, 400, "invalid_json", ""},
			{"unknown field", `{"name":"x","scopes":["events:read"],"admin":true}`, 400, "unknown_field", "admin"},
			{"unknown scope", `{"name":"x","scopes":["triggers:read","triggers:admin"]}`, 400, "invalid_scope", "scopes[1]"},
			{"no scopes", `{"name":"x"}`, 400, "invalid_request", "scopes"},
			{"empty scopes", `{"name":"x","scopes":[]}`, 400, "invalid_scope", "scopes"},
			{"scopes not array", `{"name":"x","scopes":"events:read"}`, 400, "invalid_type", "scopes"},
			{"missing name", `{"scopes":["events:read"]}`, 400, "invalid_name", "name"},
			{"empty name", `{"name":"","scopes":["events:read"]}`, 400, "invalid_name", "name"},
			{"blank name", `{"name":"   ","scopes":["events:read"]}`, 400, "invalid_name", "name"},
			{"long name", `{"name":"` + strings.Repeat("n", 101) + `","scopes":["events:read"]}`, 400, "invalid_name", "name"},
			{"name not string", `{"name":5,"scopes":["events:read"]}`, 400, "invalid_type", "name"},
			{"bad environment", `{"name":"x","scopes":["events:read"],"environment":"prod"}`, 400, "invalid_environment", "environment"},
			{"bad expires_at", `{"name":"x","scopes":["events:read"],"expires_at":"tomorrow"}`, 400, "invalid_expires_at", "expires_at"},
			{"past expires_at", `{"name":"x","scopes":["events:read"],"expires_at":"2001-01-01T00:00:00Z"}`, 400, "invalid_expires_at", "expires_at"},
			{"empty organization", `{"name":"x","organization_id":"","scopes":["events:read"]}`, 400, "invalid_organization_id", "organization_id"},
			{"padded organization", `{"name":"x","organization_id":"org_123 ","scopes":["events:read"]}`, 400, "invalid_organization_id", "organization_id"},
			{"long organization", `{"name":"x","organization_id":"` + strings.Repeat("o", 129) + `","scopes":["events:read"]}`, 400, "invalid_organization_id", "organization_id"},
			{"too large", `{"name":"` + strings.Repeat("x", 70<<10) + `","scopes":["events:read"]}`, 413, "payload_too_large", ""},
		}
		for _, c := range cases {
			r := s.do("POST", "/api/v1/api-keys", c.body, jsonBearer(tok)...)
			if r.status != c.status {
				t.Errorf("%s: status %d, want %d: %s", c.name, r.status, c.status, r.body)
				continue
			}
			code, field := r.errorCode(t)
			if code != c.code || field != c.field {
				t.Errorf("%s: code %q field %q, want %q %q (%s)", c.name, code, field, c.code, c.field, r.body)
			}
		}
		r := s.do("POST", "/api/v1/api-keys", `{"name":"x","scopes":["events:read"]}`, "Authorization", "Bearer "+tok, "Content-Type", "text/plain")
		want(t, r, 415)
		for _, q := range []string{"limit=abc", "limit=0", "limit=-5", "cursor=%%%", "cursor=bm90LWEtY3Vyc29y", "include_revoked=maybe"} {
			r := s.do("GET", "/api/v1/api-keys?"+q, "", bearer(tok)...)
			if r.status != 400 {
				t.Errorf("%s: %d %s", q, r.status, r.body)
				continue
			}
			if _, field := r.errorCode(t); field == "" {
				t.Errorf("%s: no field named: %s", q, r.body)
			}
		}
		want(t, s.do("GET", "/api/v1/nothing-here", "", bearer(tok)...), 404)
		want(t, s.do("PUT", "/api/v1/api-keys", "", bearer(tok)...), 405)
		// Unicode names round-trip; 100 characters is the limit.
		name := strings.Repeat("鍵", 50) + strings.Repeat("🔑", 50)
		r = s.do("POST", "/api/v1/api-keys", fmt.Sprintf(`{"name":%q,"scopes":["events:read"]}`, name), jsonBearer(tok)...)
		want(t, r, 201)
		r = s.do("GET", "/api/v1/api-keys/"+r.json(t)["id"].(string), "", bearer(tok)...)
		if r.json(t)["name"] != name {
			t.Fatalf("name %v", r.json(t)["name"])
		}
		if strings.Contains(s.logs(), "goroutine ") || strings.Contains(s.logs(), "panic") {
			t.Fatalf("server log shows a panic:\n%s", s.logs())
		}
	})
}

// TestListPagination walks the list with a small limit and checks order,
// totals and that every key appears exactly once.
func TestListPagination(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123", "org_456")
		var ids []string
		for i := 0; i < 7; i++ {
			r := s.do("POST", "/api/v1/api-keys", fmt.Sprintf(`{"name":"k%d","organization_id":"org_123","scopes":["events:read"]}`, i), jsonBearer(tok)...)
			want(t, r, 201)
			ids = append([]string{r.json(t)["id"].(string)}, ids...) // newest first
		}
		want(t, s.do("POST", "/api/v1/api-keys", `{"name":"other","organization_id":"org_456","scopes":["events:read"]}`, jsonBearer(tok)...), 201)
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			r := s.do("GET", "/api/v1/api-keys?organization_id=org_123&limit=3&cursor="+cursor, "", bearer(tok)...)
			want(t, r, 200)
			m := r.json(t)
			if m["total"] != float64(7) {
				t.Fatalf("total %v", m["total"])
			}
			for _, d := range m["data"].([]any) {
				got = append(got, d.(map[string]any)["id"].(string))
			}
			next, ok := m["next_cursor"].(string)
			if !ok {
				break
			}
			cursor = next
		}
		if strings.Join(got, ",") != strings.Join(ids, ",") {
			t.Fatalf("pages %v, want %v", got, ids)
		}
		r := s.do("GET", "/api/v1/api-keys", "", bearer(tok)...)
		if r.json(t)["total"] != float64(8) {
			t.Fatalf("all organizations: %s", r.body)
		}
		r = s.do("GET", "/api/v1/api-keys?limit=1000", "", bearer(tok)...)
		want(t, r, 200)
	})
}
