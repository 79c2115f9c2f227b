package contract

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/quota"
	"github.com/agentauri/apikeys/ports"
)

// Limiter is what the rate-limit contract checks: the three limiter ports
// over one backend.
type Limiter interface {
	ports.KeyLimiter
	ports.FailedAuthLimiter
	ports.ManagementLimiter
}

// RateLimitSettings are the configured limits a limiter under test must
// have. A zero FailedAuthLimit or ManagementRate turns that limit off.
type RateLimitSettings struct {
	FailedAuthLimit  int
	FailedAuthWindow time.Duration
	ManagementRate   int
	ManagementPeriod time.Duration
	ManagementBurst  int
}

// RateLimiterBackend is an implementation under test.
type RateLimiterBackend struct {
	// New returns a limiter with settings s. Limiters made with the same
	// namespace are instances of one deployment; namespaces never share
	// anything (for Redis: a key prefix per namespace, deleted when t ends).
	New func(t *testing.T, namespace string, s RateLimitSettings) Limiter
	// Shared says whether two instances of one deployment share their
	// budgets (Redis) or each has its own (memory).
	Shared bool
}

// slack is the margin added to sleeps that wait for a budget to refill,
// and the tolerance of durations the backend reports.
const slack = 60 * time.Millisecond

// RateLimiter returns the contract suite of the limiter ports. Budgets are
// GCRA / token buckets: a limit of N per window grants N at once, then one
// unit every window/N, and is whole a window after it was last spent.
func RateLimiter(b RateLimiterBackend) func(t *testing.T) {
	return func(t *testing.T) {
		tests := []struct {
			name string
			run  func(t *testing.T, b RateLimiterBackend)
		}{
			{"Key/ExactlyNThenRefused", testKeyExactlyN},
			{"Key/ExactlyNPerSecond", testKeyExactlyNPerSecond},
			{"Key/HeaderFields", testKeyHeaderFields},
			{"Key/BudgetReturnsAfterWindow", testKeyBudgetReturns},
			{"Key/RefillsOneUnitPerInterval", testKeyRefillsPerInterval},
			{"Key/PeekSpendsNothing", testKeyPeek},
			{"Key/Independent", testKeyIndependent},
			{"Key/Concurrent", testKeyConcurrent},
			{"Key/RefusesInvalidLimit", testKeyInvalidLimit},
			{"Key/KindsDoNotShareBudgets", testKindsSeparate},
			{"Instances/KeyBudget", testInstancesKeyBudget},
			{"Instances/FailedAuth", testInstancesFailedAuth},
			{"FailedAuth/LimitThenThrottled", testFailedAuthLimit},
			{"FailedAuth/CheckCountsNothing", testFailedAuthCheck},
			{"FailedAuth/WindowExpiry", testFailedAuthExpiry},
			{"FailedAuth/IPv6Slash64", testFailedAuthIPv6},
			{"FailedAuth/UnknownAddress", testFailedAuthUnknown},
			{"FailedAuth/Off", testFailedAuthOff},
			{"Management/TokenBucket", testManagementBucket},
			{"Management/Principals", testManagementPrincipals},
			{"Management/Off", testManagementOff},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, b)
			})
		}
	}
}

// defaultSettings are generous limits for tests about other kinds.
var defaultSettings = RateLimitSettings{
	FailedAuthLimit: 100, FailedAuthWindow: time.Minute,
	ManagementRate: 10, ManagementPeriod: time.Second, ManagementBurst: 20,
}

// limiter returns one instance of a fresh deployment.
func limiter(t *testing.T, b RateLimiterBackend, s RateLimitSettings) Limiter {
	return b.New(t, newNamespace(t), s)
}

func newNamespace(t *testing.T) string {
	buf := make([]byte, 6)
	if _, err := rand.Read(buf); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(buf)
}

func newLimitKeyID(t *testing.T) string { return "key_rl" + newNamespace(t) }

func limit(n int, window time.Duration) apikey.RateLimit {
	return apikey.RateLimit{Limit: n, Window: window}
}

func takeKey(t *testing.T, l Limiter, id string, r apikey.RateLimit) quota.Decision {
	t.Helper()
	d, err := l.TakeKey(context.Background(), id, r)
	if err != nil {
		t.Fatalf("TakeKey(%s, %s): %v", id, r, err)
	}
	if d.FailedOpen {
		t.Fatalf("TakeKey(%s, %s) failed open: the backend did not answer", id, r)
	}
	return d
}

