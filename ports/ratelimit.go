package ports

import (
	"context"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/quota"
)

// The limiter ports. One adapter usually implements all three over one
// backend (memory, or Redis shared by every instance). Their decisions are
// quota.Decision values; an error means the limiter could not decide and
// is quota.ErrUnavailable (a backend configured to fail closed) or the
// context's error. A limiter that fails open answers a Decision with
// FailedOpen set instead of an error.
//
// The budgets are GCRA (token-bucket) budgets: a budget of Limit units per
// period grants Limit units at once, then refills continuously, one unit
// every period/Limit, and is whole again a period after it was last spent.

// KeyLimiter spends and reads the per-key budgets of keys that carry an
// apikey.RateLimit. A use case proves the key, checks its status and scope
// first, and takes a unit only for a request it would otherwise answer
// with success, so that a request refused for scope, revocation or expiry
// spends nothing; it peeks to show the budget on such a refusal. With a
// shared backend a take is one round trip.
type KeyLimiter interface {
	// TakeKey spends one unit of key keyID's budget of limit l and reports
	// the decision. A refused take spends nothing. l must pass
	// apikey.RateLimit.Validate; an invalid limit is an error.
	TakeKey(ctx context.Context, keyID string, l apikey.RateLimit) (quota.Decision, error)
	// PeekKey reports the state of key keyID's budget without spending:
	// Allowed tells whether a take now would be granted, RetryAfter (when
	// it would not) when one will be.
	PeekKey(ctx context.Context, keyID string, l apikey.RateLimit) (quota.Decision, error)
}

// FailedAuthLimiter counts failed authentications per client (an IPv4
// address or an IPv6 /64, see quota.Client) within the limiter's
// configured limit and window. The intended use: a request presenting a
// key that is not already proven (not in the verification cache) asks
// CheckFailures before anything costly and is refused with 429 when it is
// not allowed; a request that fails authentication (missing, malformed or
// unknown key, bad checksum) calls RecordFailure, and one whose failure is
// known before any lookup (missing or malformed key) may call only
// RecordFailure and answer 429 when it is refused. A request with an
// already-proven key asks neither, so an attacker sharing an address with
// legitimate clients cannot lock their keys out.
type FailedAuthLimiter interface {
	// CheckFailures reports, without counting anything, whether client
	// may attempt an authentication: Allowed is false once it has used up
	// its failures, RetryAfter then says when it may try again.
	CheckFailures(ctx context.Context, client quota.Client) (quota.Decision, error)
	// RecordFailure counts one failed authentication of client. Allowed is
	// false when client had already used up its failures; that failure is
	// then not counted, and the request should be answered as throttled.
	RecordFailure(ctx context.Context, client quota.Client) (quota.Decision, error)
}

// ManagementLimiter limits the management calls that cost a hash
// (creating and rotating keys) per principal, with the limiter's
// configured rate and burst.
type ManagementLimiter interface {
	// TakeManagement spends one unit of principal's budget; principal is
	// the audit actor, e.g. "user:alice" or "key:key_...".
	TakeManagement(ctx context.Context, principal string) (quota.Decision, error)
}
