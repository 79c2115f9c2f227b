package e2e

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/test/redistest"
)

// TestFailedAuthThrottling: after security.failed_auth.limit failures
// from one client address, that address's unproven keys get 429
// too_many_failed_attempts with Retry-After, without a database read; a
// key already proven on the instance keeps working from there; other
// addresses are unaffected; through trusted proxies each forwarded client
// has its own budget, and an untrusted X-Forwarded-For does not let a
// client escape its own; after the window the address is served again.
func TestFailedAuthThrottling(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		const limit = 20
		// The 429s are sent at once here (delay 0): a held answer would
		// let the 3s window refill while the test waits. The hold has a
		// test of its own below.
		s := start(t, e, "APIKEYS_SECURITY_FAILED_AUTH_LIMIT="+strconv.Itoa(limit), "APIKEYS_SECURITY_FAILED_AUTH_WINDOW=3s",
			"APIKEYS_SECURITY_FAILED_AUTH_DELAY=0", "APIKEYS_HTTP_TRUSTED_PROXIES=127.0.0.1")
		tok := s.token("user_1", "org_123")
		_, good := createKey(t, s, tok, `{"name":"proven","organization_id":"org_123","scopes":["events:read"]}`)
		unknown, err := apikey.Generate(rand.Reader, apikey.EnvTest) // well-formed, belongs to no key
		if err != nil {
			t.Fatal(err)
		}
		from := func(ip string, key string) response {
			return s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", key, "X-Forwarded-For", ip)
		}
		for range limit {
			want(t, from("203.0.113.5", unknown), 401)
		}
		// The budget refills one failure every window/limit (150ms): on a
		// slow machine the 20 failures may have earned one or two more.
		r := from("203.0.113.5", unknown)
		for extra := 0; r.status == 401 && extra < 5; extra++ {
			r = from("203.0.113.5", unknown)
		}
		if code, _ := r.errorCode(t); r.status != 429 || code != "too_many_failed_attempts" || r.header.Get("Retry-After") == "" {
			t.Fatalf("failures past %d from one address: %d %s Retry-After %q, want 429 too_many_failed_attempts", limit, r.status, code, r.header.Get("Retry-After"))
		}
		if r := from("203.0.113.5", "not-a-key"); r.status != 429 {
			t.Errorf("a malformed key from the throttled address: %d, want 429", r.status)
		}
		want(t, from("203.0.113.5", good), 200) // proven here: never locked out
		want(t, from("203.0.113.6", unknown), 401)
		// A /64 is one client: the next address in it is throttled too.
		for range limit {
			from("2001:db8:1:2::1", unknown)
		}
		if r := from("2001:db8:1:2::ffff", unknown); r.status != 429 {
			t.Errorf("another address of a throttled IPv6 /64: %d, want 429", r.status)
		}
		eventually(t, 6*time.Second, "the address is served again after the window", func() bool {
			return from("203.0.113.5", unknown).status == 401
		})

		// Without trusted proxies, X-Forwarded-For is the client's own
		// claim: it names no other budget.
		u := start(t, e, "APIKEYS_SECURITY_FAILED_AUTH_LIMIT="+strconv.Itoa(limit))
		for i := range limit {
			u.do("GET", "/api/v1/auth/verify", "", "X-API-Key", unknown, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
		}
		r = u.do("GET", "/api/v1/auth/verify", "", "X-API-Key", unknown, "X-Forwarded-For", "198.51.100.250")
		if r.status != 429 {
			t.Errorf("an untrusted X-Forwarded-For escaped the limit: %d", r.status)
		}
	})
}