func peekKey(t *testing.T, l Limiter, id string, r apikey.RateLimit) quota.Decision {
	t.Helper()
	d, err := l.PeekKey(context.Background(), id, r)
	if err != nil {
		t.Fatalf("PeekKey(%s, %s): %v", id, r, err)
	}
	return d
}

func recordFailure(t *testing.T, l Limiter, c quota.Client) quota.Decision {
	t.Helper()
	d, err := l.RecordFailure(context.Background(), c)
	if err != nil {
		t.Fatalf("RecordFailure(%s): %v", c, err)
	}
	return d
}

func checkFailures(t *testing.T, l Limiter, c quota.Client) quota.Decision {
	t.Helper()
	d, err := l.CheckFailures(context.Background(), c)
	if err != nil {
		t.Fatalf("CheckFailures(%s): %v", c, err)
	}
	return d
}

func takeManagement(t *testing.T, l Limiter, p string) quota.Decision {
	t.Helper()
	d, err := l.TakeManagement(context.Background(), p)
	if err != nil {
		t.Fatalf("TakeManagement(%s): %v", p, err)
	}
	return d
}

// within reports whether got is in [want-below, want+slack]: durations the
// backend reports shrink as real time passes between its clock and ours.
func within(got, want, below time.Duration) bool {
	return got >= want-below-slack && got <= want+slack
}

// wantSpent checks the decision of the i-th (1-based) take of a fresh
// budget of n, made quickly: allowed with n-i remaining while i <= n,
// refused with nothing remaining after.
func wantSpent(t *testing.T, what string, i int, d quota.Decision, n int) {
	t.Helper()
	switch {
	case i <= n && (!d.Allowed || d.Remaining != n-i || d.RetryAfter != 0):
		t.Errorf("%s %d of %d: %+v, want allowed with %d remaining", what, i, n, d, n-i)
	case i > n && (d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0):
		t.Errorf("%s %d of %d: %+v, want refused with a Retry-After", what, i, n, d)
	}
	if d.Limit != n {
		t.Errorf("%s %d: Limit = %d, want %d", what, i, d.Limit, n)
	}
}

func testKeyExactlyN(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, defaultSettings)
	// Limits whose refill interval is not a whole number of microseconds
	// too (7/1m, 13/1h, 999/1h): remaining counts stay exact.
	for _, r := range []apikey.RateLimit{limit(5, time.Minute), limit(5, time.Hour), limit(1, time.Minute), limit(100, time.Hour),
		limit(7, time.Minute), limit(13, time.Hour), limit(999, time.Hour)} {
		id := newLimitKeyID(t)
		for i := 1; i <= 2*r.Limit; i++ {
			wantSpent(t, "take of "+r.String(), i, takeKey(t, l, id, r), r.Limit)
		}
	}
}

// testKeyExactlyNPerSecond is the case: limit 5 per 1s gets exactly
// 5 then refusals. A unit refills every 200ms, so the exact count holds for
// a burst made within 200ms; a slower burst may see refills, at most one
// per 200ms elapsed, and never more.
func testKeyExactlyNPerSecond(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, defaultSettings)
	r := limit(5, time.Second)
	id := newLimitKeyID(t)
	start := time.Now()
	allowed := 0
	var firstRefusal quota.Decision
	for i := 1; i <= 10; i++ {
		d := takeKey(t, l, id, r)
		if i <= 5 && !d.Allowed {
			t.Fatalf("take %d of 5/1s refused: %+v", i, d)
		}
		if d.Allowed {
			allowed++
		} else if firstRefusal.Limit == 0 {
			firstRefusal = d
		}
	}
	elapsed := time.Since(start)
	refills := int(elapsed / (200 * time.Millisecond))
	if allowed < 5 || allowed > 5+refills {
		t.Fatalf("5/1s allowed %d of 10 in %s, want exactly 5 (plus at most %d refills)", allowed, elapsed, refills)
	}
	if refills == 0 {
		if allowed != 5 {
			t.Fatalf("5/1s allowed %d of 10 within 200ms, want exactly 5", allowed)
		}
		if !within(firstRefusal.RetryAfter, 200*time.Millisecond, elapsed) || !within(firstRefusal.Reset, time.Second, elapsed) {
			t.Errorf("first refusal %+v: want RetryAfter ~200ms and Reset ~1s", firstRefusal)
		}
		if firstRefusal.RetryAfterSeconds() != 1 || firstRefusal.ResetSeconds() != 1 {
			t.Errorf("first refusal: Retry-After %d, RateLimit-Reset %d; want 1 and 1", firstRefusal.RetryAfterSeconds(), firstRefusal.ResetSeconds())
		}
	}
}

