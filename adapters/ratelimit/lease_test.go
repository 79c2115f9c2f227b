package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/test/redistest"
)

// leaseLimiters returns n limiters sharing one Redis budget space, as n
// instances would, with leases of percent.
func leaseLimiters(t *testing.T, n, percent int) []*Limiter {
	t.Helper()
	url := redistest.URL(t)
	cfg := DefaultConfig()
	cfg.Backend.RedisURL = url
	cfg.Backend.RedisPrefix = redistest.Prefix(t, url)
	cfg.Backend.RedisTimeout = 2 * time.Second
	cfg.Backend.RedisLeasePercent = percent
	out := make([]*Limiter, n)
	for i := range out {
		out[i] = newTestLimiter(t, cfg)
	}
	return out
}

// drainKey takes from key on every limiter with workers goroutines each
// until each goroutine has seen several refusals in a row, and returns
// how many takes were allowed.
func drainKey(t *testing.T, ls []*Limiter, key string, r apikey.RateLimit, workers int) int64 {
	t.Helper()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for _, l := range ls {
		for range workers {
			wg.Go(func() {
				for refused := 0; refused < 20; {
					d, err := l.TakeKey(context.Background(), key, r)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						allowed.Add(1)
						refused = 0
					} else {
						refused++
					}
				}
			})
		}
	}
	wg.Wait()
	return allowed.Load()
}

// TestLeasesNeverOverAdmit: two instances leasing from one budget admit
// no more than the limit (plus what refills meanwhile), and lose little.
func TestLeasesNeverOverAdmit(t *testing.T) {
	ls := leaseLimiters(t, 2, 1)
	r := apikey.RateLimit{Limit: 2000, Window: time.Hour} // leases of up to 20; refills 0.56/s
	started := time.Now()
	got := drainKey(t, ls, "key_lease", r, 8)
	refill := int64(time.Since(started).Seconds()*float64(r.Limit)/r.Window.Seconds()) + 1
	if got > int64(r.Limit)+refill {
		t.Fatalf("two leasing instances admitted %d of a budget of %d (+%d refilled)", got, r.Limit, refill)
	}
	// Units are lost only when a lease lapses unused for 100ms, which a
	// loop draining the key does not leave it to do; allow a few lapses.
	if lost := int64(r.Limit) - got; lost > 4*int64(ls[0].leases.maxLease(keyBudget(r))) {
		t.Fatalf("two leasing instances admitted %d of %d: %d units lost in leases", got, r.Limit, lost)
	}
	var leased uint64
	for _, l := range ls {
		leased += l.Stats().Leased
	}
	if leased == 0 {
		t.Fatal("no decision was answered from a lease")
	}
}

// TestLeasesSpareRoundTrips: a busy key with a large limit costs far
// fewer Redis calls than decisions; a key whose 1% is under 2 units, and
// every decision with leases off, cost one call each.
func TestLeasesSpareRoundTrips(t *testing.T) {
	take := func(l *Limiter, key string, r apikey.RateLimit, n int) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range n / 8 {
					if d, err := l.TakeKey(context.Background(), key, r); err != nil || !d.Allowed {
						t.Errorf("TakeKey = %+v, %v", d, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	const n = 4000
	l := leaseLimiters(t, 1, 1)[0]
	take(l, "key_busy", apikey.RateLimit{Limit: apikey.MaxRateLimit, Window: time.Hour}, n)
	if s := l.Stats(); s.RedisCalls > n/4 || s.Leased < n/2 {
		t.Errorf("%d decisions on a busy key: %d Redis calls, %d from leases; want most from leases", n, s.RedisCalls, s.Leased)
	}

	l = leaseLimiters(t, 1, 1)[0]
	take(l, "key_small", apikey.RateLimit{Limit: 199, Window: time.Hour}, 192)
	if s := l.Stats(); s.RedisCalls != 192 || s.Leased != 0 {
		t.Errorf("a limit of 199 at 1%%: %d Redis calls and %d from leases for 192 decisions, want one call each", s.RedisCalls, s.Leased)
	}

	l = leaseLimiters(t, 1, 0)[0]
	take(l, "key_exact", apikey.RateLimit{Limit: apikey.MaxRateLimit, Window: time.Hour}, 400)
	if s := l.Stats(); s.RedisCalls != 400 || s.Leased != 0 {
		t.Errorf("leases off: %d Redis calls and %d from leases for 400 decisions, want one call each", s.RedisCalls, s.Leased)
	}
}

// TestLeaseRemaining: the level a leased decision reports counts the
// units the instance still holds, and falls as they are handed out.
func TestLeaseRemaining(t *testing.T) {
	l := leaseLimiters(t, 1, 10)[0]
	r := apikey.RateLimit{Limit: 1000, Window: time.Hour}
	prev := r.Limit
	for i := range 300 {
		d, err := l.TakeKey(context.Background(), "key_level", r)
		if err != nil || !d.Allowed {
			t.Fatalf("take %d: %+v, %v", i, d, err)
		}
		// Serial takes: exactly one unit each, refill aside.
		if d.Remaining >= prev || d.Remaining < r.Limit-i-2 {
			t.Fatalf("take %d: remaining %d after %d", i, d.Remaining, prev)
		}
		prev = d.Remaining
	}
	if l.Stats().Leased == 0 {
		t.Fatal("no decision was answered from a lease")
	}
}
