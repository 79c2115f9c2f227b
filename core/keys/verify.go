package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/quota"
	"github.com/agentauri/apikeys/ports"
)

// Verify decides whether in.Secret is a valid key holding every scope of
// in.Scopes and returns the decision, not yet recorded: the caller maps its
// outcome to an answer and hands both to Record. It never runs Argon2id
// for a secret that fails the checksum or matches no stored digest, and
// runs it at most once per key while the cache keeps the key. An error
// means nothing was decided: an empty or unknown scope name (a
// ValidationError), or a dependency that failed (the store).
func (s *Service) Verify(ctx context.Context, in ports.VerifyInput) (ports.Verification, error) {
	required, err := requiredScopes(in.Scopes)
	if err != nil {
		return ports.Verification{}, err
	}
	st, err := s.stamp()
	if err != nil {
		return ports.Verification{}, err
	}
	v := ports.Verification{Request: in.Request, Event: st, Scopes: required}
	if err := s.authenticate(ctx, in.Secret, &v); err != nil {
		return ports.Verification{}, err
	}
	if v.Outcome == apikey.OutcomeOK {
		if missing := v.Key.Scopes.Missing(required); len(missing) > 0 {
			v.Outcome, v.Missing = apikey.OutcomeScopeDenied, missing
		} else if len(in.Environments) > 0 && !slices.Contains(in.Environments, v.Key.Environment) {
			v.Outcome = apikey.OutcomeEnvDenied
		}
	}
	if err := s.spend(ctx, &v); err != nil {
		return ports.Verification{}, err
	}
	if v.Outcome.Unauthenticated() {
		if err := s.countFailure(ctx, &v); err != nil {
			return ports.Verification{}, err
		}
	}
	return v, nil
}

// spend takes a unit of the key's own budget for a verification that
// would succeed (OutcomeRateLimited when none is left) and reads the
// budget, without spending, for one refused for its scope; a request
// refused for any other reason spends nothing and shows nothing.
func (s *Service) spend(ctx context.Context, v *ports.Verification) error {
	limit := v.Key.RateLimit
	if limit.IsZero() {
		return nil
	}
	switch v.Outcome {
	case apikey.OutcomeOK:
		d, err := s.d.KeyLimits.TakeKey(ctx, v.Key.KeyID, limit)
		if err != nil {
			return fmt.Errorf("take key budget: %w", err)
		}
		v.Budget = d
		if !d.Allowed {
			v.Outcome = apikey.OutcomeRateLimited
		}
	case apikey.OutcomeScopeDenied, apikey.OutcomeEnvDenied:
		// Showing the budget is a courtesy: a limiter that cannot say
		// does not turn the refusal into an outage.
		if d, err := s.d.KeyLimits.PeekKey(ctx, v.Key.KeyID, limit); err == nil {
			v.Budget = d
		}
	}
	return nil
}

// client is the address a verification's failures are counted against.
func client(v *ports.Verification) quota.Client { return quota.ParseClient(v.Request.ClientIP) }

// throttled reports whether v's client has used up its failed
// authentications, setting OutcomeThrottled; it counts nothing. It is asked
// before the store and Argon2id are, for a secret not already proven.
func (s *Service) throttled(ctx context.Context, v *ports.Verification) (bool, error) {
	d, err := s.d.FailedAuth.CheckFailures(ctx, client(v))
	if err != nil {
		return false, fmt.Errorf("check failed authentications: %w", err)
	}
	if d.Allowed {
		return false, nil
	}
	v.Outcome, v.Budget = apikey.OutcomeThrottled, d
	return true, nil
}

// countFailure counts a failed authentication against v's client. A
// failure that identifies no key from a client that had already used up
// its failures becomes OutcomeThrottled; a revoked or expired key keeps its
// outcome, so that its event still names the key.
func (s *Service) countFailure(ctx context.Context, v *ports.Verification) error {
	d, err := s.d.FailedAuth.RecordFailure(ctx, client(v))
	if err != nil {
		return fmt.Errorf("count failed authentication: %w", err)
	}
	if !d.Allowed && !v.Outcome.Identified() {
		v.Outcome, v.Budget = apikey.OutcomeThrottled, d
	}
	return nil
}

// requiredScopes validates the names of the scopes a verification
// requires and returns them each once, in the documented order. A name
// that is empty or names no scope is refused, so that a malformed
// requirement never reads as "no requirement".
func requiredScopes(names []string) (apikey.Scopes, error) {
	if len(names) == 0 {
		return nil, nil
	}
	want := make(map[apikey.Scope]bool, len(names))
	for _, n := range names {
		if n == "" {
			return nil, &apikey.ValidationError{Field: "scope", Code: "invalid_scope",
				Message: "scope is empty: name a scope (e.g. scope=triggers:read) or leave the parameter out"}
		}
		sc, err := apikey.ParseScope(n)
		if err != nil {
			return nil, &apikey.ValidationError{Field: "scope", Code: "invalid_scope", Message: err.Error()}
		}
		want[sc] = true
	}
	out := make(apikey.Scopes, 0, len(want))
	for _, sc := range apikey.AllScopes {
		if want[sc] {
			out = append(out, sc)
		}
	}
	return out, nil
}

