package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestKeysCannotReachBeyondThemselves: a manage key may revoke or rotate
// only keys whose scopes it holds, a test key may create, rotate or revoke
// only test keys, and an expired key cannot be rotated into a secret that
// is dead on arrival. A token's user is not limited by scopes.
func TestKeysCannotReachBeyondThemselves(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		broadID, _ := createKey(t, s, tok, `{"name":"broad","organization_id":"org_123","scopes":["triggers:read","events:read"]}`)
		liveID, _ := createKey(t, s, tok, `{"name":"live","organization_id":"org_123","scopes":["triggers:read"],"environment":"live"}`)
		_, manager := createKey(t, s, tok, `{"name":"narrow manager","organization_id":"org_123","scopes":["api-keys:manage","triggers:read"]}`)
		asKey := []string{"X-API-Key", manager}

		cases := []struct {
			what, method, path, body string
			status                   int
			code, field              string
		}{
			{"revoke a broader key", "DELETE", "/api/v1/api-keys/" + broadID, "", 403, "insufficient_scope", ""},
			{"rotate a broader key", "POST", "/api/v1/api-keys/" + broadID + "/rotate", "", 403, "insufficient_scope", ""},
			{"create a live key", "POST", "/api/v1/api-keys", `{"name":"x","scopes":["triggers:read"],"environment":"live"}`, 403, "forbidden_environment", "environment"},
			{"rotate a live key", "POST", "/api/v1/api-keys/" + liveID + "/rotate", "", 403, "forbidden_environment", "environment"},
			{"revoke a live key", "DELETE", "/api/v1/api-keys/" + liveID, "", 403, "forbidden_environment", "environment"},
		}
		for _, c := range cases {
			headers := asKey
			if c.body != "" {
				headers = append([]string{"Content-Type", "application/json"}, asKey...)
			}
			r := s.do(c.method, c.path, c.body, headers...)
			code, field := r.errorCode(t)
			if r.status != c.status || code != c.code || field != c.field {
				t.Errorf("a narrow test key may %s: %d %s %s, want %d %s %s", c.what, r.status, code, field, c.status, c.code, c.field)
			}
		}
		// Nothing was changed by the refusals.
		for _, id := range []string{broadID, liveID} {
			r := s.do("GET", "/api/v1/api-keys/"+id, "", bearer(tok)...)
			want(t, r, http.StatusOK)
			if st := r.json(t)["status"]; st != "active" || r.json(t)["rotated_at"] != nil {
				t.Errorf("key %s after refused changes: status %v, rotated_at %v", id, st, r.json(t)["rotated_at"])
			}
		}
		// Within its reach it works.
		okID, _ := createKey(t, s, tok, `{"name":"reachable","organization_id":"org_123","scopes":["triggers:read"]}`)
		want(t, s.do("POST", "/api/v1/api-keys/"+okID+"/rotate", "", asKey...), 200)
		want(t, s.do("DELETE", "/api/v1/api-keys/"+okID, "", asKey...), 204)
		// A user revokes any key of its organizations.
		want(t, s.do("DELETE", "/api/v1/api-keys/"+broadID, "", bearer(tok)...), 204)

		soon := time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano)
		expID, _ := createKey(t, s, tok, `{"name":"expiring","organization_id":"org_123","scopes":["events:read"],"expires_at":"`+soon+`"}`)
		time.Sleep(2100 * time.Millisecond)
		r := s.do("POST", "/api/v1/api-keys/"+expID+"/rotate", "", bearer(tok)...)
		if code, _ := r.errorCode(t); r.status != 409 || code != "key_expired" {
			t.Errorf("rotating an expired key: %d %s, want 409 key_expired", r.status, code)
		}
	})
}
