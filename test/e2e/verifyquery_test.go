package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestVerifyScopeChecksFailClosed sends /auth/verify every query that once
// answered 200 for a key lacking the scope asked for: a second scope
// parameter, an empty scope, a misspelt or bracketed parameter name. Each
// must now fail: repeated scopes are all required (403 naming the missing
// ones), an empty scope is 400 invalid_scope, an unknown parameter 400
// invalid_query naming it. The usage events say which scopes were
// required and which were missing.
func TestVerifyScopeChecksFailClosed(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		id, secret := createKey(t, s, tok, `{"name":"reader","scopes":["triggers:read"]}`)
		_, both := createKey(t, s, tok, `{"name":"both","scopes":["triggers:read","events:read"]}`)
		verify := func(query, key, rid string) response {
			return s.do("GET", "/api/v1/auth/verify"+query, "", "X-API-Key", key, "X-Request-Id", rid)
		}

		// Repeated scope parameters: every one is required.
		r := verify("?scope=triggers:read&scope=events:read", secret, "e2e-scopes-denied")
		want(t, r, 403)
		if code, _ := r.errorCode(t); code != "insufficient_scope" {
			t.Fatalf("code %s: %s", code, r.body)
		}
		if msg := r.json(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "events:read") || strings.Contains(msg, "triggers:read") {
			t.Errorf("403 message %q: want it to name events:read, the missing scope, and only it", msg)
		}
		want(t, verify("?scope=events:read&scope=triggers:read", both, "e2e-scopes-ok"), 200)
		want(t, verify("?scope=triggers:read&scope=triggers:read", secret, "e2e-scopes-dup"), 200)

		// Empty and unknown values, unknown parameter names.
		for _, c := range []struct{ query, code, field string }{
			{"?scope=", "invalid_scope", "scope"},
			{"?scope", "invalid_scope", "scope"},
			{"?scope=triggers:read&scope=", "invalid_scope", "scope"},
			{"?scope=triggers:read,events:read", "invalid_scope", "scope"},
			{"?Scope=events:read", "invalid_query", "Scope"},
			{"?SCOPE=events:read", "invalid_query", "SCOPE"},
			{"?scope[]=events:read", "invalid_query", "scope[]"},
			{"?scopes=events:read", "invalid_query", "scopes"},
			{"?scope=triggers:read&scop=events:read", "invalid_query", "scop"},
			{"?=events:read", "invalid_query", ""},
		} {
			r := verify(c.query, secret, "e2e-bad-query")
			if r.status != 400 {
				t.Errorf("%s: status %d, want 400: %s", c.query, r.status, r.body)
				continue
			}
			code, field := r.errorCode(t)
			if code != c.code || field != c.field {
				t.Errorf("%s: code %q field %q, want %q %q: %s", c.query, code, field, c.code, c.field, r.body)
			}
			if c.code == "invalid_query" && !strings.Contains(r.json(t)["error"].(map[string]any)["message"].(string), `"`+c.field+`"`) {
				t.Errorf("%s: the message does not name the parameter: %s", c.query, r.body)
			}
		}
		// Every scope at once: the event keeps all of them (95 characters,
		// wider than the column was before migration 00007) and the
		// chains still verify.
		allID, all := createKey(t, s, tok, `{"name":"all","scopes":["triggers:read","triggers:write","events:read","organizations:read","organizations:write","api-keys:manage"]}`)
		want(t, verify("?scope=api-keys:manage&scope=organizations:write&scope=organizations:read&scope=events:read&scope=triggers:write&scope=triggers:read", all, "e2e-scope-all"), 200)
		eventually(t, 10*time.Second, "the use of every scope is recorded", func() bool {
			return len(s.auditLog("/api/v1/api-keys/"+allID+"/usage", bearer(tok)...)) == 1
		})
		wantFields(t, "every scope", s.auditLog("/api/v1/api-keys/"+allID+"/usage", bearer(tok)...)[0], map[string]any{
			"client_request_id": "e2e-scope-all", "action": "key.used",
			"scope": "triggers:read,triggers:write,events:read,organizations:read,organizations:write,api-keys:manage"})

		// A key that holds the scope still passes, with or without it asked.
		want(t, verify("?scope=triggers:read", secret, "e2e-scope-one"), 200)
		want(t, verify("", secret, "e2e-scope-none"), 200)

		// The usage events: the required scopes, comma-separated in the
		// documented order, and for a refusal the missing ones.
		var evs []map[string]any
		eventually(t, 10*time.Second, "the usage events are recorded", func() bool {
			evs = s.auditLog("/api/v1/api-keys/"+id+"/usage", bearer(tok)...)
			return len(evs) >= 4
		})
		denied := findEvent(t, evs, map[string]any{"client_request_id": "e2e-scopes-denied"})
		wantFields(t, "denied", denied, map[string]any{"action": "key.auth_failed", "outcome": "scope_denied",
			"status": float64(403), "scope": "triggers:read,events:read"})
		if d, _ := denied["details"].(map[string]any); d == nil || !slices.Equal(stringsOf(d["missing_scopes"]), []string{"events:read"}) {
			t.Errorf("denied: details %v, want missing_scopes [events:read]", denied["details"])
		}
		wantFields(t, "duplicate", findEvent(t, evs, map[string]any{"client_request_id": "e2e-scopes-dup"}),
			map[string]any{"action": "key.used", "scope": "triggers:read", "details": nil})
		wantFields(t, "no scope", findEvent(t, evs, map[string]any{"client_request_id": "e2e-scope-none"}),
			map[string]any{"action": "key.used", "scope": nil})
		for _, ev := range evs {
			if ev["client_request_id"] == "e2e-bad-query" {
				t.Errorf("a refused query was recorded as a use: %v", ev)
			}
		}
		if out := s.cli("audit", "verify"); !strings.Contains(out, "no problems found") {
			t.Errorf("audit verify: %s", out)
		}
	})
}
