package httpapi

import (
	"encoding/json"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

// keyJSON is a key as the API shows it: never its secret or hash.
type keyJSON struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	OrganizationID string          `json:"organization_id"`
	Environment    string          `json:"environment"`
	Scopes         []string        `json:"scopes"`
	KeyHint        string          `json:"key_hint"`
	Status         string          `json:"status"`
	CreatedAt      time.Time       `json:"created_at"`
	LastUsedAt     *time.Time      `json:"last_used_at"`
	ExpiresAt      *time.Time      `json:"expires_at"`
	RotatedAt      *time.Time      `json:"rotated_at"`
	RevokedAt      *time.Time      `json:"revoked_at"`
	RateLimit      *rateLimitJSON  `json:"rate_limit"`
	Metadata       json.RawMessage `json:"metadata"`
	IPAllowlist    []string        `json:"ip_allowlist"`
	// The secret a rotation with a grace period replaced, while it works.
	PreviousKeyHint      *string    `json:"previous_key_hint"`
	PreviousKeyExpiresAt *time.Time `json:"previous_key_expires_at"`
	// RotationDue says the key is due for rotation under its
	// organization's rotation_period.
	RotationDue bool `json:"rotation_due"`
}

// issuedJSON is a key with its secret, shown once at creation and
// rotation: the full key shape (keyJSON) plus "key". The outer ID shadows
// keyJSON's, so that "id" and "key" come first.
type issuedJSON struct {
	ID  string `json:"id"`
	Key string `json:"key"`
	keyJSON
}

// toIssuedJSON is the answer of a creation or rotation.
func toIssuedJSON(iss ports.Issued, now time.Time) issuedJSON {
	return issuedJSON{ID: iss.Key.ID, Key: iss.Secret, keyJSON: toKeyJSON(iss.Key, now)}
}

type listJSON struct {
	Data       []keyJSON `json:"data"`
	Total      int64     `json:"total"`
	NextCursor *string   `json:"next_cursor"`
}

// createRequest is the body of POST /api/v1/api-keys. Pointers tell a
// missing field from an empty one.
type createRequest struct {
	Name           *string           `json:"name"`
	OrganizationID *string           `json:"organization_id"`
	Scopes         []string          `json:"scopes"`
	Environment    *string           `json:"environment"`
	ExpiresAt      *string           `json:"expires_at"`
	RateLimit      *rateLimitRequest `json:"rate_limit"`
	Metadata       json.RawMessage   `json:"metadata"`
	IPAllowlist    []string          `json:"ip_allowlist"`
}

type verifyJSON struct {
	Valid          bool        `json:"valid"`
	KeyID          string      `json:"key_id"`
	OrganizationID string      `json:"organization_id"`
	Environment    string      `json:"environment"`
	Scopes         []string    `json:"scopes"`
	Name           string      `json:"name"`
	ExpiresAt      *time.Time  `json:"expires_at"`
	RateLimit      *budgetJSON `json:"rate_limit,omitempty"`
	// Metadata is written by verifyBody, after the other members: the
	// stored text is compact JSON already, and encoding/json would scan
	// (compact) all of it again on every verification.
	Metadata apikey.Metadata `json:"-"`
	// Secret is "current", or "previous" for the secret a rotation with a
	// grace period replaced, which stops working at SecretExpiresAt.
	Secret          string     `json:"secret"`
	SecretExpiresAt *time.Time `json:"secret_expires_at,omitempty"`
}

// verifyBody encodes v with its metadata (null for none) as the last member.
func verifyBody(v verifyJSON) ([]byte, error) {
	b, err := json.Marshal(v) //nolint:gosec // "secret" says which secret was presented (current or previous), never its value
	if err != nil {
		return nil, err
	}
	meta := string(v.Metadata)
	if meta == "" {
		meta = "null"
	}
	out := make([]byte, 0, len(b)+len(`,"metadata":`)+len(meta))
	out = append(out, b[:len(b)-1]...) // without its closing brace
	out = append(out, `,"metadata":`...)
	out = append(out, meta...)
	return append(out, '}'), nil
}

// budgetJSON is the state of a limited key's request budget in a verify
// answer: the headers' values, as numbers.
type budgetJSON struct {
	Limit     int   `json:"limit"`
	Remaining int   `json:"remaining"`
	Reset     int64 `json:"reset"` // seconds until the budget is whole
}

// budgetOf is v's key budget for the verify answer; nil when the key has
// no limit or the limiter failed open (the budget is unknown).
func budgetOf(v ports.Verification) *budgetJSON {
	d := v.Budget
	if d.Limit == 0 || d.FailedOpen {
		return nil
	}
	return &budgetJSON{Limit: d.Limit, Remaining: d.Remaining, Reset: d.ResetSeconds()}
}

// rateLimitJSON is a key's own rate limit: {"limit": 100, "window": "1m"}.
type rateLimitJSON struct {
	Limit  int    `json:"limit"`
	Window string `json:"window"`
}

// rateLimitOf is k's rate limit as the API shows it; nil for none.
func rateLimitOf(r apikey.RateLimit) *rateLimitJSON {
	if r.IsZero() {
		return nil
	}
	return &rateLimitJSON{Limit: r.Limit, Window: r.WindowName()}
}

func scopeStrings(ss apikey.Scopes) []string {
	out := ss.Strings()
	if out == nil {
		out = []string{}
	}
	return out
}

func toKeyJSON(k apikey.Key, now time.Time) keyJSON {
	out := keyJSON{
		ID: k.ID, Name: k.Name, OrganizationID: k.OrganizationID, Environment: string(k.Environment),
		Scopes: scopeStrings(k.Scopes), KeyHint: k.Hint, Status: string(k.Status(now)), CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt, RotatedAt: k.RotatedAt, RevokedAt: k.RevokedAt,
		RateLimit: rateLimitOf(k.RateLimit), Metadata: metadataOf(k.Metadata), IPAllowlist: allowlistOf(k.IPAllowlist),
	}
	out.PreviousKeyHint, out.PreviousKeyExpiresAt = previousOf(k, now)
	out.RotationDue = k.RotationDue(now)
	return out
}

// previousOf is the hint and end of k's previous secret while it works at
// now; nil, nil otherwise.
func previousOf(k apikey.Key, now time.Time) (*string, *time.Time) {
	if !k.PreviousLive(now) {
		return nil, nil
	}
	hint, until := k.PreviousHint, *k.PreviousExpiresAt
	return &hint, &until
}

// metadataOf is a key's metadata as the API shows it: the object, or null.
func metadataOf(m apikey.Metadata) json.RawMessage {
	if m.IsZero() {
		return json.RawMessage("null")
	}
	return json.RawMessage(m)
}

// allowlistOf is a key's IP allowlist as the API shows it: [] for none.
func allowlistOf(l apikey.IPAllowlist) []string { return l.Strings() }
