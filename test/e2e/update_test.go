package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestUpdateKey changes each field of a key with PATCH (merge semantics),
// checks the full key shape answered and stored, the refusals (unknown
// fields, bad values, null where nothing may be cleared, a revoked key, a
// manage key reaching beyond itself), the key.updated event with each
// changed field before and after, and that a narrowed key is refused the
// dropped scope at once, here and on another instance within a second.
func TestUpdateKey(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		dir := t.TempDir()
		s := startIn(t, e, dir)
		tok := s.token("user_1", "org_123")
		id, secret := createKey(t, s, tok, `{"name":"Webhook","organization_id":"org_123","scopes":["triggers:read","events:read"]}`)
		want(t, s.do("GET", "/api/v1/auth/verify?scope=events:read", "", "X-API-Key", secret), 200) // cached

		patch := func(body string, headers ...string) response {
			if headers == nil {
				headers = bearer(tok)
			}
			return s.do("PATCH", "/api/v1/api-keys/"+id, body, append([]string{"Content-Type", "application/json"}, headers...)...)
		}
		expires := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
		r := patch(`{"name":"Webhook v2","scopes":["triggers:read"],"expires_at":"` + expires.Format(time.RFC3339) + `","rate_limit":{"limit":50,"window":"1m"}}`)
		want(t, r, http.StatusOK)
		got := r.json(t)
		for field, v := range map[string]any{"id": id, "name": "Webhook v2", "organization_id": "org_123", "environment": "test", "status": "active",
			"expires_at": expires.Format(time.RFC3339), "revoked_at": nil, "rotated_at": nil} {
			if got[field] != v {
				t.Errorf("PATCH answer %s = %v, want %v", field, got[field], v)
			}
		}
		if sc, _ := got["scopes"].([]any); len(sc) != 1 || sc[0] != "triggers:read" {
			t.Errorf("scopes = %v", got["scopes"])
		}
		if rl, _ := got["rate_limit"].(map[string]any); rl["limit"] != 50.0 || rl["window"] != "1m" {
			t.Errorf("rate_limit = %v", got["rate_limit"])
		}
		for _, f := range []string{"key_hint", "created_at", "last_used_at"} {
			if _, ok := got[f]; !ok {
				t.Errorf("PATCH answer lacks %s", f)
			}
		}
		if _, ok := got["key"]; ok {
			t.Error("PATCH answer carries a key")
		}
		stored := s.do("GET", "/api/v1/api-keys/"+id, "", bearer(tok)...).json(t)
		if stored["name"] != "Webhook v2" || stored["expires_at"] != expires.Format(time.RFC3339) {
			t.Errorf("stored key: %v", stored)
		}

		// The dropped scope is refused at once, the kept one works.
		want(t, s.do("GET", "/api/v1/auth/verify?scope=events:read", "", "X-API-Key", secret), 403)
		want(t, s.do("GET", "/api/v1/auth/verify?scope=triggers:read", "", "X-API-Key", secret), 200)

		// null clears the expiry and the rate limit; a member left out keeps its value.
		r = patch(`{"expires_at":null,"rate_limit":null}`)
		want(t, r, http.StatusOK)
		if got := r.json(t); got["expires_at"] != nil || got["rate_limit"] != nil || got["name"] != "Webhook v2" {
			t.Errorf("after clearing: %v", got)
		}

		for _, c := range []struct {
			body        string
			status      int
			code, field string
		}{
			{`{"nmae":"x"}`, 400, "unknown_field", "nmae"},
			{`{"environment":"live"}`, 400, "unknown_field", "environment"},
			{`{"name":null}`, 400, "invalid_type", "name"},
			{`{"name":""}`, 400, "invalid_name", "name"},
			{`{"scopes":[]}`, 400, "invalid_scope", "scopes"},
			{`{"scopes":["triggers:admin"]}`, 400, "invalid_scope", "scopes[0]"},
			{`{"expires_at":"2001-01-01T00:00:00Z"}`, 400, "invalid_expires_at", "expires_at"},
			{`{"rate_limit":{"limit":0,"window":"1m"}}`, 400, "invalid_rate_limit", "rate_limit.limit"},
			{`not json`, 400, "invalid_json", ""},
		} {
			r := patch(c.body)
			code, field := r.errorCode(t)
			if r.status != c.status || code != c.code || field != c.field {
				t.Errorf("PATCH %s: %d %s %s, want %d %s %s", c.body, r.status, code, field, c.status, c.code, c.field)
			}
		}
		if r := s.do("PATCH", "/api/v1/api-keys/key_doesnotexist00", `{"name":"x"}`, jsonBearer(tok)...); r.status != 404 {
			t.Errorf("PATCH of an unknown key: %d", r.status)
		}
		if r := s.do("PATCH", "/api/v1/api-keys/"+id, `{"name":"x"}`, jsonBearer(s.token("user_2", "org_456"))...); r.status != 404 {
			t.Errorf("PATCH of another organization's key: %d", r.status)
		}

		// A manage key changes only keys within itself, to scopes it holds.
		_, manager := createKey(t, s, tok, `{"name":"manager","organization_id":"org_123","scopes":["api-keys:manage","triggers:read"]}`)
		asKey := []string{"X-API-Key", manager}
		if code, _ := patch(`{"scopes":["triggers:read","events:read"]}`, asKey...).errorCode(t); code != "insufficient_scope" {
			t.Errorf("a manage key widening a key beyond itself: %s", code)
		}
		want(t, patch(`{"name":"renamed by a key"}`, asKey...), http.StatusOK)

		// The audit trail has each change with before and after.
		evs := s.auditLog("/api/v1/audit-logs?action=key.updated&key_id="+id, bearer(tok)...)
		if len(evs) != 3 {
			t.Fatalf("%d key.updated events, want 3: %v", len(evs), evs)
		}
		first := evs[len(evs)-1]
		changes, _ := first["details"].(map[string]any)["changes"].(map[string]any)
		for field, ba := range map[string][2]any{
			"name":       {"Webhook", "Webhook v2"},
			"expires_at": {nil, expires.Format(time.RFC3339)},
			"rate_limit": {nil, "50/1m"},
		} {
			c, _ := changes[field].(map[string]any)
			if c["before"] != ba[0] || c["after"] != ba[1] {
				t.Errorf("key.updated %s: %v, want %v -> %v", field, c, ba[0], ba[1])
			}
		}
		if first["actor"] != "user:user_1" || first["method"] != "PATCH" {
			t.Errorf("key.updated event: %v", first)
		}
		if evs[0]["actor"] == "user:user_1" {
			t.Errorf("the last update's actor is %v, want the manage key", evs[0]["actor"])
		}

		// Another instance picks a narrowing up like a revocation.
		b := startIn(t, e, dir)
		want(t, b.do("GET", "/api/v1/auth/verify?scope=triggers:read", "", "X-API-Key", secret), 200) // cached there
		want(t, patch(`{"scopes":["events:read"]}`), http.StatusOK)
		eventually(t, time.Second, "the other instance refuses the dropped scope", func() bool {
			return b.do("GET", "/api/v1/auth/verify?scope=triggers:read", "", "X-API-Key", secret).status == 403
		})

		// A revoked key cannot be changed.
		want(t, s.do("DELETE", "/api/v1/api-keys/"+id, "", bearer(tok)...), 204)
		if r := patch(`{"name":"too late"}`); r.status != 409 {
			t.Errorf("PATCH of a revoked key: %d", r.status)
		} else if code, _ := r.errorCode(t); code != "key_revoked" {
			t.Errorf("PATCH of a revoked key: %s", code)
		}
	})
}
