// Package memstore is an in-memory implementation of ports.KeyStore,
// ports.AuditStore and ports.OrganizationStore, for tests and small tools. It passes the same contract
// suites (test/contract) as the SQL stores, so code tested against it sees
// what it would see on a database:
//
//   - every time comes back in UTC, truncated to microseconds;
//   - lookups by id and by lookup digest match exactly (no case folding,
//     no trailing-space equality);
//   - event details come back as a JSON round trip would return them
//     (numbers as float64, nested objects as map[string]any), and text
//     that is not valid UTF-8 comes back with U+FFFD in its place;
//   - a change and its audit event are stored together or not at all;
//   - nothing a caller passes in or gets back shares memory with what is
//     stored.
//
// Unlike the SQL stores it keeps no hash chain (it does not implement
// ports.AuditChains) and cuts no text to column widths. One mutex guards
// everything and lists are filtered and sorted on every call: it is meant
// for thousands of keys and events, not for production traffic, and it
// forgets everything when the process ends.
package memstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/orgpolicy"
	"github.com/agentauri/apikeys/ports"
)

// Page sizes used when a query asks for none or for too many, as on the
// SQL stores.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Store holds keys and audit events in memory. The zero value is not
// usable; call New. It is safe for concurrent use.
type Store struct {
	mu       sync.RWMutex
	keys     map[string]*keyRecord // by key id
	byLookup map[string]string     // lookup digest -> key id
	previous map[string]string     // previous secret's lookup digest -> key id
	retired  map[string]string     // retired lookup digest -> key id
	events   []eventRecord         // in the order stored
	eventIDs map[string]struct{}
	policies map[string]orgpolicy.Policy // by organization id
}

var (
	_ ports.KeyStore   = (*Store)(nil)
	_ ports.AuditStore = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{
		keys:     make(map[string]*keyRecord),
		byLookup: make(map[string]string),
		previous: make(map[string]string),
		retired:  make(map[string]string),
		eventIDs: make(map[string]struct{}),
		policies: make(map[string]orgpolicy.Policy),
	}
}

// keyRecord is a stored key: normalized times, its own scopes slice.
type keyRecord struct {
	key apikey.Key
	// invalidatedAt is when the key was last rotated or revoked; nil
	// for a key never invalidated.
	invalidatedAt *time.Time
}

// eventRecord is a stored event. Its Details are kept encoded (nil when
// the event had none), so every read decodes a fresh copy.
type eventRecord struct {
	ev      audit.Event
	details []byte
}

// norm returns t as stored: in UTC, truncated to microseconds, the
// precision every SQL store keeps.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := norm(*t)
	return &v
}

// copyPtr returns a pointer to a copy of *t, or nil.
func copyPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := *t
	return &v
}

// storedKey returns the record of k as it is stored.
func storedKey(k apikey.Key) *keyRecord {
	k.Scopes = copyScopes(k.Scopes)
	k.IPAllowlist = copyAllowlist(k.IPAllowlist)
	k.CreatedAt, k.UpdatedAt = norm(k.CreatedAt), norm(k.UpdatedAt)
	k.ExpiresAt, k.LastUsedAt = normPtr(k.ExpiresAt), normPtr(k.LastUsedAt)
	k.RotatedAt, k.RevokedAt = normPtr(k.RotatedAt), normPtr(k.RevokedAt)
	k.PreviousExpiresAt = normPtr(k.PreviousExpiresAt)
	// A key created already rotated or revoked (imports, tests) was last
	// invalidated at the later of the two.
	inv := k.RotatedAt
	if k.RevokedAt != nil && (inv == nil || k.RevokedAt.After(*inv)) {
		inv = k.RevokedAt
	}
	return &keyRecord{key: k, invalidatedAt: copyPtr(inv)}
}

// copyKey returns a copy of k that shares no memory with it.
func copyKey(k apikey.Key) apikey.Key {
	k.Scopes = copyScopes(k.Scopes)
	k.IPAllowlist = copyAllowlist(k.IPAllowlist)
	k.ExpiresAt, k.LastUsedAt = copyPtr(k.ExpiresAt), copyPtr(k.LastUsedAt)
	k.RotatedAt, k.RevokedAt = copyPtr(k.RotatedAt), copyPtr(k.RevokedAt)
	k.PreviousExpiresAt = copyPtr(k.PreviousExpiresAt)
	return k
}

// copyScopes returns a copy of s, never nil, as the SQL stores return it.
func copyScopes(s apikey.Scopes) apikey.Scopes {
	out := make(apikey.Scopes, len(s))
	copy(out, s)
	return out
}

// copyAllowlist returns a copy of l, nil when empty, as the SQL stores
// return it.
func copyAllowlist(l apikey.IPAllowlist) apikey.IPAllowlist {
	if len(l) == 0 {
		return nil
	}
	return slices.Clone(l)
}

// storedEvent checks ev and returns it as it is stored: its time
// normalized, its text valid UTF-8, its details encoded as JSON.
func storedEvent(ev audit.Event) (eventRecord, error) {
	if ev.Action.Usage() && ev.Actor != audit.UsageActor(ev.KeyID) {
		// The rule the SQL stores enforce, which lets them find usage
		// events by actor through their key.
		return eventRecord{}, fmt.Errorf("event %s: a %s event's actor must be %q", ev.ID, ev.Action, audit.UsageActor(ev.KeyID))
	}
	var details []byte
	if ev.Details != nil {
		enc, err := json.Marshal(ev.Details)
		if err != nil {
			return eventRecord{}, fmt.Errorf("encode details of event %s: %w", ev.ID, err)
		}
		details = enc
	}
	ev.Time = norm(ev.Time)
	for _, s := range []*string{&ev.Actor, &ev.RequestID, &ev.ClientRequestID, &ev.TraceID, &ev.Method, &ev.Path, &ev.ClientIP, &ev.UserAgent, &ev.Scope} {
		*s = validUTF8(*s)
	}
	ev.Details = nil
	ev.SpanID = "" // in memory only, as the SQL stores keep it
	return eventRecord{ev: ev, details: details}, nil
}

// validUTF8 returns s with each run of invalid bytes replaced by U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// event returns a copy of the stored event, with freshly decoded details.
func (r eventRecord) event() audit.Event {
	ev := r.ev
	if r.details != nil {
		// The bytes came from json.Marshal of a map: they decode.
		_ = json.Unmarshal(r.details, &ev.Details)
	}
	return ev
}

// newer reports whether the position (t1, id1) comes before (t2, id2) in
// newest-first order: later time first, then greater id.
func newer(t1 time.Time, id1 string, t2 time.Time, id2 string) bool {
	if !t1.Equal(t2) {
		return t1.After(t2)
	}
	return id1 > id2
}

// pastCursor reports whether the position (t, id) comes after c, i.e.
// belongs to the page that starts after c; a nil c admits everything.
func pastCursor(t time.Time, id string, c *ports.Cursor) bool {
	return c == nil || newer(norm(c.Time), c.ID, t, id)
}

// pageSize applies DefaultPageSize and MaxPageSize to a requested limit.
func pageSize(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPageSize
	case limit > MaxPageSize:
		return MaxPageSize
	}
	return limit
}

// check returns the error of a canceled or expired ctx as the SQL stores
// report it: a canceled call wraps context.Canceled, an expired one also
// apikey.ErrUnavailable. It returns nil for a live ctx.
func check(ctx context.Context, op string) error {
	err := ctx.Err()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w: %w", op, apikey.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