// authenticate proves secret, setting v's outcome and, when the secret
// identifies a key (valid, revoked, expired, or refused at the client's
// address), the key's facts. It returns an error only when it cannot
// decide. A key's IP allowlist is checked before Argon2id, so that a
// refused address costs none.
func (s *Service) authenticate(ctx context.Context, secret string, v *ports.Verification) error {
	if _, err := apikey.Parse(secret); err != nil {
		v.Outcome = parseOutcome(err)
		return nil
	}
	digest := s.d.Digester.Digest(secret)
	if k, ok := s.d.Cache.Get(digest); ok {
		now := v.Event.Time
		if !s.fresh(now) {
			return ErrStale
		}
		v.Key, v.CacheHit, v.Outcome = k, true, apikey.OutcomeOK
		switch {
		case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
			v.Outcome = apikey.OutcomeExpired
		case k.Previous() && (k.SecretExpiresAt == nil || !now.Before(*k.SecretExpiresAt)):
			v.Outcome = apikey.OutcomeRotated
		case !k.IPAllowlist.Allows(v.Request.ClientIP):
			v.Outcome = apikey.OutcomeIPNotAllowed
		}
		return nil
	}
	if over, err := s.throttled(ctx, v); over || err != nil {
		return err
	}
	l, err := s.lookups.do(digest, func() (lookup, error) { return s.find(ctx, digest) })
	if err != nil {
		return err
	}
	v.Key, v.Outcome = l.facts, l.outcome
	if l.outcome != apikey.OutcomeOK {
		return nil
	}
	if !l.facts.IPAllowlist.Allows(v.Request.ClientIP) {
		v.Outcome = apikey.OutcomeIPNotAllowed
		return nil
	}
	ok, err := s.proofs.do(digest, func() (bool, error) { return s.prove(ctx, secret, digest, l) })
	if err != nil {
		return err
	}
	if !ok {
		// The digest matched but the hash did not: a digest collision or
		// a tampered row. The secret identifies no key.
		v.Key, v.Outcome = apikey.Verified{}, apikey.OutcomeUnknown
	}
	return nil
}

// lookup is what the store says of a secret's digest: the key it belongs
// to and the outcome its state decides (OutcomeOK: a candidate, still to
// be proven with Argon2id), read after invalidation sequence start.
type lookup struct {
	facts   apikey.Verified
	hash    string
	outcome apikey.Outcome
	start   uint64
}

// find looks the secret's digest up and decides what the key's state
// decides: unknown, revoked, expired, rotated (a secret a rotation
// replaced: retired, or the previous one past its grace period), or a
// candidate (the key's secret, or its previous one within its grace
// period). No Argon2id is run for any but a candidate.
func (s *Service) find(ctx context.Context, digest string) (lookup, error) {
	start := s.inval.seq.Load()
	k, err := s.d.Store.FindByLookup(ctx, digest)
	if errors.Is(err, apikey.ErrNotFound) {
		return lookup{outcome: apikey.OutcomeUnknown}, nil
	}
	if err != nil {
		return lookup{}, fmt.Errorf("find key: %w", err)
	}
	if !apikey.ValidOrganizationID(k.OrganizationID) {
		// Only a row written before the identifier syntax existed (or
		// behind the service's back) can hold such an organization id:
		// it authenticates nobody, so no principal ever carries an
		// organization id the syntax refuses.
		return lookup{outcome: apikey.OutcomeUnknown}, nil
	}
	now := s.now()
	l := lookup{facts: apikey.VerifiedFrom(k), outcome: apikey.OutcomeOK, start: start}
	switch {
	case k.Status(now) == apikey.StatusRevoked:
		l.outcome = apikey.OutcomeRevoked
	case k.Status(now) == apikey.StatusExpired:
		l.outcome = apikey.OutcomeExpired
	case digest == k.Lookup:
		l.hash = k.Hash
	case digest == k.PreviousLookup && k.PreviousLive(now):
		l.hash, l.facts = k.PreviousHash, l.facts.AsPrevious(k)
	default:
		l.outcome = apikey.OutcomeRotated
	}
	return l, nil
}

// prove runs Argon2id for a candidate key, caching it once proven unless it
// was invalidated since its lookup.
func (s *Service) prove(ctx context.Context, secret, digest string, l lookup) (bool, error) {
	ok, err := s.d.Hasher.Compare(ctx, secret, l.hash)
	if err != nil {
		return false, fmt.Errorf("compare hash: %w", err)
	}
	if !ok {
		return false, nil
	}
	facts := l.facts
	if s.inval.unchangedSince(facts.KeyID, l.start) {
		s.d.Cache.Put(digest, facts)
		// An invalidation that ran between the check and the Put may
		// have missed the new entry: apply it again.
		if !s.inval.unchangedSince(facts.KeyID, l.start) {
			s.d.Cache.InvalidateKeys(facts.KeyID)
		}
	}
	return true, nil
}

// parseOutcome is the outcome of a secret apikey.Parse refused.
func parseOutcome(err error) apikey.Outcome {
	switch {
	case errors.Is(err, apikey.ErrMissingKey):
		return apikey.OutcomeMissing
	case errors.Is(err, apikey.ErrChecksum):
		return apikey.OutcomeChecksum
	}
	return apikey.OutcomeMalformed
}

// Record records v as one usage event: key.used for OutcomeOK,
// key.auth_failed for any other outcome, with status, the answer the
// caller gives (0 when not known yet). A failure that identifies no key is
// counted into the next failure summary instead (FlushFailureSummaries).
// It returns apikey.ErrUnavailable when the event cannot be accepted; the
// caller must then not act on a successful verification.
func (s *Service) Record(ctx context.Context, v ports.Verification, status int) error {
	if !v.Outcome.Decided() || v.Event.ID == "" {
		return fmt.Errorf("record usage: verification not decided")
	}
	if !v.Outcome.Identified() {
		return s.summarize(ctx, v, status)
	}
	if err := s.d.Usage.Record(ctx, audit.Use(v.Event, v.Key, v.Outcome, status, v.Scopes, v.Missing, v.Request)); err != nil {
		return fmt.Errorf("record usage: %w", apikey.ErrUnavailable)
	}
	return nil
}
