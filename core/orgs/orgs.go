// Package orgs implements the organization use cases of apikeys: reading
// and changing an organization's settings (its key policy), every change
// audited as organization.updated.
package orgs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/orgpolicy"
	"github.com/agentauri/apikeys/ports"
)

// Deps are the ports the service needs; every one is required.
type Deps struct {
	Store   ports.OrganizationStore
	Clock   ports.Clock
	Entropy io.Reader // for event ids
}

// Service implements ports.OrganizationService.
type Service struct{ d Deps }

var _ ports.OrganizationService = (*Service)(nil)

// New returns a Service, refusing a missing dependency.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Clock == nil || d.Entropy == nil {
		return nil, errors.New("orgs.New: Store, Clock and Entropy are required")
	}
	return &Service{d: d}, nil
}

// errUnchanged tells the store that a change changes nothing.
var errUnchanged = errors.New("nothing to change")

// actFor checks that p may act for org at all: a valid id (400
// invalid_organization_id), a principal proven (a token with a subject,
// or a key), and org one of its organizations (403
// forbidden_organization, as for an organization named in a body).
func actFor(p apikey.Principal, org string) error {
	if !apikey.ValidOrganizationID(org) {
		return apikey.InvalidOrganizationID("organization_id")
	}
	if !p.IsKey() && p.Subject == "" {
		return apikey.ErrUnauthenticated
	}
	if !p.MemberOf(org) {
		return apikey.ForbiddenOrganization("organization_id", org)
	}
	return nil
}

// GetOrganization returns org's settings: to a token naming org, or to a
// key of org holding organizations:read. An organization that has set
// nothing (or has no key yet) answers the defaults.
func (s *Service) GetOrganization(ctx context.Context, p apikey.Principal, org string) (ports.Organization, error) {
	if err := actFor(p, org); err != nil {
		return ports.Organization{}, err
	}
	if p.IsKey() && !p.Scopes.Has(apikey.ScopeOrganizationsRead) {
		return ports.Organization{}, &apikey.ScopeError{Required: []apikey.Scope{apikey.ScopeOrganizationsRead}, Granted: p.Scopes}
	}
	pol, err := s.d.Store.GetPolicy(ctx, org)
	if err != nil {
		return ports.Organization{}, fmt.Errorf("get policy: %w", err)
	}
	return ports.Organization{ID: org, Policy: pol}, nil
}

// UpdateOrganization changes org's settings: for a token naming org, or a
// key of org holding organizations:write, any change; for a key holding
// only api-keys:manage, only a change that loosens nothing (403
// insufficient_scope naming the loosened setting otherwise). The policy is
// read, checked and written in one store transaction, so that concurrent
// changes are never lost; a change that changes nothing records nothing.
func (s *Service) UpdateOrganization(ctx context.Context, p apikey.Principal, org string, in ports.OrganizationUpdate) (ports.Organization, error) {
	if err := actFor(p, org); err != nil {
		return ports.Organization{}, err
	}
	mayLoosen := !p.IsKey() || p.Scopes.Has(apikey.ScopeOrganizationsWrite)
	if !mayLoosen && !p.Scopes.Has(apikey.ScopeAPIKeysManage) {
		return ports.Organization{}, &apikey.ScopeError{Required: []apikey.Scope{apikey.ScopeOrganizationsWrite}, Granted: p.Scopes}
	}
	ch, err := validate(in)
	if err != nil {
		return ports.Organization{}, err
	}
	st, err := audit.NewStamp(s.d.Entropy, s.d.Clock.Now())
	if err != nil {
		return ports.Organization{}, err
	}
	var current orgpolicy.Policy
	stored, err := s.d.Store.UpdatePolicy(ctx, org, func(cur orgpolicy.Policy) (orgpolicy.Policy, audit.Event, error) {
		current = cur
		next := ch.apply(cur)
		if err := next.Validate(); err != nil {
			return orgpolicy.Policy{}, audit.Event{}, err
		}
		if !mayLoosen {
			if loose := cur.Loosened(next); len(loose) > 0 {
				return orgpolicy.Policy{}, audit.Event{}, &apikey.DeniedError{Field: loose[0], Code: "insufficient_scope",
					Message: fmt.Sprintf("loosening the organization's policy (%s) needs organizations:write", strings.Join(loose, ", "))}
			}
		}
		changes := cur.Changes(next)
		if len(changes) == 0 {
			return orgpolicy.Policy{}, audit.Event{}, errUnchanged
		}
		return next, audit.OrganizationUpdated(st, p.Actor(), org, in.Request, changes), nil
	})
	if errors.Is(err, errUnchanged) {
		return ports.Organization{ID: org, Policy: current}, nil
	}
	if err != nil {
		return ports.Organization{}, fmt.Errorf("update policy: %w", err)
	}
	return ports.Organization{ID: org, Policy: stored}, nil
}

// change is a validated OrganizationUpdate.
type change struct {
	in    ports.OrganizationUpdate
	envs  []apikey.Environment
	allow apikey.IPAllowlist
}

// validate parses the settings of in that need it; apply's result is
// validated as a whole (orgpolicy.Policy.Validate).
func validate(in ports.OrganizationUpdate) (change, error) {
	c := change{in: in}
	var err error
	if in.AllowedEnvironments.Set {
		if c.envs, err = orgpolicy.ParseEnvironments(in.AllowedEnvironments.Value); err != nil {
			return change{}, err
		}
	}
	if in.DefaultIPAllowlist.Set {
		if c.allow, err = apikey.ParseIPAllowlist(in.DefaultIPAllowlist.Value); err != nil {
			var ve *apikey.ValidationError
			if errors.As(err, &ve) {
				return change{}, &apikey.ValidationError{Field: strings.Replace(ve.Field, "ip_allowlist", orgpolicy.SettingDefaultIPAllowlist, 1),
					Code: ve.Code, Message: strings.Replace(ve.Message, "ip_allowlist", orgpolicy.SettingDefaultIPAllowlist, 1)}
			}
			return change{}, err
		}
	}
	if r := in.DefaultRateLimit; r.Set && r.Value != nil {
		if err := r.Value.Validate(); err != nil {
			return change{}, err
		}
	}
	return c, nil
}

// apply returns cur with the settings of c that are set.
func (c change) apply(cur orgpolicy.Policy) orgpolicy.Policy {
	next := cur.Clone()
	dur := func(o ports.Optional[*time.Duration], dst *time.Duration) {
		if o.Set {
			*dst = 0
			if o.Value != nil {
				*dst = *o.Value
			}
		}
	}
	dur(c.in.MaxKeyLifetime, &next.MaxKeyLifetime)
	dur(c.in.RotationPeriod, &next.RotationPeriod)
	if o := c.in.RequireExpiry; o.Set {
		next.RequireExpiry = o.Value != nil && *o.Value
	}
	if c.in.AllowedEnvironments.Set {
		next.AllowedEnvironments = c.envs
	}
	if c.in.DefaultIPAllowlist.Set {
		next.DefaultIPAllowlist = c.allow
	}
	if o := c.in.MaxRotationGrace; o.Set {
		next.MaxRotationGrace = nil
		if o.Value != nil {
			g := *o.Value
			next.MaxRotationGrace = &g
		}
	}
	if o := c.in.DefaultRateLimit; o.Set {
		next.DefaultRateLimit = apikey.RateLimit{}
		if o.Value != nil {
			next.DefaultRateLimit = *o.Value
		}
	}
	return next
}
