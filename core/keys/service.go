// Package keys implements the key use cases of apikeys: create, list,
// get, rotate, revoke and verify keys, with every change and use audited.
package keys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/orgpolicy"
	"github.com/agentauri/apikeys/core/paging"
	"github.com/agentauri/apikeys/core/quota"
	"github.com/agentauri/apikeys/ports"
)

// Limits of the management API.
const (
	MaxNameLen       = 100 // characters
	DefaultListLimit = 20
	MaxListLimit     = 100
	idLen            = 16
)

// Deps are the ports the service needs; every one is required.
type Deps struct {
	Store    ports.KeyStore
	Policies ports.OrganizationStore // the organizations' key policies
	Usage    ports.UsageRecorder
	Hasher   ports.Hasher
	Digester ports.Digester
	Cache    ports.VerifyCache
	Clock    ports.Clock
	Entropy  io.Reader // cryptographic randomness for secrets and ids
	// The request budgets: per key, failed authentications per client,
	// and hashing management calls per principal.
	KeyLimits        ports.KeyLimiter
	FailedAuth       ports.FailedAuthLimiter
	ManagementLimits ports.ManagementLimiter
}

// Options tune a Service; the zero value is valid.
type Options struct {
	// MaxStaleness, when positive, is how long after the start of its
	// last successful invalidation poll the service still answers from
	// its cache: past it, a verification the cache would answer fails
	// with apikey.ErrUnavailable until a poll succeeds, so that an
	// instance cut off from the store never keeps honouring a key
	// revoked elsewhere (fail closed). Zero serves from the cache
	// whatever the staleness (serve stale).
	MaxStaleness time.Duration
	// KeyDefaults gives a key created without a rate limit its
	// organization's default one, if any.
	KeyDefaults quota.KeyDefaults
}

// Service implements ports.KeyService.
type Service struct {
	d       Deps
	opt     Options
	lookups flight[lookup]
	proofs  flight[bool]
	inval   invalidations
	sums    summaries
}

var _ ports.KeyService = (*Service)(nil)

// New returns a Service, refusing a missing dependency.
func New(d Deps, opts ...Options) (*Service, error) {
	missing := []string{}
	if d.Store == nil {
		missing = append(missing, "Store")
	}
	if d.Policies == nil {
		missing = append(missing, "Policies")
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
	if d.KeyLimits == nil || d.FailedAuth == nil || d.ManagementLimits == nil {
		missing = append(missing, "KeyLimits, FailedAuth, ManagementLimits")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("keys.New: missing %s", strings.Join(missing, ", "))
	}
	s := &Service{d: d}
	if len(opts) > 0 {
		s.opt = opts[0]
	}
	s.inval.init(d.Clock.Now().UTC())
	return s, nil
}

// now is the current time in UTC at the microsecond precision every store
// keeps, so what a call returns equals what a later read returns.
func (s *Service) now() time.Time { return s.d.Clock.Now().UTC().Truncate(time.Microsecond) }

// mayChange reports whether p may create, rotate or revoke a key holding
// scopes in environment env. A user (token) may, in any organization it
// acts for. A key may change only keys whose scopes are a subset of its own
// (else a ScopeError naming the scopes it lacks), and a test key only test
// keys (a DeniedError forbidden_environment), so that no key can reach
// beyond itself.
func mayChange(p apikey.Principal, scopes apikey.Scopes, env apikey.Environment) error {
	if !p.IsKey() {
		return nil
	}
	if !p.Scopes.Covers(scopes) {
		return &apikey.ScopeError{Required: p.Scopes.Missing(scopes), Granted: p.Scopes}
	}
	if p.Environment != apikey.EnvLive && env != apikey.EnvTest {
		return &apikey.DeniedError{Field: "environment", Code: "forbidden_environment",
			Message: "a test key may create, rotate and revoke only test keys"}
	}
	return nil
}

// ValidateName checks a key name: not blank, at most MaxNameLen characters,
// valid UTF-8 (a U+FFFD replacement character, the trace of bytes that
// were not, is refused too), no control characters, no bidirectional
// embedding, override or isolate characters (which make a name read
// otherwise than it is: "Trojan Source"), and not made only of invisible
// characters. It returns the trimmed name.
func ValidateName(name string) (string, error) {
	n := strings.TrimSpace(name)
	bad := func(msg string) (string, error) {
		return "", &apikey.ValidationError{Field: "name", Code: "invalid_name", Message: msg}
	}
	switch {
	case n == "":
		return bad("name must not be empty")
	case !utf8.ValidString(n) || strings.ContainsRune(n, utf8.RuneError):
		return bad("name must be valid UTF-8")
	case utf8.RuneCountInString(n) > MaxNameLen:
		return bad(fmt.Sprintf("name must be at most %d characters", MaxNameLen))
	}
	visible := false
	for _, r := range n {
		switch {
		case unicode.IsControl(r):
			return bad("name must not contain control characters")
		case isBidiControl(r):
			return bad(fmt.Sprintf("name must not contain bidirectional control characters (U+%04X)", r))
		case !invisible(r):
			visible = true
		}
	}
	if !visible {
		return bad("name must contain a visible character")
	}
	return n, nil
}

// isBidiControl reports whether r is a bidirectional embedding, override
// or isolate character (U+202A-U+202E, U+2066-U+2069) or the Arabic
// letter mark (U+061C).
func isBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x061C
}

