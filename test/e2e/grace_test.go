package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestRotationGracePeriod rotates with a short grace period: both secrets
// verify (the old one answered and headed as previous, with its end, and
// its use audited so), then only the new one, the old one a 401 audited
// as key.auth_failed with the key and outcome rotated, listed by the key's
// usage and by audit-logs?key_id; a second rotation during a grace period
// ends the first; a revocation during one ends both; bad grace periods are
// 400 invalid_grace_period.
func TestRotationGracePeriod(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		id, old := createKey(t, s, tok, `{"name":"fleet","organization_id":"org_123","scopes":["events:read"]}`)
		rotate := func(body string) response {
			t.Helper()
			if body == "" {
				return s.do("POST", "/api/v1/api-keys/"+id+"/rotate", "", bearer(tok)...)
			}
			return s.do("POST", "/api/v1/api-keys/"+id+"/rotate", body, jsonBearer(tok)...)
		}
		r := rotate(`{"grace_period":"3s"}`)
		want(t, r, http.StatusOK)
		rotatedAt := time.Now()
		rot := r.json(t)
		fresh := rot["key"].(string)
		for _, f := range []string{"status", "last_used_at", "revoked_at", "rotated_at", "previous_key_hint", "previous_key_expires_at"} {
			if _, ok := rot[f]; !ok {
				t.Errorf("rotate answer lacks %s", f)
			}
		}
		end := parseTime(t, rot["previous_key_expires_at"])
		if d := end.Sub(parseTime(t, rot["rotated_at"])); d != 3*time.Second {
			t.Errorf("previous secret ends %s after the rotation, want 3s", d)
		}

		// Both work; the old one says it is the previous secret.
		r = s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", old, "X-Request-ID", "grace-old")
		want(t, r, 200)
		v := r.json(t)
		if v["secret"] != "previous" || r.header.Get("X-Key-Secret") != "previous" || v["key_id"] != id ||
			!parseTime(t, v["secret_expires_at"]).Equal(end) || r.header.Get("X-Key-Secret-Expires-At") != end.UTC().Format(time.RFC3339) {
			t.Errorf("old secret in the grace period: %v %v", v, r.header)
		}
		r = s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", fresh)
		want(t, r, 200)
		if r.json(t)["secret"] != "current" || r.header.Get("X-Key-Secret") != "current" || r.header.Get("X-Key-Secret-Expires-At") != "" {
			t.Errorf("new secret: %s %v", r.body, r.header)
		}
		if got := s.do("GET", "/api/v1/api-keys/"+id, "", bearer(tok)...).json(t); got["previous_key_hint"] == nil {
			t.Errorf("GET during the grace period: %v", got)
		}

		// After the period, only the new one.
		time.Sleep(time.Until(rotatedAt.Add(3500 * time.Millisecond)))
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", old, "X-Request-ID", "grace-over"), 401)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", fresh), 200)
		if got := s.do("GET", "/api/v1/api-keys/"+id, "", bearer(tok)...).json(t); got["previous_key_hint"] != nil {
			t.Errorf("GET after the grace period: %v", got)
		}
		eventually(t, 5*time.Second, "the rotated-away use is listed", func() bool {
			return len(requestIDs(s.auditLog("/api/v1/api-keys/"+id+"/usage", bearer(tok)...), "key.auth_failed")) == 1
		})
		usage := s.auditLog("/api/v1/api-keys/"+id+"/usage", bearer(tok)...)
		wantFields(t, "rotated-away use", findEvent(t, usage, map[string]any{"client_request_id": "grace-over"}), map[string]any{
			"action": "key.auth_failed", "key_id": id, "organization_id": "org_123", "outcome": "rotated", "status": 401.0})
		used := findEvent(t, usage, map[string]any{"client_request_id": "grace-old"})
		if d, _ := used["details"].(map[string]any); used["action"] != "key.used" || d["secret"] != "previous" {
			t.Errorf("use of the previous secret: %v", used)
		}
		byKey := s.auditLog("/api/v1/audit-logs?key_id="+id+"&action=key.auth_failed", bearer(tok)...)
		if len(byKey) != 1 || byKey[0]["outcome"] != "rotated" {
			t.Errorf("audit-logs?key_id: %v", byKey)
		}

		// A second rotation during a grace period ends the first.
		r = rotate(`{"grace_period":"1h"}`)
		want(t, r, 200)
		second := r.json(t)["key"].(string)
		r = rotate(`{"grace_period":"1h"}`)
		want(t, r, 200)
		third := r.json(t)["key"].(string)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", fresh), 401)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", second), 200)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", third), 200)

		// Revoking ends both.
		want(t, s.do("DELETE", "/api/v1/api-keys/"+id, "", bearer(tok)...), 204)
		for _, k := range []string{old, fresh, second, third} {
			want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", k), 401)
		}

		other, _ := createKey(t, s, tok, `{"name":"x","organization_id":"org_123","scopes":["events:read"]}`)
		for _, body := range []string{`{"grace_period":"8d"}`, `{"grace_period":"-1h"}`, `{"grace_period":"soon"}`, `{"grace_period":"169h"}`} {
			r := s.do("POST", "/api/v1/api-keys/"+other+"/rotate", body, jsonBearer(tok)...)
			if code, field := r.errorCode(t); r.status != 400 || code != "invalid_grace_period" || field != "grace_period" {
				t.Errorf("rotate %s: %d %s %s", body, r.status, code, field)
			}
		}
		if code, _ := s.do("POST", "/api/v1/api-keys/"+other+"/rotate", `{"grace":"1h"}`, jsonBearer(tok)...).errorCode(t); code != "unknown_field" {
			t.Errorf("unknown rotate field: %s", code)
		}
		want(t, s.do("POST", "/api/v1/api-keys/"+other+"/rotate", `{"grace_period":"7d"}`, jsonBearer(tok)...), 200)
		want(t, s.do("POST", "/api/v1/api-keys/"+other+"/rotate", `{}`, jsonBearer(tok)...), 200)
	})
}