func testKeyHeaderFields(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, defaultSettings)
	r := limit(5, time.Minute) // one unit per 12s
	id := newLimitKeyID(t)
	start := time.Now()
	for i := 1; i <= 5; i++ {
		d := takeKey(t, l, id, r)
		wantSpent(t, "take", i, d, 5)
		want := time.Duration(i) * 12 * time.Second
		if !within(d.Reset, want, time.Since(start)) {
			t.Errorf("take %d: Reset = %s, want about %s (the time until the budget is whole)", i, d.Reset, want)
		}
		if got := d.ResetSeconds(); got != int64(want/time.Second) {
			t.Errorf("take %d: RateLimit-Reset = %d, want %d", i, got, want/time.Second)
		}
	}
	d := takeKey(t, l, id, r)
	wantSpent(t, "take", 6, d, 5)
	if !within(d.RetryAfter, 12*time.Second, time.Since(start)) || d.RetryAfterSeconds() != 12 {
		t.Errorf("refused take: RetryAfter = %s (Retry-After %d), want about 12s", d.RetryAfter, d.RetryAfterSeconds())
	}
	if !within(d.Reset, time.Minute, time.Since(start)) || d.ResetSeconds() != 60 {
		t.Errorf("refused take: Reset = %s (RateLimit-Reset %d), want about 1m", d.Reset, d.ResetSeconds())
	}
}

func testKeyBudgetReturns(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, defaultSettings)
	r := limit(3, time.Second)
	id := newLimitKeyID(t)
	var last quota.Decision
	for i := 1; i <= 4; i++ {
		last = takeKey(t, l, id, r)
	}
	if last.Allowed || last.Reset > time.Second+slack {
		t.Fatalf("4th take of 3/1s: %+v, want refused with Reset at most 1s", last)
	}
	time.Sleep(last.Reset + slack)
	if d := peekKey(t, l, id, r); !d.Allowed || d.Remaining != 3 || d.Reset != 0 {
		t.Fatalf("after Reset: %+v, want the whole budget of 3", d)
	}
	for i := 1; i <= 4; i++ {
		wantSpent(t, "take after the window", i, takeKey(t, l, id, r), 3)
	}
}

// testKeyRefillsPerInterval pins the GCRA behaviour documented in
// docs/ratelimits.md: an exhausted budget regains one unit per
// window/limit, not all of it at a window boundary.
func testKeyRefillsPerInterval(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, defaultSettings)
	r := limit(4, time.Second) // one unit per 250ms
	id := newLimitKeyID(t)
	for i := 1; i <= 4; i++ {
		takeKey(t, l, id, r)
	}
	checkRefill(t, "4/1s", 250*time.Millisecond, func() quota.Decision { return takeKey(t, l, id, r) })
}

// checkRefill takes from a spent budget that refills one unit per
// interval: the take is refused; after its RetryAfter at least one unit
// is granted again, and no more than the time that has passed allows
// (one, plus one per further interval, so a slow machine cannot fail it).
func checkRefill(t *testing.T, what string, interval time.Duration, take func() quota.Decision) {
	t.Helper()
	start := time.Now()
	d := take()
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > interval+slack {
		t.Fatalf("%s: take of a spent budget: %+v, want refused with RetryAfter at most %s", what, d, interval)
	}
	time.Sleep(d.RetryAfter + slack)
	granted := 0
	for take().Allowed {
		granted++
		if granted > 1000 {
			t.Fatalf("%s: the budget never runs out again", what)
		}
	}
	most := 1 + int((time.Since(start)-d.RetryAfter)/interval)
	if granted < 1 || granted > most {
		t.Fatalf("%s: %d units granted after RetryAfter, want 1 (at most %d after %s)", what, granted, most, time.Since(start))
	}
}

