// Package quota holds the domain types of rate limiting shared by the use
// cases, the limiter port and its adapters: the Decision a limiter answers,
// the Client failed authentications are counted by, and the per-organization
// defaults of key rate limits. It has no algorithm in it: the limiters live
// in adapters.
package quota

import (
	"fmt"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
)

// ErrUnavailable is returned by a limiter that could not decide (its
// backend is unreachable) and is configured to fail closed. It wraps
// apikey.ErrUnavailable, so it is answered like any unavailable
// dependency (503 with Retry-After).
var ErrUnavailable = fmt.Errorf("rate limiter: %w", apikey.ErrUnavailable)

// Decision is a limiter's answer about one budget: whether a unit was
// granted and the state of the budget afterwards. Its fields are what the
// IETF RateLimit headers publish.
type Decision struct {
	// Allowed reports whether the request may proceed. For a take it means a
	// unit was spent; a refused take spends nothing.
	Allowed bool
	// Limit is the size of the budget: the most units available at once
	// (RateLimit-Limit).
	Limit int
	// Remaining is the number of whole units available after this decision
	// (RateLimit-Remaining).
	Remaining int
	// Reset is how long until the budget is whole again, that is until
	// Remaining equals Limit if nothing more is spent (RateLimit-Reset); 0
	// when it is whole.
	Reset time.Duration
	// RetryAfter is, when the request is refused, how long until the next
	// unit is available (Retry-After); 0 when it is allowed.
	RetryAfter time.Duration
	// FailedOpen reports that the limiter's backend could not be asked and
	// the request was allowed by the fail-open policy. Remaining and Reset
	// are then unknown (zero) and no RateLimit headers should be sent.
	FailedOpen bool
}

// ResetSeconds returns Reset in whole seconds, rounded up, as the
// RateLimit-Reset header carries it.
func (d Decision) ResetSeconds() int64 { return ceilSeconds(d.Reset) }

// RetryAfterSeconds returns RetryAfter in whole seconds, rounded up and at
// least 1 for a refused request (a Retry-After of 0 would invite an
// immediate retry that is refused again); 0 when the request is allowed.
func (d Decision) RetryAfterSeconds() int64 {
	if d.Allowed {
		return 0
	}
	return max(1, ceilSeconds(d.RetryAfter))
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
