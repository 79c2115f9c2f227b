// Package keys implements the key use cases of apikeys: create, list,
// get, rotate, revoke and verify keys, with every change and use audited.
package keys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/paging"
	"github.com/agentauri/apikeys/ports"
)

// Limits of the management API.
const (
	MaxNameLen       = 100 // characters
	DefaultListLimit = 20
	MaxListLimit     = 100
	idLen            = 16
)

// invalidationOverlap is how far back each poll for invalidations looks
// before the previous poll, so that a change committed late, or stamped by
// an instance whose clock is slightly behind, is still seen.
const invalidationOverlap = 5 * time.Second

// Deps are the ports the service needs; every one is required.
type Deps struct {
	Store    ports.KeyStore
	Usage    ports.UsageRecorder
	Hasher   ports.Hasher
	Digester ports.Digester
	Cache    ports.VerifyCache
	Clock    ports.Clock
	Entropy  io.Reader // cryptographic randomness for secrets and ids
}

// Service implements ports.KeyService.
type Service struct {
	d      Deps
	flight flight
	// gen counts cache invalidations; a verification only caches its
	// result if no invalidation happened while it ran.
	gen atomic.Uint64

	syncMu    sync.Mutex
	watermark time.Time
	applied   map[string]time.Time // invalidations already applied, by key id
}

var _ ports.KeyService = (*Service)(nil)

// New returns a Service, refusing a missing dependency.
func New(d Deps) (*Service, error) {
	missing := []string{}
	if d.Store == nil {
		missing = append(missing, "Store")
	}
	if d.Usage == nil {
		missing = append(missing, "Usage")
	}
	if d.Hasher == nil {
		missing = append(missing, "Hasher")
	}
	if d.Digester == nil {
		missing = append(missing, "Digester")
	}
	if d.Cache == nil {
		missing = append(missing, "Cache")
	}
	if d.Clock == nil {
		missing = append(missing, "Clock")
	}
	if d.Entropy == nil {
		missing = append(missing, "Entropy")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("keys.New: missing %s", strings.Join(missing, ", "))
	}
	return &Service{d: d, watermark: d.Clock.Now().UTC(), applied: map[string]time.Time{}}, nil
}

// now is the current time in UTC at the microsecond precision every store
// keeps, so what a call returns equals what a later read returns.
func (s *Service) now() time.Time { return s.d.Clock.Now().UTC().Truncate(time.Microsecond) }

// ValidateName checks a key name: not blank, at most MaxNameLen characters,
// valid UTF-8 without control characters. It returns the trimmed name.
func ValidateName(name string) (string, error) {
	n := strings.TrimSpace(name)
	switch {
	case n == "":
		return "", &apikey.ValidationError{Field: "name", Code: "invalid_name", Message: "name must not be empty"}
	case !utf8.ValidString(n):
		return "", &apikey.ValidationError{Field: "name", Code: "invalid_name", Message: "name must be valid UTF-8"}
	case utf8.RuneCountInString(n) > MaxNameLen:
		return "", &apikey.ValidationError{Field: "name", Code: "invalid_name", Message: fmt.Sprintf("name must be at most %d characters", MaxNameLen)}
	}
	for _, r := range n {
		if unicode.IsControl(r) {
			return "", &apikey.ValidationError{Field: "name", Code: "invalid_name", Message: "name must not contain control characters"}
		}
	}
	return n, nil
}

func (s *Service) newID(prefix string, n int) (string, error) {
	r, err := apikey.RandomString(s.d.Entropy, n)
	if err != nil {
		return "", err
	}
	return prefix + r, nil
}

// stamp returns the id and time of an event happening now.
func (s *Service) stamp() (audit.Stamp, error) { return audit.NewStamp(s.d.Entropy, s.d.Clock.Now()) }

// issue makes a new secret for env with its hash, digest and hint.
func (s *Service) issue(ctx context.Context, env apikey.Environment) (secret, hash, lookup, hint string, err error) {
	secret, err = apikey.Generate(s.d.Entropy, env)
	if err != nil {
		return "", "", "", "", fmt.Errorf("generate key: %w", err)
	}
	hash, err = s.d.Hasher.Hash(ctx, secret)
	if err != nil {
		return "", "", "", "", fmt.Errorf("hash key: %w", err)
	}
	return secret, hash, s.d.Digester.Digest(secret), apikey.Hint(secret), nil
}