// TestFailedAuthDelay: a throttled address's 429s are held for
// security.failed_auth.delay, so a client that floods waits; a proven key
// from the same address is answered without the hold.
func TestFailedAuthDelay(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		const limit, delay = 5, 400 * time.Millisecond
		s := start(t, e, "APIKEYS_SECURITY_FAILED_AUTH_LIMIT="+strconv.Itoa(limit), "APIKEYS_SECURITY_FAILED_AUTH_WINDOW=1h",
			"APIKEYS_SECURITY_FAILED_AUTH_DELAY="+delay.String())
		tok := s.token("user_1", "org_123")
		_, good := createKey(t, s, tok, `{"name":"proven","organization_id":"org_123","scopes":["events:read"]}`)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", good), 200)
		for range limit {
			want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", "sk_test_nope"), 401)
		}
		for range 2 {
			asked := time.Now()
			r := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", "sk_test_nope")
			took := time.Since(asked)
			if code, _ := r.errorCode(t); r.status != 429 || code != "too_many_failed_attempts" {
				t.Fatalf("after %d failures: %d %s, want 429 too_many_failed_attempts", limit, r.status, code)
			}
			if took < delay {
				t.Errorf("the 429 came after %s, want it held for security.failed_auth.delay (%s)", took, delay)
			}
		}
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", good), 200)
	})
}

// TestKeyRateLimit: a key with a limit of 5 per second gets exactly 5
// answers of 200 and then 429 rate_limited, every answer carrying the IETF
// RateLimit headers (and the 429 Retry-After); a refusal for scope spends
// nothing; the budget returns after the window.
func TestKeyRateLimit(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		r := s.do("POST", "/api/v1/api-keys", `{"name":"limited","organization_id":"org_123","scopes":["events:read"],"rate_limit":{"limit":5,"window":"1s"}}`, jsonBearer(tok)...)
		want(t, r, 201)
		if rl, _ := r.json(t)["rate_limit"].(map[string]any); rl["limit"] != float64(5) || rl["window"] != "1s" {
			t.Fatalf("created key's rate_limit: %v", r.json(t)["rate_limit"])
		}
		key := r.json(t)["key"].(string)
		for range 3 { // refused for scope: no budget spent
			if r := s.do("GET", "/api/v1/auth/verify?scope=triggers:write", "", "X-API-Key", key); r.status != 403 || r.header.Get("RateLimit-Limit") != "5" {
				t.Fatalf("scope refusal: %d, RateLimit-Limit %q", r.status, r.header.Get("RateLimit-Limit"))
			}
		}
		started := time.Now()
		for i := range 5 {
			r := s.do("GET", "/api/v1/auth/verify?scope=events:read", "", "X-API-Key", key)
			want(t, r, 200)
			if got := r.header.Get("RateLimit-Remaining"); got != strconv.Itoa(4-i) || r.header.Get("RateLimit-Limit") != "5" || r.header.Get("RateLimit-Reset") == "" {
				t.Errorf("use %d: RateLimit-Limit %q Remaining %q Reset %q", i+1, r.header.Get("RateLimit-Limit"), got, r.header.Get("RateLimit-Reset"))
			}
			if rl, _ := r.json(t)["rate_limit"].(map[string]any); rl["remaining"] != float64(4-i) {
				t.Errorf("use %d: rate_limit in the body %v", i+1, r.json(t)["rate_limit"])
			}
		}
		r = s.do("GET", "/api/v1/auth/verify?scope=events:read", "", "X-API-Key", key)
		if code, _ := r.errorCode(t); r.status != 429 || code != "rate_limited" || r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Remaining") != "0" {
			t.Fatalf("6th use within %s: %d %s, Retry-After %q, Remaining %q", time.Since(started), r.status, code, r.header.Get("Retry-After"), r.header.Get("RateLimit-Remaining"))
		}
		if time.Since(started) > time.Second {
			t.Logf("the six uses took %s: the refill may have granted more than the test could see", time.Since(started))
		}
		time.Sleep(1100 * time.Millisecond)
		want(t, s.do("GET", "/api/v1/auth/verify?scope=events:read", "", "X-API-Key", key), 200)
		// The refusal is audited, one event, with its outcome and the key.
		var limited int
		for _, ev := range s.auditLog("/api/v1/audit-logs?action=key.auth_failed", bearer(tok)...) {
			if ev["outcome"] == "rate_limited" && ev["key_id"] != nil && ev["status"] == float64(429) {
				limited++
			}
		}
		if limited != 1 {
			t.Errorf("%d key.auth_failed events with outcome rate_limited, want 1", limited)
		}
	})
}

