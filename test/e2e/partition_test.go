package e2e

import (
	"testing"
	"time"

	"github.com/agentauri/apikeys/test/faultproxy"
)

// TestPartitionedInstanceFailsClosed runs three instances on one
// database, the third behind a TCP proxy that is then blocked, as in a
// network partition. A key revoked on the first is never answered 200 by
// the partitioned instance later than security.max_staleness plus one
// invalidation poll after the revocation: once its last successful poll
// is older than that, it answers verifications 503 with Retry-After
// instead of from its cache. When the link returns it serves again
// without a restart, and refuses the revoked key.
func TestPartitionedInstanceFailsClosed(t *testing.T) {
	const (
		maxStaleness = time.Second
		poll         = 250 * time.Millisecond
	)
	// An embedded database cannot be partitioned from its process: the
	// shared databases only.
	forEachSharedDatabase(t, func(t *testing.T, e env) {
		dir := t.TempDir()
		a := startIn(t, e, dir)
		b := startIn(t, e, dir)
		proxy, proxied := faultproxy.StartDSN(t, e.driver, e.dsn)
		c := startIn(t, env{driver: e.driver, dsn: proxied}, dir,
			"APIKEYS_SECURITY_MAX_STALENESS=1s", "APIKEYS_SECURITY_INVALIDATION_POLL=250ms", "APIKEYS_STORAGE_QUERY_TIMEOUT=1s")
		tok := a.token("user_1", "org_123")
		body := `{"name":"partitioned","organization_id":"org_123","scopes":["events:read"]}`
		r := a.do("POST", "/api/v1/api-keys", body, jsonBearer(tok)...)
		want(t, r, 201)
		id, secret := r.json(t)["id"].(string), r.json(t)["key"].(string)
		r = b.do("POST", "/api/v1/api-keys", body, jsonBearer(tok)...)
		want(t, r, 201)
		other := r.json(t)["key"].(string)
		for _, s := range []*server{a, b, c} {
			want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret), 200) // cached everywhere
		}
		want(t, c.do("GET", "/api/v1/auth/verify", "", "X-API-Key", other), 200)

		proxy.Stall()
		want(t, a.do("DELETE", "/api/v1/api-keys/"+id, "", bearer(tok)...), 204)
		revokedAt := time.Now()
		eventually(t, time.Second, "instance B refuses the revoked key", func() bool {
			return b.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret).status == 401
		})

		// The partitioned instance: ask until well past the bound.
		var last200 time.Time
		saw503 := false
		for time.Since(revokedAt) < 3*maxStaleness {
			sent := time.Now()
			r := c.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret)
			switch r.status {
			case 200:
				last200 = sent
			case 503:
				saw503 = true
				if r.header.Get("Retry-After") == "" {
					t.Fatal("503 without Retry-After")
				}
				if code, _ := r.errorCode(t); code != "service_unavailable" {
					t.Fatalf("503 with code %q", code)
				}
			default:
				t.Fatalf("partitioned instance answered %d: %s", r.status, r.body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if bound := maxStaleness + poll; !last200.IsZero() && last200.Sub(revokedAt) > bound {
			t.Errorf("the partitioned instance answered 200 for the revoked key %s after the revocation (bound %s)",
				last200.Sub(revokedAt).Round(time.Millisecond), bound)
		}
		if !saw503 {
			t.Fatal("the partitioned instance never failed closed")
		}
		if !last200.IsZero() {
			t.Logf("%s: last 200 for the revoked key %s after the revocation", e.driver, last200.Sub(revokedAt).Round(time.Millisecond))
		}

		proxy.Restore()
		eventually(t, 10*time.Second, "the partitioned instance serves again after the link returns", func() bool {
			return c.do("GET", "/api/v1/auth/verify", "", "X-API-Key", other).status == 200
		})
		want(t, c.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret), 401)
	})
}