// invisible reports whether r shows nothing by itself: white space, a
// format character (zero-width space, joiners, marks), a variation
// selector, another default-ignorable code point (Hangul fillers…), the
// blank Braille pattern, or a nonspacing mark (which, alone, has nothing
// to sit on).
func invisible(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Variation_Selector, r) ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || r == 0x2800 || r == 0x115F || r == 0x1160 ||
		r == 0x3164 || r == 0xFFA0 || unicode.Is(unicode.Mn, r)
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

// issue makes a new secret for env with its hash, digest and hint, once p
// may spend the Argon2id it costs (a management budget per principal).
func (s *Service) issue(ctx context.Context, p apikey.Principal, env apikey.Environment) (secret, hash, lookup, hint string, err error) {
	d, err := s.d.ManagementLimits.TakeManagement(ctx, p.Actor())
	if err != nil {
		return "", "", "", "", fmt.Errorf("take management budget: %w", err)
	}
	if !d.Allowed {
		return "", "", "", "", &apikey.RateLimitError{RetryAfter: d.RetryAfter}
	}
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
	if org != "" && !apikey.ValidOrganizationID(org) {
		return ports.Issued{}, apikey.InvalidOrganizationID("organization_id")
	}
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
	env := apikey.EnvTest
	if in.Environment != "" {
		if env, err = apikey.ParseEnvironment(in.Environment); err != nil {
			return ports.Issued{}, &apikey.ValidationError{Field: "environment", Code: "invalid_environment", Message: err.Error()}
		}
	}
	if err := mayChange(p, scopes, env); err != nil {
		return ports.Issued{}, err
	}
	pol, err := s.policy(ctx, org)
	if err != nil {
		return ports.Issued{}, err
	}
	st, err := s.stamp()
	if err != nil {
		return ports.Issued{}, err
	}
	o, err := s.createOptions(org, pol, in, st.Time)
	if err != nil {
		return ports.Issued{}, err
	}
	if err := pol.Check(orgpolicy.Terms{Environment: env, ExpiresAt: o.expires}, st.Time); err != nil {
		return ports.Issued{}, err
	}
	now, expires, limit, meta, allow := st.Time, o.expires, o.limit, o.meta, o.allow
	id, err := s.newID(apikey.IDPrefix, idLen)
	if err != nil {
		return ports.Issued{}, err
	}
	secret, hash, lookup, hint, err := s.issue(ctx, p, env)
	if err != nil {
		return ports.Issued{}, err
	}
	k := apikey.Key{
		ID: id, OrganizationID: org, Name: name, Environment: env, Scopes: scopes,
		Hint: hint, Hash: hash, Lookup: lookup, CreatedAt: now, UpdatedAt: now,
		ExpiresAt: expires, Version: 1, CreatedBy: p.Actor(), RateLimit: limit,
		Metadata: meta, IPAllowlist: allow,
	}
	details := map[string]any{"name": name, "scopes": scopes.Strings(), "environment": string(env)}
	if expires != nil {
		details["expires_at"] = expires.Format(time.RFC3339Nano)
	}
	if !limit.IsZero() {
		details["rate_limit"] = limit.String()
	}
	if len(allow) > 0 {
		details["ip_allowlist"] = allow.Strings()
	}
	if !meta.IsZero() {
		details["metadata"] = metadataValue(meta)
	}
	ev := audit.Change(st, audit.ActionKeyCreated, p.Actor(), org, id, in.Request, details)
	if err := s.d.Store.CreateKey(ctx, k, ev); err != nil {
		return ports.Issued{}, fmt.Errorf("create key: %w", err)
	}
	s.prime(lookup, apikey.VerifiedFrom(k), s.inval.seq.Load())
	k.RotationDueAt = pol.RotationDueAt(k)
	return ports.Issued{Key: k, Secret: secret}, nil
}