// TestSharedBudgetThroughRedis: two instances on one database share a
// key's budget through Redis exactly (10 requests split across both: 5
// succeed); without Redis each instance has its own budget.
func TestSharedBudgetThroughRedis(t *testing.T) {
	url := redistest.URL(t)
	forEachDatabase(t, func(t *testing.T, e env) {
		for _, shared := range []bool{true, false} {
			t.Run(map[bool]string{true: "redis", false: "memory"}[shared], func(t *testing.T) {
				dir := t.TempDir()
				var extra []string
				if shared {
					extra = []string{"APIKEYS_RATELIMIT_REDIS_URL=" + url, "APIKEYS_RATELIMIT_REDIS_PREFIX=" + redistest.Prefix(t, url)}
				}
				a := startIn(t, e, dir, extra...)
				b := startIn(t, e, dir, extra...)
				tok := a.token("user_1", "org_123")
				r := a.do("POST", "/api/v1/api-keys", `{"name":"shared","organization_id":"org_123","scopes":["events:read"],"rate_limit":{"limit":5,"window":"1h"}}`, jsonBearer(tok)...)
				want(t, r, 201)
				key := r.json(t)["key"].(string)
				ok := 0
				for i := range 10 {
					s := []*server{a, b}[i%2]
					switch st := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", key).status; st {
					case 200:
						ok++
					case 429:
					default:
						t.Fatalf("request %d: %d", i, st)
					}
				}
				if want := map[bool]int{true: 5, false: 10}[shared]; ok != want {
					t.Errorf("%d of 10 requests across two instances succeeded, want %d", ok, want)
				}
			})
		}
	})
}

// TestRedisDownFailsOpen: with the Redis of its budgets killed, a limited
// key's verifications are allowed (fail open, the default: no RateLimit
// headers, since the budget is unknown), /readyz says so, and once Redis
// is back the budget is enforced again without a restart.
func TestRedisDownFailsOpen(t *testing.T) {
	redistest.URL(t) // the suite runs with Redis or says why not
	rs := redistest.StartServer(t)
	s := start(t, env{driver: "sqlite"}, "APIKEYS_RATELIMIT_REDIS_URL="+rs.URL())
	tok := s.token("user_1", "org_123")
	r := s.do("POST", "/api/v1/api-keys", `{"name":"limited","organization_id":"org_123","scopes":["events:read"],"rate_limit":{"limit":2,"window":"1h"}}`, jsonBearer(tok)...)
	want(t, r, 201)
	key := r.json(t)["key"].(string)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", key), 200)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", key), 200)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", key), 429)

	rs.Kill()
	for range 5 {
		r := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", key)
		if r.status != 200 || r.header.Get("RateLimit-Remaining") != "" {
			t.Fatalf("with Redis down: %d, RateLimit-Remaining %q; want 200 without budget headers (fail open)", r.status, r.header.Get("RateLimit-Remaining"))
		}
	}
	r = s.do("GET", "/readyz", "")
	if r.status != 200 {
		t.Fatalf("readyz with Redis down: %d", r.status)
	}
	if rl, _ := r.json(t)["rate_limiter"].(map[string]any); rl["redis_up"] != false || rl["backend"] != "redis" {
		t.Errorf("readyz detail with Redis down: %v", r.json(t))
	}
	if !strings.Contains(s.logs(), "Redis") {
		t.Error("the Redis outage was not logged")
	}

	rs.Start()
	eventually(t, 10*time.Second, "the budget is enforced again once Redis is back", func() bool {
		return s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", key).status == 429
	})
}

