// Package ports declares the interfaces between the domain core and its
// adapters: what the core needs (stores, hasher, clock, ...) and what it
// offers to driving adapters such as the HTTP API.
package ports

import (
	"context"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
)

// KeyStore persists keys. Each method owns its transaction; a method that
// takes an audit event commits it together with the change it describes.
// Implementations return apikey.ErrNotFound, apikey.ErrConflict and
// apikey.ErrUnavailable rather than driver errors.
type KeyStore interface {
	// CreateKey inserts k and its audit event.
	CreateKey(ctx context.Context, k apikey.Key, ev audit.Event) error
	// GetKey returns the key with id, revoked or not.
	GetKey(ctx context.Context, id string) (apikey.Key, error)
	// FindByLookup returns the key whose secret, previous secret (of a
	// rotation's grace period) or retired secret has the lookup digest
	// digest: the caller tells which by comparing digest with the key's
	// Lookup and PreviousLookup.
	FindByLookup(ctx context.Context, digest string) (apikey.Key, error)
	// ListKeys returns one page of keys, newest first.
	ListKeys(ctx context.Context, q KeyQuery) (KeyPage, error)
	// RotateKey replaces the secret of r.KeyID if its version is still
	// r.ExpectVersion and it is not revoked, and records ev. The replaced
	// secret's lookup digest is retired (kept for attribution, forever);
	// with r.PreviousUntil the replaced secret also becomes the key's
	// previous secret until then, else any previous secret is dropped.
	// It returns the updated key, ErrNotFound, ErrRevoked or ErrConflict.
	RotateKey(ctx context.Context, r Rotation, ev audit.Event) (apikey.Key, error)
	// RevokeKey marks the key revoked at at and records ev. Revoking a
	// revoked key returns it unchanged with ErrRevoked and records nothing.
	RevokeKey(ctx context.Context, id string, at time.Time, ev audit.Event) (apikey.Key, error)
	// UpdateKey changes key id in one transaction of its own: it reads
	// the key as last committed, locked against concurrent changes, hands
	// it to change, and stores the key change returns (its name, scopes,
	// expiry, rate limit, metadata and IP allowlist; UpdatedAt and the
	// invalidation time become the event's time) together with the event
	// change returns. A revoked
	// key is not handed to change: ErrRevoked. An error of change stores
	// nothing and is returned as is. It returns the key as stored, or
	// ErrNotFound.
	UpdateKey(ctx context.Context, id string, change KeyChanger) (apikey.Key, error)
	// InvalidatedSince lists keys rotated, revoked or updated at or after
	// since.
	InvalidatedSince(ctx context.Context, since time.Time) ([]KeyChange, error)
}

// KeyChanger computes the change of a key from the key as stored, and the
// audit event recording it. A store may call it more than once (when it
// retries a transaction): it must depend on nothing but its argument.
type KeyChanger func(current apikey.Key) (apikey.Key, audit.Event, error)

// KeyQuery selects a page of keys.
type KeyQuery struct {
	OrganizationIDs []string // keys of any of these organizations (required, non-empty)
	IncludeRevoked  bool     // ignored when Statuses is set
	// Statuses, when set, keeps the keys in any of these states at Now.
	Statuses []apikey.Status
	// ExpiringBefore, when set, keeps the keys still active at Now that
	// expire at or before it.
	ExpiringBefore *time.Time
	// UnusedSince, when set, keeps the keys never used or last used
	// before it.
	UnusedSince *time.Time
	// Now is the time Statuses and ExpiringBefore are judged at.
	Now time.Time
	// SortByLastUsed orders by last use, most recent first, never-used
	// keys last (Cursor.Time is then the last use, the zero time for
	// none); else by creation, newest first.
	SortByLastUsed bool
	// RotationDue, when set, keeps the keys due for rotation at Now (true)
	// or the others (false): a key is due when it is active at Now and was
	// created or last rotated at or before the cutoff of its organization
	// in RotationCutoffs (an organization absent from it has no
	// rotation period: none of its keys is due).
	RotationDue     *bool
	RotationCutoffs map[string]time.Time
	Limit           int     // page size; 0 or less means 100, more than 1000 means 1000
	After           *Cursor // start after this position; nil for the first page
}

// Cursor is a position in the newest-first order of keys or events.
type Cursor struct {
	Time time.Time
	ID   string
}

// KeyPage is one page of keys.
type KeyPage struct {
	Keys  []apikey.Key
	Total int64   // keys matching the query over all pages
	Next  *Cursor // nil on the last page
}

// Rotation is the new secret material of a rotated key.
type Rotation struct {
	KeyID         string
	ExpectVersion int64
	Hash          string
	Lookup        string
	Hint          string
	At            time.Time
	// PreviousUntil, when set, keeps the replaced secret working until
	// then as the key's previous secret (a grace period).
	PreviousUntil *time.Time
}

// KeyChange says a key was invalidated (rotated, revoked or updated) at a
// time.
type KeyChange struct {
	KeyID string
	At    time.Time
}

// AuditStore persists audit events.
type AuditStore interface {
	// AppendUsage inserts usage events (key.used, key.auth_failed) in one
	// transaction and moves each key's last_used_at forward to its newest
	// successful use (key.used, outcome ok) in the batch, never back. It is
	// idempotent per event id: an event already stored is not stored again.
	// It stores nothing of a batch holding a usage event whose actor is not
	// audit.UsageActor(its key id).
	AppendUsage(ctx context.Context, events []audit.Event) error
	// ListEvents returns one page of events, newest first.
	ListEvents(ctx context.Context, q AuditQuery) (AuditPage, error)
}

// AuditQuery filters audit events.
type AuditQuery struct {
	OrganizationIDs []string
	KeyID           string
	Action          audit.Action
	Actions         []audit.Action // any of these, when not empty (and Action is "")
	Actor           string
	Since, Until    *time.Time // Since inclusive, Until exclusive
	Limit           int        // page size; 0 or less means 100, more than 1000 means 1000
	After           *Cursor
}

// AuditPage is one page of events.
type AuditPage struct {
	Events []audit.Event
	Next   *Cursor
}

// UsageRecorder takes usage events (key.used, key.auth_failed) for
// asynchronous, batched storage. Record returns apikey.ErrUnavailable when
// the event cannot be accepted; it never drops one silently.
type UsageRecorder interface {
	Record(ctx context.Context, ev audit.Event) error
}

// Hasher turns secrets into slow, salted hashes and checks them.
type Hasher interface {
	// Hash returns an encoded hash (PHC string) of secret.
	Hash(ctx context.Context, secret string) (string, error)
	// Compare reports whether secret matches encoded.
	Compare(ctx context.Context, secret, encoded string) (bool, error)
}

// Digester computes the keyed lookup digest of a secret (HMAC with a pepper
// that is never stored with the keys).
type Digester interface {
	Digest(secret string) string
}

// VerifyCache remembers keys whose secret has been proven, keyed by lookup
// digest, so that Argon2id is paid once per key per process.
type VerifyCache interface {
	Get(digest string) (apikey.Verified, bool)
	// Put caches what a verification proved; a cache may refuse it for a
	// key invalidated moments ago (a verification that read the key
	// before the invalidation may be finishing late).
	Put(digest string, v apikey.Verified)
	// Prime caches the facts of a key the caller has just written (created
	// or rotated): they are current by construction, so no recent
	// invalidation of the key stops them.
	Prime(digest string, v apikey.Verified)
	// InvalidateKeys drops every entry of the given key ids.
	InvalidateKeys(ids ...string)
}

// Clock tells the time; the core never calls time.Now itself.
type Clock interface {
	Now() time.Time
}
