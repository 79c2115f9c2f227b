package keys

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// Authenticate proves secret and returns the key's verification facts. It
// never runs Argon2id for a secret that fails the checksum or matches no
// stored digest, and runs it at most once per key while the cache keeps it.
func (s *Service) Authenticate(ctx context.Context, secret string) (apikey.Verified, error) {
	v, err := s.authenticate(ctx, secret)
	if err != nil {
		return apikey.Verified{}, err
	}
	return v, nil
}

// authenticate returns, on a revoked or expired key, the facts identifying
// it together with the error, so that the failure can be audited.
func (s *Service) authenticate(ctx context.Context, secret string) (apikey.Verified, error) {
	if _, err := apikey.Parse(secret); err != nil {
		return apikey.Verified{}, err
	}
	digest := s.d.Digester.Digest(secret)
	if v, ok := s.d.Cache.Get(ctx, digest); ok {
		if v.ExpiresAt != nil && !s.now().Before(*v.ExpiresAt) {
			return v, apikey.ErrExpired
		}
		return v, nil
	}
	return s.flight.do(digest, func() (apikey.Verified, error) {
		gen := s.gen.Load()
		k, err := s.d.Store.FindByLookup(ctx, digest)
		if errors.Is(err, apikey.ErrNotFound) {
			return apikey.Verified{}, apikey.ErrUnknownKey
		}
		if err != nil {
			return apikey.Verified{}, fmt.Errorf("find key: %w", err)
		}
		v := apikey.VerifiedFrom(k)
		if err := k.Status(s.now()); err != nil {
			return v, err
		}
		ok, err := s.d.Hasher.Verify(ctx, secret, k.Hash)
		if err != nil {
			return apikey.Verified{}, fmt.Errorf("verify hash: %w", err)
		}
		if !ok {
			return apikey.Verified{}, apikey.ErrUnknownKey
		}
		if s.gen.Load() == gen {
			s.d.Cache.Put(digest, v)
			// An invalidation that ran between the check and the Put may
			// have missed the new entry: apply it again.
			if s.gen.Load() != gen {
				s.d.Cache.InvalidateKeys(v.KeyID)
			}
		}
		return v, nil
	})
}

// Verify checks a presented secret and, when scope is not empty, that the
// key holds that scope. Every outcome is recorded: a success only counts once
// its usage event has been accepted, so no verification succeeds unrecorded.
func (s *Service) Verify(ctx context.Context, secret, scope string, req ports.RequestInfo) (apikey.Verified, error) {
	var required apikey.Scope
	if scope != "" {
		sc, err := apikey.ParseScope(scope)
		if err != nil {
			return apikey.Verified{}, &apikey.ValidationError{Field: "scope", Code: "invalid_scope", Message: err.Error()}
		}
		required = sc
	}
	v, err := s.authenticate(ctx, secret)
	if err == nil && required != "" && !v.Scopes.Has(required) {
		err = &apikey.ScopeError{Required: []apikey.Scope{required}, Granted: v.Scopes}
	}
	if err != nil && !isAuthFailure(err) {
		return apikey.Verified{}, err
	}
	if rerr := s.RecordUse(ctx, v, err, string(required), req, 0); rerr != nil && err == nil {
		return apikey.Verified{}, rerr
	}
	if err != nil {
		return apikey.Verified{}, err
	}
	return v, nil
}

func isAuthFailure(err error) bool {
	var se *apikey.ScopeError
	return errors.As(err, &se) || errors.Is(err, apikey.ErrMissingKey) || errors.Is(err, apikey.ErrMalformedKey) ||
		errors.Is(err, apikey.ErrChecksum) || errors.Is(err, apikey.ErrUnknownKey) ||
		errors.Is(err, apikey.ErrRevoked) || errors.Is(err, apikey.ErrExpired)
}

// RecordUse records one use of a key (key.used) or one failed attempt
// (key.auth_failed) described by authErr. status is the HTTP status
// answered, or 0 to take it from req.AnswerStatus (0 if not known yet).
func (s *Service) RecordUse(ctx context.Context, v apikey.Verified, authErr error, scope string, req ports.RequestInfo, status int) error {
	action := audit.ActionKeyUsed
	if authErr != nil {
		action = audit.ActionKeyAuthFailed
	}
	actor := audit.UsageActor(v.KeyID)
	now := s.now()
	id, err := newEventID(s.d.Entropy, now)
	if err != nil {
		return err
	}
	if status == 0 && req.AnswerStatus != nil {
		status = req.AnswerStatus(apikey.Outcome(authErr))
	}
	ev := audit.Event{
		ID: id, Time: now, OrganizationID: v.OrganizationID, Actor: actor, Action: action, KeyID: v.KeyID,
		RequestID: req.RequestID, TraceID: req.TraceID, Method: req.Method, Path: req.Path,
		ClientIP: req.ClientIP, UserAgent: req.UserAgent, Status: status, Outcome: apikey.Outcome(authErr), Scope: scope,
	}
	if err := s.d.Usage.Record(ctx, ev); err != nil {
		return fmt.Errorf("record usage: %w", apikey.ErrUnavailable)
	}
	return nil
}