// keyOptions are the optional settings of a key being created.
type keyOptions struct {
	expires *time.Time
	limit   apikey.RateLimit
	meta    apikey.Metadata
	allow   apikey.IPAllowlist
}

// createOptions validates the optional settings of in at now; a key of
// org created without a rate limit gets the organization's default (its
// policy's, else the configured one), and one created without an IP
// allowlist the policy's default allowlist.
func (s *Service) createOptions(org string, pol orgpolicy.Policy, in ports.CreateInput, now time.Time) (keyOptions, error) {
	var o keyOptions
	if in.ExpiresAt != nil {
		e := in.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !e.After(now) {
			return o, &apikey.ValidationError{Field: "expires_at", Code: "invalid_expires_at", Message: "expires_at must be in the future"}
		}
		o.expires = &e
	}
	if limit, ok := s.opt.KeyDefaults.For(org); ok {
		o.limit = limit
	}
	if !pol.DefaultRateLimit.IsZero() {
		o.limit = pol.DefaultRateLimit
	}
	if in.RateLimit != nil {
		if err := in.RateLimit.Validate(); err != nil {
			return o, err
		}
		o.limit = *in.RateLimit
	}
	var err error
	if in.Metadata != nil {
		if o.meta, err = apikey.ParseMetadata(in.Metadata); err != nil {
			return o, err
		}
	}
	if o.allow, err = apikey.ParseIPAllowlist(in.IPAllowlist); err != nil {
		return o, err
	}
	if len(o.allow) == 0 {
		o.allow = slices.Clone(pol.DefaultIPAllowlist)
	}
	return o, nil
}

// Get returns a key the principal may see; any other id is ErrNotFound.
func (s *Service) Get(ctx context.Context, p apikey.Principal, id string) (apikey.Key, error) {
	if err := p.RequireManage(); err != nil {
		return apikey.Key{}, err
	}
	k, err := s.load(ctx, p, id)
	if err != nil {
		return apikey.Key{}, err
	}
	return s.withRotationDue(ctx, k)
}

// policy returns the key policy of organization org.
func (s *Service) policy(ctx context.Context, org string) (orgpolicy.Policy, error) {
	pol, err := s.d.Policies.GetPolicy(ctx, org)
	if err != nil {
		return orgpolicy.Policy{}, fmt.Errorf("get policy: %w", err)
	}
	return pol, nil
}

// withRotationDue returns k with when it falls due for rotation under its
// organization's policy.
func (s *Service) withRotationDue(ctx context.Context, k apikey.Key) (apikey.Key, error) {
	pol, err := s.policy(ctx, k.OrganizationID)
	if err != nil {
		return apikey.Key{}, err
	}
	k.RotationDueAt = pol.RotationDueAt(k)
	return k, nil
}

