package ports

import (
	"context"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
)

// KeyService is what the core offers to driving adapters (HTTP, CLI).
type KeyService interface {
	Create(ctx context.Context, p apikey.Principal, in CreateInput) (Issued, error)
	List(ctx context.Context, p apikey.Principal, in ListInput) (KeyPage, error)
	Get(ctx context.Context, p apikey.Principal, id string) (apikey.Key, error)
	Rotate(ctx context.Context, p apikey.Principal, id string, req RequestInfo) (Issued, error)
	Revoke(ctx context.Context, p apikey.Principal, id string, req RequestInfo) (apikey.Key, error)
	// Verify checks a presented secret and, when scope is set, that the key
	// holds it. Every outcome is recorded as a usage event.
	Verify(ctx context.Context, secret string, scope string, req RequestInfo) (apikey.Verified, error)
	// Authenticate proves a secret for the management API, without
	// recording a usage event (the caller records the request itself).
	Authenticate(ctx context.Context, secret string) (apikey.Verified, error)
}

// CreateInput is a request to create a key.
type CreateInput struct {
	Name           string
	OrganizationID string
	Scopes         []string
	Environment    string // "" means test
	ExpiresAt      *time.Time
	Request        RequestInfo
}

// ListInput selects keys to list.
type ListInput struct {
	OrganizationID string // "" means every organization of the principal
	IncludeRevoked bool
	Limit          int
	After          *Cursor
}

// Issued is a key together with its secret, returned once at creation and
// rotation.
type Issued struct {
	Key    apikey.Key
	Secret string
}

// RequestInfo describes the request that caused an operation, for audit.
type RequestInfo struct {
	Method    string
	Path      string
	ClientIP  string
	UserAgent string
	RequestID string
	TraceID   string
	// AnswerStatus, when set, returns the HTTP status the caller answers
	// for a verification outcome (see keys.Outcome), or 0 if not known yet,
	// so that usage events record the status.
	AnswerStatus func(outcome string) int
}
