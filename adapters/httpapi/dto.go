package httpapi

import (
	"time"

	"github.com/agentauri/apikeys/core/apikey"
)

// keyJSON is a key as the API shows it: never its secret or hash.
type keyJSON struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	OrganizationID string     `json:"organization_id"`
	Environment    string     `json:"environment"`
	Scopes         []string   `json:"scopes"`
	KeyHint        string     `json:"key_hint"`
	Status         string     `json:"status"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	ExpiresAt      *time.Time `json:"expires_at"`
	RotatedAt      *time.Time `json:"rotated_at"`
	RevokedAt      *time.Time `json:"revoked_at"`
}

// issuedJSON is a key with its secret, shown once at creation.
type issuedJSON struct {
	ID             string     `json:"id"`
	Key            string     `json:"key"`
	Name           string     `json:"name"`
	OrganizationID string     `json:"organization_id"`
	Environment    string     `json:"environment"`
	Scopes         []string   `json:"scopes"`
	KeyHint        string     `json:"key_hint"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	ExpiresAt      *time.Time `json:"expires_at"`
}

// rotatedJSON is the answer to a rotation: the same id with a new secret.
type rotatedJSON struct {
	ID             string     `json:"id"`
	Key            string     `json:"key"`
	Name           string     `json:"name"`
	RotatedAt      time.Time  `json:"rotated_at"`
	OrganizationID string     `json:"organization_id"`
	Environment    string     `json:"environment"`
	Scopes         []string   `json:"scopes"`
	KeyHint        string     `json:"key_hint"`
	CreatedAt      time.Time  `json:"created_at"`
	ExpiresAt      *time.Time `json:"expires_at"`
}

type listJSON struct {
	Data       []keyJSON `json:"data"`
	Total      int64     `json:"total"`
	NextCursor *string   `json:"next_cursor"`
}

// createRequest is the body of POST /api/v1/api-keys. Pointers tell a
// missing field from an empty one.
type createRequest struct {
	Name           *string  `json:"name"`
	OrganizationID *string  `json:"organization_id"`
	Scopes         []string `json:"scopes"`
	Environment    *string  `json:"environment"`
	ExpiresAt      *string  `json:"expires_at"`
}

type verifyJSON struct {
	Valid          bool       `json:"valid"`
	KeyID          string     `json:"key_id"`
	OrganizationID string     `json:"organization_id"`
	Environment    string     `json:"environment"`
	Scopes         []string   `json:"scopes"`
	Name           string     `json:"name"`
	ExpiresAt      *time.Time `json:"expires_at"`
}

func scopeStrings(ss apikey.Scopes) []string {
	out := ss.Strings()
	if out == nil {
		out = []string{}
	}
	return out
}

func toKeyJSON(k apikey.Key, now time.Time) keyJSON {
	return keyJSON{
		ID: k.ID, Name: k.Name, OrganizationID: k.OrganizationID, Environment: string(k.Environment),
		Scopes: scopeStrings(k.Scopes), KeyHint: k.Hint, Status: string(k.Status(now)), CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt, RotatedAt: k.RotatedAt, RevokedAt: k.RevokedAt,
	}
}
