package ratelimit

import (
	"fmt"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/time/rate"

	"github.com/agentauri/apikeys/core/quota"
)

// expirySlack is added to the time a budget takes to refill before its
// entry may expire: otter may move an entry's expiry up to a second on
// reads, and an entry must not be forgotten while it still holds a debt.
const expirySlack = 2 * time.Second

// memory keeps budgets in this process: one golang.org/x/time/rate token
// bucket per budget, in a bounded otter table per kind. An entry expires
// once it has not been touched for as long as its bucket takes to refill,
// when forgetting it changes nothing; past MaxEntries the table evicts the
// least useful entries (W-TinyLFU), which makes those budgets whole again.
type memory struct {
	now    func() time.Time
	tables [kindCount]*otter.Cache[string, *rate.Limiter]
}

func newMemory(maxEntries int, now func() time.Time, clock otter.Clock) (*memory, error) {
	m := &memory{now: now}
	for k := range m.tables {
		c, err := otter.New(&otter.Options[string, *rate.Limiter]{
			MaximumSize:     maxEntries,
			InitialCapacity: min(maxEntries, 1024),
			ExpiryCalculator: otter.ExpiryAccessingFunc(func(e otter.Entry[string, *rate.Limiter]) time.Duration {
				return refillTime(e.Value) + expirySlack
			}),
			Clock: clock,
		})
		if err != nil {
			return nil, fmt.Errorf("ratelimit: memory table: %w", err)
		}
		m.tables[k] = c
	}
	return m, nil
}

// refillTime is how long lim takes to go from empty to full.
func refillTime(lim *rate.Limiter) time.Duration {
	r := lim.Limit()
	if r <= 0 {
		return 0
	}
	return time.Duration(float64(lim.Burst()) / float64(r) * float64(time.Second))
}

// allow takes n units (0: peeks) of budget b named name in kind's table.
func (m *memory) allow(k kind, name string, b budget, n int) quota.Decision {
	now := m.now()
	lim := m.limiter(k, name, b, now)
	var allowed bool
	if n == 0 {
		allowed = lim.TokensAt(now) >= 1
	} else {
		allowed = lim.AllowN(now, n)
	}
	return b.decision(allowed, lim.TokensAt(now))
}

// limiter returns the bucket of name, created full if absent, with b's
// rate and burst (a key whose limit changed keeps its level).
func (m *memory) limiter(k kind, name string, b budget, now time.Time) *rate.Limiter {
	t := m.tables[k]
	r := rate.Limit(b.perSecond())
	lim, ok := t.GetIfPresent(name)
	if !ok {
		lim, _ = t.ComputeIfAbsent(name, func() (*rate.Limiter, bool) {
			return rate.NewLimiter(r, b.burst), false
		})
	}
	if lim.Limit() != r || lim.Burst() != b.burst {
		lim.SetLimitAt(now, r)
		lim.SetBurstAt(now, b.burst)
	}
	return lim
}

// close stops the tables' background expiry.
func (m *memory) close() {
	for _, t := range m.tables {
		t.StopAllGoroutines()
	}
}