func testKeyPeek(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, defaultSettings)
	r := limit(3, time.Minute)
	id := newLimitKeyID(t)
	for range 5 {
		if d := peekKey(t, l, id, r); !d.Allowed || d.Remaining != 3 || d.Limit != 3 || d.Reset != 0 || d.RetryAfter != 0 {
			t.Fatalf("peek of a fresh budget: %+v, want allowed, 3 of 3, no reset", d)
		}
	}
	wantSpent(t, "take", 1, takeKey(t, l, id, r), 3)
	for range 3 {
		if d := peekKey(t, l, id, r); !d.Allowed || d.Remaining != 2 {
			t.Fatalf("peek after one take: %+v, want allowed with 2 remaining", d)
		}
	}
	start := time.Now()
	wantSpent(t, "take", 2, takeKey(t, l, id, r), 3)
	wantSpent(t, "take", 3, takeKey(t, l, id, r), 3)
	d := peekKey(t, l, id, r)
	if d.Allowed || d.Remaining != 0 || !within(d.RetryAfter, 20*time.Second, time.Since(start)+slack) {
		t.Fatalf("peek of a spent budget: %+v, want refused, 0 remaining, RetryAfter about 20s", d)
	}
	wantSpent(t, "take", 4, takeKey(t, l, id, r), 3)
}

func testKeyIndependent(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, defaultSettings)
	r := limit(1, time.Minute)
	a, c := newLimitKeyID(t), newLimitKeyID(t)
	wantSpent(t, "take of a", 1, takeKey(t, l, a, r), 1)
	wantSpent(t, "take of a", 2, takeKey(t, l, a, r), 1)
	wantSpent(t, "take of c", 1, takeKey(t, l, c, r), 1)
}

func testKeyConcurrent(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, defaultSettings)
	r := limit(20, time.Minute)
	id := newLimitKeyID(t)
	var allowed, remainingSum atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := l.TakeKey(context.Background(), id, r)
			if err != nil {
				errs <- err
				return
			}
			if d.Allowed {
				allowed.Add(1)
				remainingSum.Add(int64(d.Remaining))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent TakeKey: %v", err)
	}
	if allowed.Load() != 20 {
		t.Fatalf("64 concurrent takes of 20/1m: %d allowed, want exactly 20", allowed.Load())
	}
	if d := peekKey(t, l, id, r); d.Allowed || d.Remaining != 0 {
		t.Fatalf("after the concurrent takes: %+v, want a spent budget", d)
	}
}

func testKeyInvalidLimit(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, defaultSettings)
	for _, r := range []apikey.RateLimit{{}, limit(0, time.Second), limit(5, 2*time.Second)} {
		if d, err := l.TakeKey(context.Background(), newLimitKeyID(t), r); err == nil {
			t.Errorf("TakeKey with limit %+v = %+v, want an error", r, d)
		}
		if d, err := l.PeekKey(context.Background(), newLimitKeyID(t), r); err == nil {
			t.Errorf("PeekKey with limit %+v = %+v, want an error", r, d)
		}
	}
}

// testKindsSeparate spends a key budget, a client's failures and a
// principal's calls under the same name: none affects the others.
func testKindsSeparate(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, RateLimitSettings{FailedAuthLimit: 1, FailedAuthWindow: time.Minute, ManagementRate: 1, ManagementPeriod: time.Minute, ManagementBurst: 1})
	name := "203.0.113.50"
	client := quota.ParseClient(name)
	takeKey(t, l, name, limit(1, time.Minute))
	if d := takeKey(t, l, name, limit(1, time.Minute)); d.Allowed {
		t.Fatalf("second take of 1/1m allowed: %+v", d)
	}
	if d := checkFailures(t, l, client); !d.Allowed || d.Remaining != 1 {
		t.Errorf("failures of %s after its name's key budget was spent: %+v, want untouched", name, d)
	}
	if d := takeManagement(t, l, name); !d.Allowed {
		t.Errorf("management budget named %s after the key budget was spent: %+v, want allowed", name, d)
	}
	if d := recordFailure(t, l, client); !d.Allowed {
		t.Errorf("first failure of %s: %+v, want counted", name, d)
	}
}

