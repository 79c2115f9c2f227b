package ratelimit

import (
	"math"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/quota"
)

// A budget is a GCRA / token bucket: burst units at most, refilled
// continuously at rate units per period. Both backends run a library's
// implementation of it (golang.org/x/time/rate in memory, redis_rate's
// GCRA script in Redis); this file only maps limits onto it and turns the
// level of the bucket into a quota.Decision, the same way for both.
type budget struct {
	rate   int           // units per period, sustained
	period time.Duration // the period of rate
	burst  int           // units available at once (the bucket's size)
}

// keyBudget maps a key's "Limit per Window" onto a budget: Limit units at
// once, refilled at Limit per Window, so a fresh key gets exactly Limit
// requests immediately and its budget is whole again one Window after it
// was last spent.
func keyBudget(r apikey.RateLimit) budget {
	return budget{rate: r.Limit, period: r.Window, burst: r.Limit}
}

// failedAuthBudget maps "Limit failures per Window" the same way.
func failedAuthBudget(c FailedAuthConfig) budget {
	return budget{rate: c.Limit, period: c.Window, burst: c.Limit}
}

// managementBudget maps the management token bucket.
func managementBudget(c ManagementConfig) budget {
	return budget{rate: c.Rate, period: c.Period, burst: c.Burst}
}

// interval is the time one unit takes to refill.
func (b budget) interval() time.Duration {
	return b.period / time.Duration(b.rate)
}

// perSecond is the refill rate in units per second.
func (b budget) perSecond() float64 {
	return float64(b.rate) / b.period.Seconds()
}

// full is how long an empty bucket takes to refill: an entry unused for
// that long is a whole budget, indistinguishable from no entry at all.
func (b budget) full() time.Duration {
	return time.Duration(float64(b.burst) / b.perSecond() * float64(time.Second))
}

// decision describes the bucket holding tokens (possibly fractional) after
// a take that was allowed or refused, or after a peek (allowed then says
// whether a take would be).
func (b budget) decision(allowed bool, tokens float64) quota.Decision {
	tokens = min(max(tokens, 0), float64(b.burst))
	perUnit := float64(b.period) / float64(b.rate) // nanoseconds per unit
	d := quota.Decision{
		Allowed:   allowed,
		Limit:     b.burst,
		Remaining: int(math.Floor(tokens)),
		Reset:     time.Duration(math.Ceil((float64(b.burst) - tokens) * perUnit)),
	}
	if !allowed {
		d.RetryAfter = max(time.Duration(math.Ceil((1-tokens)*perUnit)), 1)
	}
	return d
}
