package client

import (
	"encoding/json"
	"time"
)

// Scopes a key can hold.
const (
	ScopeTriggersRead       = "triggers:read"
	ScopeTriggersWrite      = "triggers:write"
	ScopeEventsRead         = "events:read"
	ScopeOrganizationsRead  = "organizations:read"
	ScopeOrganizationsWrite = "organizations:write"
	ScopeAPIKeysManage      = "api-keys:manage"
)

// RateLimit is a key's own request budget: Limit requests per Window
// ("1s", "1m" or "1h").
type RateLimit struct {
	Limit  int    `json:"limit"`
	Window string `json:"window"`
}

// Key is a key as the service shows it: never its secret.
type Key struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	OrganizationID string     `json:"organization_id"`
	Environment    string     `json:"environment"` // "test" or "live"
	Scopes         []string   `json:"scopes"`
	KeyHint        string     `json:"key_hint"` // the masked secret, e.g. sk_test_…abcd
	Status         string     `json:"status"`   // "active", "expired" or "revoked"
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	ExpiresAt      *time.Time `json:"expires_at"`
	RotatedAt      *time.Time `json:"rotated_at"`
	RevokedAt      *time.Time `json:"revoked_at"`
	RateLimit      *RateLimit `json:"rate_limit"`
	// Metadata is your own JSON object about the key (nil for none).
	Metadata json.RawMessage `json:"metadata"`
	// IPAllowlist holds the addresses and networks the key may be used
	// from; empty: any.
	IPAllowlist []string `json:"ip_allowlist"`
	// PreviousKeyHint and PreviousKeyExpiresAt name the old secret a
	// rotation's grace period keeps working, and until when (nil otherwise).
	PreviousKeyHint      *string    `json:"previous_key_hint"`
	PreviousKeyExpiresAt *time.Time `json:"previous_key_expires_at"`
}

// IssuedKey is a key with its secret, shown this once only: the answer
// to a creation or a rotation.
type IssuedKey struct {
	Key
	Secret string `json:"key"`
}

// RotatedKey is a key after rotation: the same id, a new secret shown this
// once only.
type RotatedKey = IssuedKey

// RotateOptions tune a rotation.
type RotateOptions struct {
	// GracePeriod keeps the old secret working beside the new one for this
	// long (at most 7 days); 0: the old secret is refused at once.
	GracePeriod time.Duration
}