// Create issues a new key in an organization the principal may manage.
func (s *Service) Create(ctx context.Context, p apikey.Principal, in ports.CreateInput) (ports.Issued, error) {
	if err := p.RequireManage(); err != nil {
		return ports.Issued{}, err
	}
	name, err := ValidateName(in.Name)
	if err != nil {
		return ports.Issued{}, err
	}
	org := in.OrganizationID
	if org == "" {
		if len(p.Organizations) != 1 {
			return ports.Issued{}, &apikey.ValidationError{Field: "organization_id", Code: "invalid_request", Message: "organization_id is required"}
		}
		org = p.Organizations[0]
	}
	if !p.MemberOf(org) {
		return ports.Issued{}, apikey.ForbiddenOrganization("organization_id", org)
	}
	if in.Scopes == nil {
		return ports.Issued{}, &apikey.ValidationError{Field: "scopes", Code: "invalid_request", Message: "scopes is required"}
	}
	scopes, err := apikey.ParseScopes(in.Scopes)
	if err != nil {
		return ports.Issued{}, err
	}
	if len(scopes) == 0 {
		return ports.Issued{}, &apikey.ValidationError{Field: "scopes", Code: "invalid_scope", Message: "scopes must name at least one scope"}
	}
	if p.IsKey() && !p.Scopes.Covers(scopes) {
		return ports.Issued{}, &apikey.ScopeError{Required: p.Scopes.Missing(scopes), Granted: p.Scopes}
	}
	env := apikey.EnvTest
	if in.Environment != "" {
		if env, err = apikey.ParseEnvironment(in.Environment); err != nil {
			return ports.Issued{}, &apikey.ValidationError{Field: "environment", Code: "invalid_environment", Message: err.Error()}
		}
	}
	st, err := s.stamp()
	if err != nil {
		return ports.Issued{}, err
	}
	now := st.Time
	var expires *time.Time
	if in.ExpiresAt != nil {
		e := in.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !e.After(now) {
			return ports.Issued{}, &apikey.ValidationError{Field: "expires_at", Code: "invalid_expires_at", Message: "expires_at must be in the future"}
		}
		expires = &e
	}
	id, err := s.newID(apikey.IDPrefix, idLen)
	if err != nil {
		return ports.Issued{}, err
	}
	secret, hash, lookup, hint, err := s.issue(ctx, env)
	if err != nil {
		return ports.Issued{}, err
	}
	k := apikey.Key{
		ID: id, OrganizationID: org, Name: name, Environment: env, Scopes: scopes,
		Hint: hint, Hash: hash, Lookup: lookup, CreatedAt: now, UpdatedAt: now,
		ExpiresAt: expires, Version: 1, CreatedBy: p.Actor(),
	}
	details := map[string]any{"name": name, "scopes": scopes.Strings(), "environment": string(env)}
	if expires != nil {
		details["expires_at"] = expires.Format(time.RFC3339Nano)
	}
	ev := audit.Change(st, audit.ActionKeyCreated, p.Actor(), org, id, in.Request, details)
	if err := s.d.Store.CreateKey(ctx, k, ev); err != nil {
		return ports.Issued{}, fmt.Errorf("create key: %w", err)
	}
	return ports.Issued{Key: k, Secret: secret}, nil
}

// Get returns a key the principal may see; any other id is ErrNotFound.
func (s *Service) Get(ctx context.Context, p apikey.Principal, id string) (apikey.Key, error) {
	if err := p.RequireManage(); err != nil {
		return apikey.Key{}, err
	}
	return s.load(ctx, p, id)
}

// load returns the key with id if p may act for its organization. Any
// other key, like an id that cannot be a key's, is apikey.ErrNotFound, so
// a caller cannot tell another organization's key from no key.
func (s *Service) load(ctx context.Context, p apikey.Principal, id string) (apikey.Key, error) {
	if !apikey.ValidKeyID(id) {
		return apikey.Key{}, apikey.ErrNotFound
	}
	k, err := s.d.Store.GetKey(ctx, id)
	if err != nil {
		return apikey.Key{}, err
	}
	if !p.MemberOf(k.OrganizationID) {
		return apikey.Key{}, apikey.ErrNotFound
	}
	return k, nil
}