// loadChangeable returns the key with id if p may act for its
// organization (load) and may change a key of its scopes and environment
// (mayChange): the check of every use case that changes a key.
func (s *Service) loadChangeable(ctx context.Context, p apikey.Principal, id string) (apikey.Key, error) {
	k, err := s.load(ctx, p, id)
	if err != nil {
		return apikey.Key{}, err
	}
	if err := mayChange(p, k.Scopes, k.Environment); err != nil {
		return apikey.Key{}, err
	}
	return k, nil
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

// invalidCursor refuses a cursor that cannot be a position in the keys.
func invalidCursor() error {
	return &apikey.ValidationError{Field: "cursor", Code: "invalid_cursor", Message: "cursor is not one this API returned"}
}

// List returns a page of the keys the principal may see, newest first.
func (s *Service) List(ctx context.Context, p apikey.Principal, in ports.ListInput) (ports.KeyPage, error) {
	if err := p.RequireManage(); err != nil {
		return ports.KeyPage{}, err
	}
	orgs := p.Organizations
	if in.OrganizationID != "" {
		if !apikey.ValidOrganizationID(in.OrganizationID) {
			return ports.KeyPage{}, apikey.InvalidOrganizationID("organization_id")
		}
		if !p.MemberOf(in.OrganizationID) {
			return ports.KeyPage{}, apikey.ForbiddenOrganization("organization_id", in.OrganizationID)
		}
		orgs = []string{in.OrganizationID}
	}
	limit, err := paging.Size(in.Limit, DefaultListLimit, MaxListLimit)
	if err != nil {
		return ports.KeyPage{}, err
	}
	if in.After != nil && (!apikey.ValidKeyID(in.After.ID) || !apikey.ValidTime(in.After.Time)) {
		return ports.KeyPage{}, invalidCursor()
	}
	if len(orgs) == 0 {
		return ports.KeyPage{Keys: []apikey.Key{}}, nil
	}
	if in.ExpiringWithin < 0 || in.UnusedFor < 0 {
		return ports.KeyPage{}, apikey.Invalid("expiring_within", "durations must be positive")
	}
	now := s.now()
	pols := make(map[string]orgpolicy.Policy, len(orgs))
	cutoffs := map[string]time.Time{}
	for _, org := range orgs {
		pol, err := s.policy(ctx, org)
		if err != nil {
			return ports.KeyPage{}, err
		}
		pols[org] = pol
		if t, ok := pol.RotationCutoff(now); ok {
			cutoffs[org] = t
		}
	}
	q := ports.KeyQuery{OrganizationIDs: orgs, IncludeRevoked: in.IncludeRevoked, Statuses: in.Statuses, Now: now,
		SortByLastUsed: in.SortByLastUsed, Limit: limit, After: in.After, RotationDue: in.RotationDue, RotationCutoffs: cutoffs}
	if in.ExpiringWithin > 0 {
		t := now.Add(in.ExpiringWithin)
		q.ExpiringBefore = &t
	}
	if in.UnusedFor > 0 {
		t := now.Add(-in.UnusedFor)
		q.UnusedSince = &t
	}
	page, err := s.d.Store.ListKeys(ctx, q)
	if err != nil {
		return ports.KeyPage{}, err
	}
	for i, k := range page.Keys {
		page.Keys[i].RotationDueAt = pols[k.OrganizationID].RotationDueAt(k)
	}
	return page, nil
}

// MaxRotationGrace is the longest grace period a rotation may give the
// replaced secret; an organization's policy may set a shorter one.
const MaxRotationGrace = orgpolicy.MaxGrace

// Rotate replaces a key's secret, keeping its id, name and scopes. Without
// a grace period the old secret stops working before Rotate returns; with
// one (at most MaxRotationGrace) it keeps working beside the new one until
// the period ends, and a rotation during that period ends it. The old
// secret's lookup digest is kept, so that its later uses are attributed to
// the key (outcome rotated).
func (s *Service) Rotate(ctx context.Context, p apikey.Principal, id string, in ports.RotateInput) (ports.Issued, error) {
	if err := p.RequireManage(); err != nil {
		return ports.Issued{}, err
	}
	if in.Grace < 0 || in.Grace > MaxRotationGrace {
		return ports.Issued{}, &apikey.ValidationError{Field: "grace_period", Code: "invalid_grace_period",
			Message: fmt.Sprintf("grace_period must be between 0 and %s", fmtDuration(MaxRotationGrace))}
	}
	k, err := s.loadChangeable(ctx, p, id)
	if err != nil {
		return ports.Issued{}, err
	}
	switch k.Status(s.now()) {
	case apikey.StatusRevoked:
		return ports.Issued{}, apikey.ErrRevoked
	case apikey.StatusExpired:
		// A new secret for an expired key would be dead on arrival;
		// extending the expiry is another operation.
		return ports.Issued{}, apikey.ErrExpired
	}
	pol, err := s.policy(ctx, k.OrganizationID)
	if err != nil {
		return ports.Issued{}, err
	}
	if err := pol.Check(orgpolicy.Terms{Environment: k.Environment, ExpiresAt: k.ExpiresAt, Grace: in.Grace}, s.now()); err != nil {
		return ports.Issued{}, err
	}
	secret, hash, lookup, hint, err := s.issue(ctx, p, k.Environment)
	if err != nil {
		return ports.Issued{}, err
	}
	st, err := s.stamp()
	if err != nil {
		return ports.Issued{}, err
	}
	details := map[string]any{"old_hint": k.Hint, "new_hint": hint}
	var until *time.Time
	if in.Grace > 0 {
		u := st.Time.Add(in.Grace)
		until = &u
		details["grace_period"] = fmtDuration(in.Grace)
		details["previous_expires_at"] = u.Format(time.RFC3339Nano)
	}
	ev := audit.Change(st, audit.ActionKeyRotated, p.Actor(), k.OrganizationID, k.ID, in.Request, details)
	updated, err := s.d.Store.RotateKey(ctx, ports.Rotation{
		KeyID: k.ID, ExpectVersion: k.Version, Hash: hash, Lookup: lookup, Hint: hint, At: ev.Time, PreviousUntil: until,
	}, ev)
	if err != nil {
		return ports.Issued{}, fmt.Errorf("rotate key: %w", err)
	}
	s.noteOwnChange(k.ID, ev.Time)
	seq := s.invalidate(k.ID)
	facts := apikey.VerifiedFrom(updated)
	s.prime(lookup, facts, seq)
	if updated.PreviousLive(s.now()) {
		// The old secret's users need no Argon2id here either.
		s.prime(updated.PreviousLookup, facts.AsPrevious(updated), seq)
	}
	updated.RotationDueAt = pol.RotationDueAt(updated)
	return ports.Issued{Key: updated, Secret: secret}, nil
}

// fmtDuration writes d as the API reads it: whole days as "7d", else Go's
// form ("36h0m0s").
func fmtDuration(d time.Duration) string { return orgpolicy.FormatDuration(d) }

// Revoke revokes a key; revoking a revoked key changes nothing and succeeds.
func (s *Service) Revoke(ctx context.Context, p apikey.Principal, id string, req audit.Request) (apikey.Key, error) {
	if err := p.RequireManage(); err != nil {
		return apikey.Key{}, err
	}
	k, err := s.loadChangeable(ctx, p, id)
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
	s.noteOwnChange(k.ID, ev.Time)
	s.invalidate(k.ID)
	if errors.Is(err, apikey.ErrRevoked) {
		return revoked, nil
	}
	if err != nil {
		return apikey.Key{}, fmt.Errorf("revoke key: %w", err)
	}
	return revoked, nil
}
