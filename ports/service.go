package ports

import (
	"context"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/quota"
)

// KeyService is what the core offers to driving adapters (HTTP, CLI) for
// managing and verifying keys.
type KeyService interface {
	Create(ctx context.Context, p apikey.Principal, in CreateInput) (Issued, error)
	List(ctx context.Context, p apikey.Principal, in ListInput) (KeyPage, error)
	Get(ctx context.Context, p apikey.Principal, id string) (apikey.Key, error)
	Rotate(ctx context.Context, p apikey.Principal, id string, in RotateInput) (Issued, error)
	Revoke(ctx context.Context, p apikey.Principal, id string, req audit.Request) (apikey.Key, error)
	// Update changes the fields in of a key (JSON merge semantics: what
	// in leaves unset is kept) and returns the key as stored.
	Update(ctx context.Context, p apikey.Principal, id string, in UpdateInput) (apikey.Key, error)
	// Verify decides whether a presented secret is a valid key holding the
	// required scope, and returns the decision without recording it. An
	// error means nothing was decided (a bad scope name, a dependency
	// down) and nothing is to be recorded.
	Verify(ctx context.Context, in VerifyInput) (Verification, error)
	// Record records a decided verification as one usage event, with the
	// status the caller answers for it (0 when not known yet). A caller
	// may act on a verification only once Record has returned nil: no
	// verification succeeds unrecorded.
	Record(ctx context.Context, v Verification, status int) error
}

// VerifyInput is one presented secret to verify.
type VerifyInput struct {
	Secret string
	// Scopes names the scopes the key must hold, every one of them (none:
	// any valid key passes). The core refuses an empty or unknown name.
	Scopes []string
	// Environments are the key environments admitted (none: any); a valid
	// key of another environment is OutcomeEnvDenied. A route policy sets
	// them (routes.Decision.Environments).
	Environments []apikey.Environment
	Request      audit.Request
}

// Verification is a decided verification: its outcome, computed once by
// the core, and what it established.
type Verification struct {
	Outcome apikey.Outcome
	// Key holds the facts of the key the secret identifies: set for
	// OutcomeOK, and also for the failures of an identified key (revoked,
	// expired, scope_denied) so that they can be audited; zero otherwise.
	Key apikey.Verified
	// Scopes are the scopes that were required, each once, in the
	// documented order (apikey.AllScopes); empty when none was.
	Scopes apikey.Scopes
	// Missing are the required scopes the key lacks: set exactly when the
	// outcome is OutcomeScopeDenied.
	Missing apikey.Scopes
	// CacheHit says the verification cache answered, without a store read.
	CacheHit bool
	// Request is the request the verification answers, for its event.
	Request audit.Request
	// Event is the id and time of the usage event that records the
	// verification: the time it was decided.
	Event audit.Stamp
	// Budget is the state of the request budget that bears on the
	// answer: the key's own budget when it has a rate limit (spent for
	// OutcomeOK, refused for OutcomeRateLimited, peeked at for
	// OutcomeScopeDenied), the client's failed-authentication budget for
	// OutcomeThrottled. Its Limit is 0 when there is none.
	Budget quota.Decision
}

// CreateInput is a request to create a key.
type CreateInput struct {
	Name           string
	OrganizationID string
	Scopes         []string
	Environment    string // "" means test
	ExpiresAt      *time.Time
	// RateLimit is the key's request budget; nil gives the
	// organization's default, if any.
	RateLimit *apikey.RateLimit
	// Metadata is the JSON text of the key's metadata object; nil: none.
	Metadata []byte
	// IPAllowlist lists the addresses and networks the key may be used
	// from; empty: any.
	IPAllowlist []string
	Request     audit.Request
}

// RotateInput is a request to rotate a key.
type RotateInput struct {
	// Grace is how long the replaced secret keeps working beside the new
	// one; 0 cuts it off at once.
	Grace   time.Duration
	Request audit.Request
}

// ListInput selects keys to list.
type ListInput struct {
	OrganizationID string // "" means every organization of the principal
	IncludeRevoked bool
	Statuses       []apikey.Status // none: active and expired (and revoked with IncludeRevoked)
	ExpiringWithin time.Duration   // > 0: active keys expiring within it
	UnusedFor      time.Duration   // > 0: keys never used or not used within it
	SortByLastUsed bool            // most recently used first; else newest first
	RotationDue    *bool           // set: keys due for rotation (true) or not (false)
	Limit          int
	After          *Cursor
}

// Issued is a key together with its secret, returned once at creation and
// rotation.
type Issued struct {
	Key    apikey.Key
	Secret string
}

// UpdateInput is a request to change a key. A nil or unset field keeps the
// key's value.
type UpdateInput struct {
	Name   *string
	Scopes []string // nil: unchanged; otherwise the new set (at least one)
	// ExpiresAt, when Set, is the new expiry; a nil Value clears it.
	ExpiresAt Optional[*time.Time]
	// RateLimit, when Set, is the new rate limit; a nil Value removes it.
	RateLimit Optional[*apikey.RateLimit]
	// Metadata, when Set, is a JSON object merged into the key's metadata
	// as a JSON merge patch (RFC 7396: a member set to null is removed);
	// a nil Value clears the metadata.
	Metadata Optional[[]byte]
	// IPAllowlist, when Set, replaces the key's allowlist; nil or empty
	// clears it (any address).
	IPAllowlist Optional[[]string]
	Request     audit.Request
}

// Optional is a field of a change that may be left out (Set false), or
// set to a value, which for a pointer may be nil (JSON null: clear it).
type Optional[T any] struct {
	Set   bool
	Value T
}

// Some returns an Optional set to v.
func Some[T any](v T) Optional[T] { return Optional[T]{Set: true, Value: v} }