// testInstancesKeyBudget is the case: two instances, 10 requests
// split across both, limit 5 → 5 allowed with a shared backend; with
// memory each instance has its own budget of 5.
func testInstancesKeyBudget(t *testing.T, b RateLimiterBackend) {
	ns := newNamespace(t)
	one, two := b.New(t, ns, defaultSettings), b.New(t, ns, defaultSettings)
	r := limit(5, time.Minute)
	id := newLimitKeyID(t)
	allowed := [2]int{}
	for i := range 10 {
		l := []Limiter{one, two}[i%2]
		if takeKey(t, l, id, r).Allowed {
			allowed[i%2]++
		}
	}
	total := allowed[0] + allowed[1]
	if b.Shared && total != 5 {
		t.Fatalf("shared backend: %d of 10 requests split across two instances allowed (%v), want exactly 5", total, allowed)
	}
	if !b.Shared && (allowed[0] != 5 || allowed[1] != 5) {
		t.Fatalf("per-instance backend: instances allowed %v of 5 requests each, want 5 each (a budget per instance)", allowed)
	}
}

func testInstancesFailedAuth(t *testing.T, b RateLimiterBackend) {
	ns := newNamespace(t)
	s := RateLimitSettings{FailedAuthLimit: 4, FailedAuthWindow: time.Minute}
	one, two := b.New(t, ns, s), b.New(t, ns, s)
	c := quota.ParseClient("198.51.100.7")
	for range 2 {
		recordFailure(t, one, c)
		recordFailure(t, two, c)
	}
	for i, l := range []Limiter{one, two} {
		d := checkFailures(t, l, c)
		if b.Shared && (d.Allowed || d.RetryAfter <= 0) {
			t.Errorf("shared backend, instance %d after 4 failures split across two: %+v, want throttled", i+1, d)
		}
		if !b.Shared && (!d.Allowed || d.Remaining != 2) {
			t.Errorf("per-instance backend, instance %d after 2 of its own failures: %+v, want allowed with 2 remaining", i+1, d)
		}
	}
}

func testFailedAuthLimit(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, RateLimitSettings{FailedAuthLimit: 5, FailedAuthWindow: time.Minute})
	c, other := quota.ParseClient("192.0.2.10"), quota.ParseClient("192.0.2.11")
	start := time.Now()
	for i := 1; i <= 5; i++ {
		wantSpent(t, "failure", i, recordFailure(t, l, c), 5)
	}
	d := checkFailures(t, l, c)
	if d.Allowed || d.Remaining != 0 || !within(d.RetryAfter, 12*time.Second, time.Since(start)) {
		t.Fatalf("check after 5 of 5 failures: %+v, want throttled with RetryAfter about 12s (a minute / 5)", d)
	}
	wantSpent(t, "failure", 6, recordFailure(t, l, c), 5)
	if d := checkFailures(t, l, other); !d.Allowed || d.Remaining != 5 {
		t.Fatalf("another address: %+v, want untouched (5 of 5)", d)
	}
}

func testFailedAuthCheck(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, RateLimitSettings{FailedAuthLimit: 3, FailedAuthWindow: time.Minute})
	c := quota.ParseClient("192.0.2.20")
	for range 20 {
		if d := checkFailures(t, l, c); !d.Allowed || d.Remaining != 3 || d.Limit != 3 {
			t.Fatalf("check of a client without failures: %+v, want allowed with 3 of 3", d)
		}
	}
	recordFailure(t, l, c)
	if d := checkFailures(t, l, c); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("check after one failure: %+v, want allowed with 2 remaining", d)
	}
}

func testFailedAuthExpiry(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, RateLimitSettings{FailedAuthLimit: 3, FailedAuthWindow: time.Second})
	c := quota.ParseClient("192.0.2.30")
	for range 3 {
		recordFailure(t, l, c)
	}
	d := checkFailures(t, l, c)
	if d.Allowed || d.Reset > time.Second+slack {
		t.Fatalf("after 3 of 3 failures: %+v, want throttled, whole again within the 1s window", d)
	}
	time.Sleep(d.Reset + slack)
	if d := checkFailures(t, l, c); !d.Allowed || d.Remaining != 3 {
		t.Fatalf("a window later: %+v, want served again with 3 of 3", d)
	}
}

