package e2e

import (
	"testing"
	"time"
)

// TestTwoInstancesShareRevocation runs two servers on one database: a key
// revoked or rotated on one is refused by the other within a second, even
// though the other had it cached.
func TestTwoInstancesShareRevocation(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		dir := t.TempDir()
		a := startIn(t, e, dir)
		b := startIn(t, e, dir)
		tok := a.token("user_1", "org_123")
		create := func() (string, string) {
			r := a.do("POST", "/api/v1/api-keys", `{"name":"shared","organization_id":"org_123","scopes":["events:read"]}`, jsonBearer(tok)...)
			want(t, r, 201)
			return r.json(t)["id"].(string), r.json(t)["key"].(string)
		}
		id1, k1 := create()
		id2, k2 := create()
		for _, s := range []*server{a, b} {
			for _, k := range []string{k1, k2} {
				want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", k), 200) // now cached on both
			}
		}

		want(t, a.do("DELETE", "/api/v1/api-keys/"+id1, "", bearer(tok)...), 204)
		revokedAt := time.Now()
		want(t, a.do("GET", "/api/v1/auth/verify", "", "X-API-Key", k1), 401)
		eventually(t, time.Second, "instance B refuses the revoked key", func() bool {
			return b.do("GET", "/api/v1/auth/verify", "", "X-API-Key", k1).status == 401
		})
		t.Logf("%s: revocation reached the other instance after %s", e.driver, time.Since(revokedAt).Round(time.Millisecond))

		r := b.do("POST", "/api/v1/api-keys/"+id2+"/rotate", "", bearer(tok)...)
		want(t, r, 200)
		fresh := r.json(t)["key"].(string)
		want(t, b.do("GET", "/api/v1/auth/verify", "", "X-API-Key", k2), 401)
		eventually(t, time.Second, "instance A refuses the rotated-away key", func() bool {
			return a.do("GET", "/api/v1/auth/verify", "", "X-API-Key", k2).status == 401
		})
		want(t, a.do("GET", "/api/v1/auth/verify", "", "X-API-Key", fresh), 200)
		// It stays refused: a later poll must not bring the old entry back.
		time.Sleep(300 * time.Millisecond)
		want(t, a.do("GET", "/api/v1/auth/verify", "", "X-API-Key", k1), 401)
		want(t, b.do("GET", "/api/v1/auth/verify", "", "X-API-Key", k2), 401)
	})
}
