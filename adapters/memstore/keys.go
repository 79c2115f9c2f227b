package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// CreateKey stores k and its audit event ev together. A taken key id,
// lookup digest or event id yields apikey.ErrConflict and stores nothing.
func (s *Store) CreateKey(ctx context.Context, k apikey.Key, ev audit.Event) error {
	if err := check(ctx, "create key"); err != nil {
		return err
	}
	rec, err := storedEvent(ev)
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.keys[k.ID]; taken {
		return fmt.Errorf("create key: id taken: %w", apikey.ErrConflict)
	}
	if _, taken := s.byLookup[k.Lookup]; taken {
		return fmt.Errorf("create key: lookup taken: %w", apikey.ErrConflict)
	}
	if err := s.eventFree(rec); err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	s.keys[k.ID] = storedKey(k)
	s.byLookup[k.Lookup] = k.ID
	if k.PreviousLookup != "" {
		s.previous[k.PreviousLookup] = k.ID
	}
	s.addEvent(rec)
	return nil
}

// GetKey returns the key with id, revoked or not, or apikey.ErrNotFound.
func (s *Store) GetKey(ctx context.Context, id string) (apikey.Key, error) {
	if err := check(ctx, "get key"); err != nil {
		return apikey.Key{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	rec, ok := s.keys[id]
	if !ok {
		return apikey.Key{}, fmt.Errorf("get key: %w", apikey.ErrNotFound)
	}
	return copyKey(rec.key), nil
}

// FindByLookup returns the key, revoked or not, whose secret, previous
// secret or retired secret has the lookup digest digest (in that order of
// preference), or apikey.ErrNotFound.
func (s *Store) FindByLookup(ctx context.Context, digest string) (apikey.Key, error) {
	if err := check(ctx, "find key"); err != nil {
		return apikey.Key{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, m := range []map[string]string{s.byLookup, s.previous, s.retired} {
		if id, ok := m[digest]; ok {
			return copyKey(s.keys[id].key), nil
		}
	}
	return apikey.Key{}, fmt.Errorf("find key: %w", apikey.ErrNotFound)
}

// ListKeys returns one page of the keys of q.OrganizationIDs, newest first
// (created_at, then id, descending), or most recently used first with
// q.SortByLastUsed (never-used keys last). Revoked keys are left out unless
// q.IncludeRevoked; q.Statuses, q.ExpiringBefore and q.UnusedSince filter
// further. Total counts every matching key, ignoring q.After. An empty
// q.OrganizationIDs matches no key. A q.Limit of zero or less means
// DefaultPageSize; more than MaxPageSize means MaxPageSize.
func (s *Store) ListKeys(ctx context.Context, q ports.KeyQuery) (ports.KeyPage, error) {
	if err := check(ctx, "list keys"); err != nil {
		return ports.KeyPage{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var match []*keyRecord
	for _, rec := range s.keys {
		if slices.Contains(q.OrganizationIDs, rec.key.OrganizationID) && listed(rec.key, q) {
			match = append(match, rec)
		}
	}
	pos := func(k apikey.Key) time.Time {
		if !q.SortByLastUsed {
			return k.CreatedAt
		}
		if k.LastUsedAt == nil {
			return time.Time{}
		}
		return *k.LastUsedAt
	}
	slices.SortFunc(match, func(a, b *keyRecord) int {
		if newer(pos(a.key), a.key.ID, pos(b.key), b.key.ID) {
			return -1
		}
		return 1 // ids are unique: no two positions are equal
	})
	page := ports.KeyPage{Keys: []apikey.Key{}, Total: int64(len(match))}
	limit := pageSize(q.Limit)
	for _, rec := range match {
		k := rec.key
		if !pastCursor(pos(k), k.ID, q.After) {
			continue
		}
		if len(page.Keys) == limit {
			last := page.Keys[limit-1]
			page.Next = &ports.Cursor{Time: pos(last), ID: last.ID}
			break
		}
		page.Keys = append(page.Keys, copyKey(k))
	}
	return page, nil
}

// listed reports whether k passes q's filters.
func listed(k apikey.Key, q ports.KeyQuery) bool {
	now := norm(q.Now)
	if len(q.Statuses) > 0 {
		if !slices.Contains(q.Statuses, k.Status(now)) {
			return false
		}
	} else if !q.IncludeRevoked && k.RevokedAt != nil {
		return false
	}
	if q.ExpiringBefore != nil && (k.RevokedAt != nil || k.ExpiresAt == nil || !k.ExpiresAt.After(now) || k.ExpiresAt.After(norm(*q.ExpiringBefore))) {
		return false
	}
	if q.UnusedSince != nil && k.LastUsedAt != nil && !k.LastUsedAt.Before(norm(*q.UnusedSince)) {
		return false
	}
	if q.RotationDue != nil && rotationDue(k, q.RotationCutoffs, now) != *q.RotationDue {
		return false
	}
	return true
}

// rotationDue reports whether k is due for rotation at now: active, and
// created or last rotated at or before its organization's cutoff.
func rotationDue(k apikey.Key, cutoffs map[string]time.Time, now time.Time) bool {
	cutoff, ok := cutoffs[k.OrganizationID]
	if !ok || k.Status(now) != apikey.StatusActive {
		return false
	}
	last := k.CreatedAt
	if k.RotatedAt != nil {
		last = *k.RotatedAt
	}
	return !last.After(norm(cutoff))
}

// RotateKey replaces the secret material of r.KeyID if its version is still
// r.ExpectVersion and it is not revoked, bumps the version, marks the key
// invalidated at r.At, retires the replaced secret's digest, keeps the
// replaced secret as the previous one until r.PreviousUntil when set (else
// drops any previous one) and records ev, all together. It returns the updated
// key, or apikey.ErrNotFound, apikey.ErrRevoked or apikey.ErrConflict
// (another change won, or the new lookup or the event id is taken).
func (s *Store) RotateKey(ctx context.Context, r ports.Rotation, ev audit.Event) (apikey.Key, error) {
	if err := check(ctx, "rotate key"); err != nil {
		return apikey.Key{}, err
	}
	evRec, err := storedEvent(ev)
	if err != nil {
		return apikey.Key{}, fmt.Errorf("rotate key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.keys[r.KeyID]
	switch {
	case !ok:
		return apikey.Key{}, fmt.Errorf("rotate key: %w", apikey.ErrNotFound)
	case rec.key.RevokedAt != nil:
		return apikey.Key{}, fmt.Errorf("rotate key: %w", apikey.ErrRevoked)
	case rec.key.Version != r.ExpectVersion:
		return apikey.Key{}, fmt.Errorf("rotate key: version %d is stale: %w", r.ExpectVersion, apikey.ErrConflict)
	}
	if s.lookupTaken(r.Lookup, r.KeyID) {
		return apikey.Key{}, fmt.Errorf("rotate key: lookup taken: %w", apikey.ErrConflict)
	}
	if err := s.eventFree(evRec); err != nil {
		return apikey.Key{}, fmt.Errorf("rotate key: %w", err)
	}
	at := norm(r.At)
	delete(s.byLookup, rec.key.Lookup)
	s.byLookup[r.Lookup] = r.KeyID
	s.retired[rec.key.Lookup] = r.KeyID
	delete(s.previous, rec.key.PreviousLookup)
	k := &rec.key
	k.PreviousHash, k.PreviousLookup, k.PreviousHint, k.PreviousExpiresAt = "", "", "", nil
	if r.PreviousUntil != nil {
		k.PreviousHash, k.PreviousLookup, k.PreviousHint, k.PreviousExpiresAt = k.Hash, k.Lookup, k.Hint, normPtr(r.PreviousUntil)
		s.previous[k.Lookup] = r.KeyID
	}
	rec.key.Hash, rec.key.Lookup, rec.key.Hint = r.Hash, r.Lookup, r.Hint
	rec.key.RotatedAt, rec.invalidatedAt = &at, copyPtr(&at)
	rec.key.UpdatedAt = at
	rec.key.Version++
	s.addEvent(evRec)
	return copyKey(rec.key), nil
}

// RevokeKey marks key id revoked and invalidated at at, bumps its version
// and records ev, all together, and returns the revoked key. Revoking a
// revoked key returns it unchanged with apikey.ErrRevoked and records
// nothing; a missing key yields apikey.ErrNotFound, a taken event id
// apikey.ErrConflict.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time, ev audit.Event) (apikey.Key, error) {
	if err := check(ctx, "revoke key"); err != nil {
		return apikey.Key{}, err
	}
	evRec, err := storedEvent(ev)
	if err != nil {
		return apikey.Key{}, fmt.Errorf("revoke key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.keys[id]
	switch {
	case !ok:
		return apikey.Key{}, fmt.Errorf("revoke key: %w", apikey.ErrNotFound)
	case rec.key.RevokedAt != nil:
		return copyKey(rec.key), fmt.Errorf("revoke key: %w", apikey.ErrRevoked)
	}
	if err := s.eventFree(evRec); err != nil {
		return apikey.Key{}, fmt.Errorf("revoke key: %w", err)
	}
	at = norm(at)
	rec.key.RevokedAt, rec.invalidatedAt = &at, copyPtr(&at)
	rec.key.UpdatedAt = at
	rec.key.Version++
	s.addEvent(evRec)
	return copyKey(rec.key), nil
}

// UpdateKey hands key id, as stored, to change and stores the name,
// scopes, expiry, rate limit, metadata and IP allowlist of the key it
// returns, with UpdatedAt and
// the invalidation time set to the time of the event it returns, and the
// event, all together. A revoked key yields apikey.ErrRevoked without
// calling change; an error of change stores nothing and is returned as is.
func (s *Store) UpdateKey(ctx context.Context, id string, change ports.KeyChanger) (apikey.Key, error) {
	if err := check(ctx, "update key"); err != nil {
		return apikey.Key{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.keys[id]
	switch {
	case !ok:
		return apikey.Key{}, fmt.Errorf("update key: %w", apikey.ErrNotFound)
	case rec.key.RevokedAt != nil:
		return apikey.Key{}, fmt.Errorf("update key: %w", apikey.ErrRevoked)
	}
	next, ev, err := change(copyKey(rec.key))
	if err != nil {
		return apikey.Key{}, err
	}
	evRec, err := storedEvent(ev)
	if err != nil {
		return apikey.Key{}, fmt.Errorf("update key: %w", err)
	}
	if err := s.eventFree(evRec); err != nil {
		return apikey.Key{}, fmt.Errorf("update key: %w", err)
	}
	at := norm(ev.Time)
	stored := storedKey(next)
	rec.key.Name, rec.key.Scopes, rec.key.ExpiresAt, rec.key.RateLimit = stored.key.Name, stored.key.Scopes, stored.key.ExpiresAt, stored.key.RateLimit
	rec.key.Metadata, rec.key.IPAllowlist = stored.key.Metadata, stored.key.IPAllowlist
	rec.key.UpdatedAt, rec.invalidatedAt = at, copyPtr(&at)
	s.addEvent(evRec)
	return copyKey(rec.key), nil
}

// InvalidatedSince lists the keys rotated, revoked or updated at or after since,
// oldest change first.
func (s *Store) InvalidatedSince(ctx context.Context, since time.Time) ([]ports.KeyChange, error) {
	if err := check(ctx, "invalidated keys"); err != nil {
		return nil, err
	}
	since = norm(since)
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []ports.KeyChange{}
	for id, rec := range s.keys {
		if rec.invalidatedAt != nil && !rec.invalidatedAt.Before(since) {
			out = append(out, ports.KeyChange{KeyID: id, At: *rec.invalidatedAt})
		}
	}
	slices.SortFunc(out, func(a, b ports.KeyChange) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.KeyID, b.KeyID)
	})
	return out, nil
}

// lookupTaken reports whether digest is another key's, or a secret of
// any key that is not id's current one. The caller holds s.mu.
func (s *Store) lookupTaken(digest, id string) bool {
	if owner, taken := s.byLookup[digest]; taken && owner != id {
		return true
	}
	_, prev := s.previous[digest]
	_, ret := s.retired[digest]
	return prev || ret
}

// eventFree returns apikey.ErrConflict if an event with rec's id is
// stored. The caller holds s.mu.
func (s *Store) eventFree(rec eventRecord) error {
	if _, taken := s.eventIDs[rec.ev.ID]; taken {
		return fmt.Errorf("event id taken: %w", apikey.ErrConflict)
	}
	return nil
}

// addEvent stores rec, whose id must be free. The caller holds s.mu for
// writing.
func (s *Store) addEvent(rec eventRecord) {
	s.events = append(s.events, rec)
	s.eventIDs[rec.ev.ID] = struct{}{}
}
