package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestListFilters lists keys by status (comma list), expiry ahead,
// disuse, and last use; total counts the filter; bad values are 400
// naming the parameter.
func TestListFilters(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		create := func(name, extra string) (string, string) {
			return createKey(t, s, tok, `{"name":"`+name+`","organization_id":"org_123","scopes":["events:read"]`+extra+`}`)
		}
		soon := time.Now().Add(2 * time.Second)
		usedID, used := create("used", "")
		idleID, _ := create("idle", "")
		expiringID, _ := create("expiring", `,"expires_at":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"`)
		expiredID, _ := create("expired", `,"expires_at":"`+soon.UTC().Format(time.RFC3339Nano)+`"`)
		revokedID, _ := create("revoked", "")
		want(t, s.do("DELETE", "/api/v1/api-keys/"+revokedID, "", bearer(tok)...), 204)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", used), 200)
		eventually(t, 5*time.Second, "last_used_at is recorded", func() bool {
			return s.do("GET", "/api/v1/api-keys/"+usedID, "", bearer(tok)...).json(t)["last_used_at"] != nil
		})
		time.Sleep(time.Until(soon.Add(200 * time.Millisecond)))

		ids := func(query string) ([]string, float64) {
			t.Helper()
			r := s.do("GET", "/api/v1/api-keys?"+query, "", bearer(tok)...)
			want(t, r, http.StatusOK)
			var out []string
			for _, k := range r.json(t)["data"].([]any) {
				out = append(out, k.(map[string]any)["id"].(string))
			}
			return out, r.json(t)["total"].(float64)
		}
		sorted := func(v ...string) []string { slices.Sort(v); return v }
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"status=expired", []string{expiredID}},
			{"status=revoked", []string{revokedID}},
			{"status=active", []string{usedID, idleID, expiringID}},
			{"status=active,revoked", []string{usedID, idleID, expiringID, revokedID}},
			{"expiring_within=2h", []string{expiringID}},
			{"expiring_within=1s", nil},
			{"unused_for=1h", []string{idleID, expiringID, expiredID}},
			{"unused_for=30d&status=active", []string{idleID, expiringID}},
		} {
			got, total := ids(c.query)
			if !slices.Equal(sorted(got...), sorted(c.want...)) || int(total) != len(c.want) {
				t.Errorf("%s: %v (total %v), want %v", c.query, got, total, c.want)
			}
		}
		if got, _ := ids("sort=last_used_at"); len(got) == 0 || got[0] != usedID {
			t.Errorf("sort=last_used_at: %v, want %s first", got, usedID)
		}
		if got, _ := ids("sort=last_used_at&limit=1"); len(got) != 1 || got[0] != usedID {
			t.Errorf("sort=last_used_at&limit=1: %v", got)
		}
		for q, field := range map[string]string{"status=gone": "status", "expiring_within=soon": "expiring_within",
			"unused_for=-1h": "unused_for", "sort=name": "sort"} {
			r := s.do("GET", "/api/v1/api-keys?"+q, "", bearer(tok)...)
			if _, f := r.errorCode(t); r.status != 400 || f != field {
				t.Errorf("%s: %d field %q, want 400 %s", q, r.status, f, field)
			}
		}
	})
}
