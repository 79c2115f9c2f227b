// Package apikey holds the domain types of apikeys: keys, scopes,
// environments, the secret format and the domain errors.
package apikey

import "time"

// IDPrefix starts every key id, e.g. "key_8fJ2kQ0xLm3Zp9Ab".
const IDPrefix = "key_"

// Key is one API key as stored. It never holds the plaintext secret.
type Key struct {
	ID             string
	OrganizationID string
	Name           string
	Environment    Environment
	Scopes         Scopes
	Hint           string // e.g. "sk_test_…abcd"
	Hash           string // Argon2id PHC string of the secret
	Lookup         string // keyed digest of the secret, unique, for O(1) lookup
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ExpiresAt      *time.Time
	LastUsedAt     *time.Time
	RotatedAt      *time.Time
	RevokedAt      *time.Time
	Version        int64 // bumped by every rotation and revocation
	CreatedBy      string
	RateLimit      RateLimit   // the key's request budget; zero: none
	Metadata       Metadata    // free-form JSON object; "": none
	IPAllowlist    IPAllowlist // networks the key may be used from; empty: any
	// The secret a rotation with a grace period replaced, accepted until
	// PreviousExpiresAt; all empty when there is none.
	PreviousHash, PreviousLookup, PreviousHint string
	PreviousExpiresAt                          *time.Time
	// RotationDueAt is when the key falls due for rotation under its
	// organization's rotation period (its creation or last rotation plus
	// the period); nil when the organization sets none. The key service
	// sets it when it returns a key; stores never keep it.
	RotationDueAt *time.Time
}

// RotationDue reports whether k is due for rotation at t: active, with a
// RotationDueAt at or before t.
func (k Key) RotationDue(t time.Time) bool {
	return k.RotationDueAt != nil && !t.Before(*k.RotationDueAt) && k.Status(t) == StatusActive
}

// Secret says which of a key's secrets a verification was presented.
type Secret string

// The secrets of a key.
const (
	SecretCurrent  Secret = "current"  // the key's secret
	SecretPrevious Secret = "previous" // the one a rotation with a grace period replaced, until its end
)

// PreviousLive reports whether k has a previous secret still accepted at t.
func (k Key) PreviousLive(t time.Time) bool {
	return k.PreviousLookup != "" && k.PreviousExpiresAt != nil && t.Before(*k.PreviousExpiresAt)
}

// Status is the state of a key at a time, as the API shows it.
type Status string

// The states of a key.
const (
	StatusActive  Status = "active"
	StatusExpired Status = "expired"
	StatusRevoked Status = "revoked"
)

// ParseStatus reads a status name.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case StatusActive, StatusExpired, StatusRevoked:
		return st, nil
	}
	return "", &ValidationError{Field: "status", Code: "invalid_request", Message: `status must be "active", "expired" or "revoked" (comma-separated)`}
}

// Status says whether the key may be used at t: active, or revoked (which
// wins), or expired.
func (k Key) Status(t time.Time) Status {
	if k.RevokedAt != nil {
		return StatusRevoked
	}
	if k.ExpiresAt != nil && !t.Before(*k.ExpiresAt) {
		return StatusExpired
	}
	return StatusActive
}

// Verified is what a successful verification establishes about a key; it is
// what a verification cache keeps, so it holds no secret and no hash.
type Verified struct {
	KeyID          string
	OrganizationID string
	Name           string
	Environment    Environment
	Scopes         Scopes
	ExpiresAt      *time.Time
	Version        int64
	RateLimit      RateLimit // zero: none
	Metadata       Metadata
	IPAllowlist    IPAllowlist
	// Secret is which of the key's secrets was presented ("" counts as
	// current); SecretExpiresAt, for the previous one, when it stops
	// working.
	Secret          Secret
	SecretExpiresAt *time.Time
}

// AsPrevious returns v as the facts of k's previous secret.
func (v Verified) AsPrevious(k Key) Verified {
	v.Secret, v.SecretExpiresAt = SecretPrevious, k.PreviousExpiresAt
	return v
}

// Previous reports whether v was established with the key's previous
// secret.
func (v Verified) Previous() bool { return v.Secret == SecretPrevious }

// VerifiedFrom returns the verification facts of k.
func VerifiedFrom(k Key) Verified {
	return Verified{
		KeyID: k.ID, OrganizationID: k.OrganizationID, Name: k.Name,
		Environment: k.Environment, Scopes: k.Scopes, ExpiresAt: k.ExpiresAt, Version: k.Version,
		RateLimit: k.RateLimit, Metadata: k.Metadata, IPAllowlist: k.IPAllowlist,
	}
}

// Principal is whoever calls the management API: a user proven by a JWT, or
// an API key proven by its secret.
type Principal struct {
	Subject       string      // JWT "sub"; empty for a key
	Organizations []string    // JWT "orgs"; for a key, its own organization
	KeyID         string      // set when the caller is an API key
	Scopes        Scopes      // for a key, its scopes; ignored for a user
	Environment   Environment // for a key, its environment; "" for a user
}

// IsKey reports whether the principal is an API key.
func (p Principal) IsKey() bool { return p.KeyID != "" }

// Actor names the principal in audit records: "user:<sub>" or "key:<id>".
func (p Principal) Actor() string {
	if p.IsKey() {
		return "key:" + p.KeyID
	}
	return "user:" + p.Subject
}

// RequireManage returns nil if the principal may use the management API:
// a user proven by a token (with a subject), or a key holding
// api-keys:manage. Which organizations it may act for is MemberOf's
// question.
func (p Principal) RequireManage() error {
	if p.IsKey() && !p.Scopes.Has(ScopeAPIKeysManage) {
		return &ScopeError{Required: []Scope{ScopeAPIKeysManage}, Granted: p.Scopes}
	}
	if !p.IsKey() && p.Subject == "" {
		return ErrUnauthenticated
	}
	return nil
}

// MemberOf reports whether the principal may act for organization org.
func (p Principal) MemberOf(org string) bool {
	for _, o := range p.Organizations {
		if o == org {
			return true
		}
	}
	return false
}