// List returns a page of the keys the principal may see, newest first.
func (s *Service) List(ctx context.Context, p apikey.Principal, in ports.ListInput) (ports.KeyPage, error) {
	if err := p.RequireManage(); err != nil {
		return ports.KeyPage{}, err
	}
	orgs := p.Organizations
	if in.OrganizationID != "" {
		if !p.MemberOf(in.OrganizationID) {
			return ports.KeyPage{}, apikey.ForbiddenOrganization("organization_id", in.OrganizationID)
		}
		orgs = []string{in.OrganizationID}
	}
	limit, err := paging.Size(in.Limit, DefaultListLimit, MaxListLimit)
	if err != nil {
		return ports.KeyPage{}, err
	}
	if len(orgs) == 0 {
		return ports.KeyPage{Keys: []apikey.Key{}}, nil
	}
	return s.d.Store.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: orgs, IncludeRevoked: in.IncludeRevoked, Limit: limit, After: in.After})
}

// Rotate replaces a key's secret, keeping its id, name and scopes. The old
// secret stops working before Rotate returns.
func (s *Service) Rotate(ctx context.Context, p apikey.Principal, id string, req audit.Request) (ports.Issued, error) {
	if err := p.RequireManage(); err != nil {
		return ports.Issued{}, err
	}
	k, err := s.load(ctx, p, id)
	if err != nil {
		return ports.Issued{}, err
	}
	if k.RevokedAt != nil {
		return ports.Issued{}, apikey.ErrRevoked
	}
	if p.IsKey() && !p.Scopes.Covers(k.Scopes) {
		return ports.Issued{}, &apikey.ScopeError{Required: p.Scopes.Missing(k.Scopes), Granted: p.Scopes}
	}
	secret, hash, lookup, hint, err := s.issue(ctx, k.Environment)
	if err != nil {
		return ports.Issued{}, err
	}
	st, err := s.stamp()
	if err != nil {
		return ports.Issued{}, err
	}
	ev := audit.Change(st, audit.ActionKeyRotated, p.Actor(), k.OrganizationID, k.ID, req,
		map[string]any{"old_hint": k.Hint, "new_hint": hint})
	updated, err := s.d.Store.RotateKey(ctx, ports.Rotation{
		KeyID: k.ID, ExpectVersion: k.Version, Hash: hash, Lookup: lookup, Hint: hint, At: ev.Time,
	}, ev)
	if err != nil {
		return ports.Issued{}, fmt.Errorf("rotate key: %w", err)
	}
	s.invalidate(k.ID)
	return ports.Issued{Key: updated, Secret: secret}, nil
}

// Revoke revokes a key; revoking a revoked key changes nothing and succeeds.
func (s *Service) Revoke(ctx context.Context, p apikey.Principal, id string, req audit.Request) (apikey.Key, error) {
	if err := p.RequireManage(); err != nil {
		return apikey.Key{}, err
	}
	k, err := s.load(ctx, p, id)
	if err != nil {
		return apikey.Key{}, err
	}
	if k.RevokedAt != nil {
		return k, nil
	}
	st, err := s.stamp()
	if err != nil {
		return apikey.Key{}, err
	}
	ev := audit.Change(st, audit.ActionKeyRevoked, p.Actor(), k.OrganizationID, k.ID, req, nil)
	revoked, err := s.d.Store.RevokeKey(ctx, k.ID, ev.Time, ev)
	s.invalidate(k.ID)
	if errors.Is(err, apikey.ErrRevoked) {
		return revoked, nil
	}
	if err != nil {
		return apikey.Key{}, fmt.Errorf("revoke key: %w", err)
	}
	return revoked, nil
}

func (s *Service) invalidate(ids ...string) {
	s.gen.Add(1)
	s.d.Cache.InvalidateKeys(ids...)
}

// SyncInvalidations applies rotations and revocations made by other
// instances sharing the store: their keys leave this instance's cache.
// The app calls it on a short interval.
func (s *Service) SyncInvalidations(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	start := s.now()
	changes, err := s.d.Store.InvalidatedSince(ctx, s.watermark.Add(-invalidationOverlap))
	if err != nil {
		return fmt.Errorf("poll invalidations: %w", err)
	}
	var ids []string
	for _, c := range changes {
		if at, ok := s.applied[c.KeyID]; ok && !c.At.After(at) {
			continue
		}
		s.applied[c.KeyID] = c.At
		ids = append(ids, c.KeyID)
	}
	if len(ids) > 0 {
		s.invalidate(ids...)
	}
	s.watermark = start
	for id, at := range s.applied {
		if at.Before(start.Add(-2 * invalidationOverlap)) {
			delete(s.applied, id)
		}
	}
	return nil
}
