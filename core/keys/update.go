package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/orgpolicy"
	"github.com/agentauri/apikeys/ports"
)

// errUnchanged tells the store that an update changes nothing: it stores
// nothing and records no event.
var errUnchanged = errors.New("nothing to change")

// update is a validated UpdateInput: each field nil or unset when kept.
type update struct {
	name      *string
	scopes    apikey.Scopes // nil: kept
	expiresAt ports.Optional[*time.Time]
	rateLimit ports.Optional[*apikey.RateLimit]
	metadata  ports.Optional[[]byte] // a merge patch; Set with nil Value: clear
	allowlist ports.Optional[apikey.IPAllowlist]
}

// validateUpdate checks every field of in that is set, at now.
func validateUpdate(in ports.UpdateInput, now time.Time) (update, error) {
	var u update
	if in.Name != nil {
		n, err := ValidateName(*in.Name)
		if err != nil {
			return update{}, err
		}
		u.name = &n
	}
	if in.Scopes != nil {
		scopes, err := apikey.ParseScopes(in.Scopes)
		if err != nil {
			return update{}, err
		}
		if len(scopes) == 0 {
			return update{}, &apikey.ValidationError{Field: "scopes", Code: "invalid_scope", Message: "scopes must name at least one scope"}
		}
		u.scopes = scopes
	}
	if in.ExpiresAt.Set {
		u.expiresAt.Set = true
		if in.ExpiresAt.Value != nil {
			e := in.ExpiresAt.Value.UTC().Truncate(time.Microsecond)
			if !e.After(now) {
				return update{}, &apikey.ValidationError{Field: "expires_at", Code: "invalid_expires_at", Message: "expires_at must be in the future (null clears it)"}
			}
			u.expiresAt.Value = &e
		}
	}
	if in.RateLimit.Set {
		u.rateLimit.Set = true
		if r := in.RateLimit.Value; r != nil {
			if err := r.Validate(); err != nil {
				return update{}, err
			}
			v := *r
			u.rateLimit.Value = &v
		}
	}
	if in.Metadata.Set {
		u.metadata.Set = true
		if in.Metadata.Value != nil {
			if _, err := apikey.ParseMetadata(in.Metadata.Value); err != nil {
				return update{}, err
			}
			u.metadata.Value = in.Metadata.Value
		}
	}
	if in.IPAllowlist.Set {
		l, err := apikey.ParseIPAllowlist(in.IPAllowlist.Value)
		if err != nil {
			return update{}, err
		}
		u.allowlist = ports.Some(l)
	}
	return u, nil
}

// apply returns cur with u applied and the fields that changed, each with
// its value before and after as the API shows it. Metadata is merged into
// cur's here, so that the merge works on the key as locked; a merge that
// outgrows the limits is a ValidationError.
func (u update) apply(cur apikey.Key) (apikey.Key, []audit.FieldChange, error) {
	next := cur
	var changes []audit.FieldChange
	if u.name != nil && *u.name != cur.Name {
		next.Name = *u.name
		changes = append(changes, audit.FieldChange{Field: "name", Before: cur.Name, After: next.Name})
	}
	if u.scopes != nil && !slices.Equal(u.scopes, cur.Scopes) {
		next.Scopes = u.scopes
		changes = append(changes, audit.FieldChange{Field: "scopes", Before: cur.Scopes.Strings(), After: next.Scopes.Strings()})
	}
	if u.expiresAt.Set && !sameTime(u.expiresAt.Value, cur.ExpiresAt) {
		next.ExpiresAt = u.expiresAt.Value
		changes = append(changes, audit.FieldChange{Field: "expires_at", Before: timeValue(cur.ExpiresAt), After: timeValue(next.ExpiresAt)})
	}
	if u.rateLimit.Set {
		r := apikey.RateLimit{}
		if u.rateLimit.Value != nil {
			r = *u.rateLimit.Value
		}
		if r != cur.RateLimit {
			next.RateLimit = r
			changes = append(changes, audit.FieldChange{Field: "rate_limit", Before: rateLimitValue(cur.RateLimit), After: rateLimitValue(r)})
		}
	}
	if u.metadata.Set {
		var m apikey.Metadata
		if u.metadata.Value != nil {
			var err error
			if m, err = apikey.MergeMetadata(cur.Metadata, u.metadata.Value); err != nil {
				return apikey.Key{}, nil, err
			}
		}
		if m != cur.Metadata {
			next.Metadata = m
			changes = append(changes, audit.FieldChange{Field: "metadata", Before: metadataValue(cur.Metadata), After: metadataValue(m)})
		}
	}
	if u.allowlist.Set && !slices.Equal(u.allowlist.Value, cur.IPAllowlist) {
		next.IPAllowlist = u.allowlist.Value
		changes = append(changes, audit.FieldChange{Field: "ip_allowlist", Before: allowlistValue(cur.IPAllowlist), After: allowlistValue(next.IPAllowlist)})
	}
	return next, changes, nil
}

