package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/agentauri/apikeys/core/quota"
)

// Leases spare a busy key one Redis round trip per verification. With
// Redis, an instance takes a key's budget from Redis in leases of several
// units at once and hands them out locally; the round trip is then paid
// once per lease instead of once per request. What this trades is bounded:
//
//   - A lease is at most LeasePercent of the key's limit, so the units an
//     instance holds, and can still admit once Redis's budget is spent,
//     are at most that share of the limit per instance: never more is
//     admitted than the limit plus that share per instance.
//   - A lease lapses leaseHold after it was taken; its units left then
//     are lost (spent in Redis, never admitted). Its size follows the key's
//     traffic (doubling while leases are used up within their hold,
//     shrinking to what was used when one lapses), so what lapses stays
//     small next to the traffic.
//   - Keys whose limit is under 2 × 100 / LeasePercent (200 at 1%) get no
//     lease: their share would be under 2 units. They, peeks (a refusal
//     for scope reading the budget) and every decision while a key's lease
//     is being fetched, or once Redis cannot grant a whole lease (the
//     budget is nearly spent), take exactly one unit from Redis: a budget
//     near its end is enforced exactly.
//
// The level a client sees (RateLimit-Remaining) is Redis's level when the
// lease was taken plus the units still held, so it may lag by the other
// instances' use since then.
type leases struct {
	remote  *remote
	percent int
	table   *otter.Cache[string, *lease]
	// counted: decisions answered from a lease without a round trip.
	counted func()
}

// leaseHold is how long a lease's units may be handed out.
const leaseHold = 100 * time.Millisecond

// lease is one key's leased units.
type lease struct {
	mu       sync.Mutex
	b        budget    // the budget the lease was taken under
	units    int       // leased units not yet handed out
	taken    int       // size of the current lease
	until    time.Time // when the current lease lapses
	level    float64   // Redis's level right after the lease was taken
	next     int       // size of the next lease
	fetching bool      // a lease is being fetched
}

func newLeases(r *remote, percent, maxEntries int, counted func()) (*leases, error) {
	t, err := otter.New(&otter.Options[string, *lease]{
		MaximumSize:      maxEntries,
		InitialCapacity:  min(maxEntries, 1024),
		ExpiryCalculator: otter.ExpiryAccessing[string, *lease](time.Minute),
	})
	if err != nil {
		return nil, fmt.Errorf("ratelimit: lease table: %w", err)
	}
	return &leases{remote: r, percent: percent, table: t, counted: counted}, nil
}

// maxLease is the largest lease of budget b.
func (ls *leases) maxLease(b budget) int { return b.burst * ls.percent / 100 }

// take spends one unit of key name's budget b: from its lease when it
// holds one, else from Redis (taking a new lease when the key qualifies).
func (ls *leases) take(ctx context.Context, name string, b budget, now time.Time) (quota.Decision, error) {
	maxLease := ls.maxLease(b)
	if maxLease < 2 {
		return ls.remote.allow(ctx, kindKey, name, b, 1)
	}
	l, _ := ls.table.ComputeIfAbsent(name, func() (*lease, bool) { return &lease{b: b, next: 1}, false })
	l.mu.Lock()
	if l.b != b { // the key's limit changed: its lease is void
		*l = lease{b: b, next: 1, fetching: l.fetching}
	}
	if l.units > 0 && now.Before(l.until) {
		l.units--
		d := b.decision(true, l.level+float64(l.units))
		l.mu.Unlock()
		ls.counted()
		return d, nil
	}
	if l.fetching {
		l.mu.Unlock()
		return ls.remote.allow(ctx, kindKey, name, b, 1)
	}
	// Size the next lease by what the last one saw: used up in time,
	// twice as large; lapsed with units left, what was used.
	if l.taken > 0 {
		if used := l.taken - l.units; l.units > 0 {
			l.next = max(1, used)
		} else {
			l.next = l.taken * 2
		}
	}
	size := min(max(l.next, 1), maxLease)
	l.fetching = true
	l.mu.Unlock()

	d, err := ls.remote.allow(ctx, kindKey, name, b, size)

	l.mu.Lock()
	defer l.mu.Unlock()
	l.fetching = false
	if err != nil {
		return d, err
	}
	if !d.Allowed && size > 1 {
		// Too little left for a whole lease: this request takes exactly
		// one unit, and the next lease starts small again.
		l.taken, l.units, l.next = 0, 0, 1
		return ls.remote.allow(ctx, kindKey, name, b, 1)
	}
	if !d.Allowed {
		l.taken, l.units = 0, 0
		return d, nil
	}
	l.taken, l.units, l.until, l.level = size, size-1, now.Add(leaseHold), float64(d.Remaining)
	d.Remaining += l.units
	return d, nil
}

func (ls *leases) close() { ls.table.StopAllGoroutines() }