// CreateKeyRequest is what CreateKey sends. Name and Scopes are required;
// OrganizationID is required when the caller may act for several
// organizations; Environment is "test" when empty.
type CreateKeyRequest struct {
	Name           string     `json:"name"`
	OrganizationID string     `json:"organization_id,omitempty"`
	Scopes         []string   `json:"scopes"`
	Environment    string     `json:"environment,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	RateLimit      *RateLimit `json:"rate_limit,omitempty"`
	// Metadata is a JSON object of at most 1 KiB and 3 levels.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// IPAllowlist restricts where the key may be used from (addresses or
	// CIDR networks, at most 100).
	IPAllowlist []string `json:"ip_allowlist,omitempty"`
}

// UpdateKeyRequest is what UpdateKey sends, as a JSON merge patch: a nil
// field is left out and keeps the key's value. Clear* send null: they
// remove the expiry, the rate limit, the metadata or the allowlist.
// Metadata is merged into the key's (RFC 7396: a member set to null is
// removed); IPAllowlist replaces the key's.
type UpdateKeyRequest struct {
	Name             *string
	Scopes           []string
	ExpiresAt        *time.Time
	ClearExpiresAt   bool
	RateLimit        *RateLimit
	ClearRateLimit   bool
	Metadata         json.RawMessage
	ClearMetadata    bool
	IPAllowlist      []string
	ClearIPAllowlist bool
}

// MarshalJSON writes the merge patch: only the members set, null for the
// Clear ones.
func (u UpdateKeyRequest) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	if u.Name != nil {
		m["name"] = *u.Name
	}
	if u.Scopes != nil {
		m["scopes"] = u.Scopes
	}
	member(m, "expires_at", u.ExpiresAt != nil, u.ClearExpiresAt, func() any { return u.ExpiresAt.UTC().Format(time.RFC3339Nano) })
	member(m, "rate_limit", u.RateLimit != nil, u.ClearRateLimit, func() any { return u.RateLimit })
	member(m, "metadata", u.Metadata != nil, u.ClearMetadata, func() any { return u.Metadata })
	member(m, "ip_allowlist", u.IPAllowlist != nil, u.ClearIPAllowlist, func() any { return u.IPAllowlist })
	return json.Marshal(m)
}

func member(m map[string]any, name string, set, clear bool, value func() any) {
	switch {
	case clear:
		m[name] = nil
	case set:
		m[name] = value()
	}
}

// ListKeysOptions filter and page ListKeys. Zero values mean the service's
// defaults (20 keys a page, revoked keys left out).
type ListKeysOptions struct {
	OrganizationID string
	Limit          int
	Cursor         string // the NextCursor of the previous page
	IncludeRevoked bool
}

// KeyPage is one page of keys, newest first.
type KeyPage struct {
	Keys       []Key   `json:"data"`
	Total      int64   `json:"total"`       // what the filter matches over all pages
	NextCursor *string `json:"next_cursor"` // nil on the last page
}

// Event is an audit event. Facts the event does not have are nil.
type Event struct {
	ID              string         `json:"id"`
	Time            time.Time      `json:"time"`
	OrganizationID  string         `json:"organization_id"`
	Actor           string         `json:"actor"`
	Action          string         `json:"action"`
	KeyID           *string        `json:"key_id"`
	RequestID       *string        `json:"request_id"`
	TraceID         *string        `json:"trace_id"`
	Method          *string        `json:"method"`
	Path            *string        `json:"path"`
	ClientIP        *string        `json:"client_ip"`
	UserAgent       *string        `json:"user_agent"`
	Status          *int           `json:"status"`
	Outcome         *string        `json:"outcome"`
	Scope           *string        `json:"scope"`
	Details         map[string]any `json:"details"`
	ClientRequestID *string        `json:"client_request_id"`
}

// EventPage is one page of audit events, newest first.
type EventPage struct {
	Events     []Event `json:"data"`
	NextCursor *string `json:"next_cursor"` // nil on the last page
}

// PageOptions page an event listing. Zero values mean the service's
// defaults (50 events a page).
type PageOptions struct {
	Limit  int
	Cursor string
}

// AuditLogOptions filter and page AuditLogs.
type AuditLogOptions struct {
	OrganizationID string
	KeyID          string
	Action         string // key.created, key.used, key.auth_failed, key.rotated, key.revoked, audit.purged
	Actor          string
	Since, Until   time.Time // zero: unbounded
	Unattributed   bool      // the events of no organization (operators only)
	PageOptions
}

// Identity is who a verified API key is: what Verify returns and what the
// middleware puts in the request's context.
type Identity struct {
	KeyID          string     `json:"key_id"`
	OrganizationID string     `json:"organization_id"`
	Environment    string     `json:"environment"`
	Scopes         []string   `json:"scopes"`
	Name           string     `json:"name"`
	ExpiresAt      *time.Time `json:"expires_at"`
	// Metadata is the key's own JSON object (nil for none).
	Metadata json.RawMessage `json:"metadata"`
	// Secret is "current", or "previous" for the old secret of a rotation's
	// grace period, which stops working at SecretExpiresAt.
	Secret          string     `json:"secret"`
	SecretExpiresAt *time.Time `json:"secret_expires_at,omitempty"`
	// Budget is the key's request budget after this request, for keys with
	// a rate limit (nil otherwise, and for answers from the cache).
	Budget *Budget `json:"rate_limit,omitempty"`
}

// Budget is the state of a key's request budget.
type Budget struct {
	Limit     int   `json:"limit"`
	Remaining int   `json:"remaining"`
	Reset     int64 `json:"reset"` // seconds until the budget is whole
}