// metadataValue is m as an audit detail: the object, or nil for none.
func metadataValue(m apikey.Metadata) any {
	if m.IsZero() {
		return nil
	}
	return json.RawMessage(m)
}

// allowlistValue is l as an audit detail: its networks, [] for none.
func allowlistValue(l apikey.IPAllowlist) []string { return l.Strings() }

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// timeValue is t as an audit detail: RFC 3339 text, or nil.
func timeValue(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// rateLimitValue is r as an audit detail: "100/1m", or nil for none.
func rateLimitValue(r apikey.RateLimit) any {
	if r.IsZero() {
		return nil
	}
	return r.String()
}

// Update changes the name, scopes, expiry, rate limit, metadata or IP
// allowlist of a key the
// principal may change (as for Rotate and Revoke, a key may change only
// keys within its own scopes and environment, and only to scopes it holds
// itself). Fields in leaves unset keep their value; an update that changes
// nothing records nothing. The change is read, checked and written in one
// store transaction, so that a concurrent rotation, revocation or update is
// never lost: a key revoked first is ErrRevoked. Verifications see the
// change at once on this instance and, elsewhere, within the same bound as
// a revocation.
func (s *Service) Update(ctx context.Context, p apikey.Principal, id string, in ports.UpdateInput) (apikey.Key, error) {
	if err := p.RequireManage(); err != nil {
		return apikey.Key{}, err
	}
	k, err := s.loadChangeable(ctx, p, id)
	if err != nil {
		return apikey.Key{}, err
	}
	if k.RevokedAt != nil {
		return apikey.Key{}, apikey.ErrRevoked
	}
	u, err := validateUpdate(in, s.now())
	if err != nil {
		return apikey.Key{}, err
	}
	if u.scopes != nil {
		if err := mayChange(p, u.scopes, k.Environment); err != nil {
			return apikey.Key{}, err
		}
	}
	pol, err := s.policy(ctx, k.OrganizationID)
	if err != nil {
		return apikey.Key{}, err
	}
	if u.expiresAt.Set {
		// A new expiry (or none) must keep the organization's policy.
		if err := pol.Check(orgpolicy.Terms{ExpiresAt: u.expiresAt.Value}, s.now()); err != nil {
			return apikey.Key{}, err
		}
	}
	st, err := s.stamp()
	if err != nil {
		return apikey.Key{}, err
	}
	var current apikey.Key
	updated, err := s.d.Store.UpdateKey(ctx, k.ID, func(cur apikey.Key) (apikey.Key, audit.Event, error) {
		current = cur
		// The key as locked may differ from the one checked above.
		if err := mayChange(p, cur.Scopes, cur.Environment); err != nil {
			return apikey.Key{}, audit.Event{}, err
		}
		next, changes, err := u.apply(cur)
		if err != nil {
			return apikey.Key{}, audit.Event{}, err
		}
		if len(changes) == 0 {
			return apikey.Key{}, audit.Event{}, errUnchanged
		}
		next.UpdatedAt = st.Time
		return next, audit.Updated(st, p.Actor(), cur.OrganizationID, cur.ID, in.Request, changes), nil
	})
	if errors.Is(err, errUnchanged) {
		current.RotationDueAt = pol.RotationDueAt(current)
		return current, nil
	}
	if err != nil {
		return apikey.Key{}, fmt.Errorf("update key: %w", err)
	}
	s.noteOwnChange(updated.ID, st.Time)
	seq := s.invalidate(updated.ID)
	if updated.Status(s.now()) == apikey.StatusActive {
		s.prime(updated.Lookup, apikey.VerifiedFrom(updated), seq)
	}
	updated.RotationDueAt = pol.RotationDueAt(updated)
	return updated, nil
}