// TestManagementLimit: creating and rotating keys, each an Argon2id
// hash, are limited per principal: 429 rate_limited with Retry-After
// beyond the burst.
func TestManagementLimit(t *testing.T) {
	s := start(t, env{driver: "sqlite"}, "APIKEYS_SECURITY_MANAGEMENT_LIMIT_RATE=1", "APIKEYS_SECURITY_MANAGEMENT_LIMIT_PERIOD=1m",
		"APIKEYS_SECURITY_MANAGEMENT_LIMIT_BURST=2")
	tok := s.token("user_1", "org_123")
	id, _ := createKey(t, s, tok, `{"name":"one","organization_id":"org_123","scopes":["events:read"]}`)
	want(t, s.do("POST", "/api/v1/api-keys/"+id+"/rotate", "", bearer(tok)...), 200)
	r := s.do("POST", "/api/v1/api-keys", `{"name":"three","organization_id":"org_123","scopes":["events:read"]}`, jsonBearer(tok)...)
	if code, _ := r.errorCode(t); r.status != 429 || code != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("third hashing call: %d %s, Retry-After %q", r.status, code, r.header.Get("Retry-After"))
	}
	// Another principal has its own budget; reads are not limited.
	other := s.token("user_2", "org_123")
	createKey(t, s, other, `{"name":"theirs","organization_id":"org_123","scopes":["events:read"]}`)
	want(t, s.do("GET", "/api/v1/api-keys", "", bearer(tok)...), 200)
}

// TestAuditFloodIsSummarized: 10,000 bad-checksum requests from one
// address produce a handful of key.auth_failed summary events whose
// counts add up to 10,000, none lost and none counted twice; operators
// (audit.operators) read them through the audit API, others cannot.
func TestAuditFloodIsSummarized(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		const n = 10_000
		s := start(t, e, "APIKEYS_SECURITY_FAILED_AUTH_LIMIT=100", "APIKEYS_SECURITY_FAILED_AUTH_DELAY=0", "APIKEYS_AUDIT_FAILURE_SUMMARY_INTERVAL=500ms",
			"APIKEYS_AUDIT_OPERATORS=user:operator")
		tok := s.token("user_1", "org_123")
		_, good := createKey(t, s, tok, `{"name":"flooded","organization_id":"org_123","scopes":["events:read"]}`)
		bad := otherLast(good)
		var statuses sync.Map
		var sent atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for sent.Add(1) <= n {
					r := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", bad, "User-Agent", "flooder")
					c, _ := statuses.LoadOrStore(r.status, new(atomic.Int64))
					c.(*atomic.Int64).Add(1)
				}
			})
		}
		wg.Wait()
		answered := map[int]int64{}
		statuses.Range(func(k, v any) bool { answered[k.(int)] = v.(*atomic.Int64).Load(); return true })
		if answered[401]+answered[429] != n {
			t.Fatalf("answers %v, want %d of 401 or 429", answered, n)
		}
		op := s.token("operator", "org_ops")
		var counted int64
		var summaries int
		eventually(t, 10*time.Second, "the summaries of the flood are recorded", func() bool {
			counted, summaries = 0, 0
			for _, ev := range s.auditLog("/api/v1/audit-logs?unattributed=true&action=key.auth_failed&limit=200", bearer(op)...) {
				if ev["user_agent"] != "flooder" {
					continue
				}
				summaries++
				d, _ := ev["details"].(map[string]any)
				c, _ := d["count"].(float64)
				counted += int64(c)
			}
			return counted >= n
		})
		if counted != n {
			t.Errorf("the summaries count %d failures, want %d", counted, n)
		}
		if summaries > 20 {
			t.Errorf("%d summary events for one address, want a handful", summaries)
		}
		t.Logf("%s: %d requests (%v) in %d summary events", e.driver, n, answered, summaries)
		r := s.do("GET", "/api/v1/audit-logs?unattributed=true", "", bearer(tok)...)
		if code, _ := r.errorCode(t); r.status != 403 || code != "forbidden_organization" {
			t.Errorf("a non-operator reading unattributed events: %d %s", r.status, code)
		}
	})
}