func testFailedAuthIPv6(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, RateLimitSettings{FailedAuthLimit: 4, FailedAuthWindow: time.Minute})
	for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2::1", "2001:db8:1:2:1:2:3:4"} {
		recordFailure(t, l, quota.ParseClient(ip))
	}
	if d := checkFailures(t, l, quota.ParseClient("2001:db8:1:2:abcd::1")); d.Allowed {
		t.Errorf("another address of the same /64 after 4 failures in it: %+v, want throttled", d)
	}
	if d := checkFailures(t, l, quota.ParseClient("2001:db8:1:3::1")); !d.Allowed || d.Remaining != 4 {
		t.Errorf("the next /64: %+v, want untouched", d)
	}
	// IPv4 and its IPv4-mapped IPv6 form are one client.
	for range 4 {
		recordFailure(t, l, quota.ParseClient("::ffff:192.0.2.40"))
	}
	if d := checkFailures(t, l, quota.ParseClient("192.0.2.40")); d.Allowed {
		t.Errorf("192.0.2.40 after 4 failures as ::ffff:192.0.2.40: %+v, want throttled", d)
	}
	if d := checkFailures(t, l, quota.ParseClient("192.0.2.41")); !d.Allowed {
		t.Errorf("192.0.2.41: %+v, want untouched (IPv4 addresses are not grouped)", d)
	}
}

func testFailedAuthUnknown(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, RateLimitSettings{FailedAuthLimit: 2, FailedAuthWindow: time.Minute})
	recordFailure(t, l, quota.ParseClient(""))
	recordFailure(t, l, quota.ParseClient("garbage"))
	if d := checkFailures(t, l, quota.Client{}); d.Allowed {
		t.Errorf("requests without a known address share one budget: %+v, want throttled after 2", d)
	}
}

func testFailedAuthOff(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, RateLimitSettings{FailedAuthLimit: 0, FailedAuthWindow: time.Minute})
	c := quota.ParseClient("192.0.2.50")
	for range 1000 {
		if d := recordFailure(t, l, c); !d.Allowed {
			t.Fatalf("failure with throttling off: %+v, want allowed", d)
		}
	}
	if d := checkFailures(t, l, c); !d.Allowed {
		t.Fatalf("check with throttling off: %+v, want allowed", d)
	}
}

func testManagementBucket(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, RateLimitSettings{ManagementRate: 2, ManagementPeriod: time.Second, ManagementBurst: 4})
	p := "user:alice@example.com"
	start := time.Now()
	var d quota.Decision
	for i := 1; i <= 4; i++ {
		d = takeManagement(t, l, p)
		wantSpent(t, "management call", i, d, 4)
	}
	if d = takeManagement(t, l, p); d.Allowed {
		t.Fatalf("5th call of a burst of 4: %+v, want refused", d)
	}
	if !within(d.RetryAfter, 500*time.Millisecond, time.Since(start)) || !within(d.Reset, 2*time.Second, time.Since(start)) {
		t.Fatalf("refused call: %+v, want RetryAfter about 500ms (rate 2/s) and Reset about 2s (burst 4)", d)
	}
	checkRefill(t, "management 2/s burst 4", 500*time.Millisecond, func() quota.Decision { return takeManagement(t, l, p) })

	// The defaults: 10 per second, bursts of 20 (here per minute, so that
	// nothing refills while the burst is counted).
	l = limiter(t, b, RateLimitSettings{ManagementRate: 10, ManagementPeriod: time.Minute, ManagementBurst: 20})
	for i := 1; i <= 21; i++ {
		wantSpent(t, "management call", i, takeManagement(t, l, "key:key_x"), 20)
	}
}

func testManagementPrincipals(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, RateLimitSettings{ManagementRate: 1, ManagementPeriod: time.Minute, ManagementBurst: 2})
	for i := 1; i <= 3; i++ {
		wantSpent(t, "call of user:a", i, takeManagement(t, l, "user:a"), 2)
	}
	wantSpent(t, "call of key:key_b", 1, takeManagement(t, l, "key:key_b"), 2)
	wantSpent(t, "call of user:a b", 1, takeManagement(t, l, "user:a b"), 2)
}

func testManagementOff(t *testing.T, b RateLimiterBackend) {
	l := limiter(t, b, RateLimitSettings{FailedAuthLimit: 1, FailedAuthWindow: time.Minute})
	for range 1000 {
		if d := takeManagement(t, l, "user:busy"); !d.Allowed {
			t.Fatalf("management call with the limit off: %+v, want allowed", d)
		}
	}
}
