package ports

import (
	"context"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/orgpolicy"
)

// OrganizationStore persists organizations' key policies. Organizations
// are created implicitly: one with no stored policy has the zero Policy.
type OrganizationStore interface {
	// GetPolicy returns the key policy of organization org: the zero
	// Policy when none is stored.
	GetPolicy(ctx context.Context, org string) (orgpolicy.Policy, error)
	// UpdatePolicy changes the policy of org in one transaction of its
	// own: it reads the policy as last committed (the zero Policy when
	// none is stored), locked against concurrent changes, hands it to
	// change, and stores the policy change returns together with the
	// event change returns. An error of change stores nothing and is
	// returned as is. It returns the policy as stored.
	UpdatePolicy(ctx context.Context, org string, change PolicyChanger) (orgpolicy.Policy, error)
}

// PolicyChanger computes the change of a policy from the policy as stored,
// and the audit event recording it. A store may call it more than once
// (when it retries a transaction): it must depend on nothing but its
// argument.
type PolicyChanger func(current orgpolicy.Policy) (orgpolicy.Policy, audit.Event, error)

// OrganizationService is what the core offers to driving adapters for
// reading and changing an organization's settings.
type OrganizationService interface {
	// GetOrganization returns the settings of org, its defaults when it
	// has set none.
	GetOrganization(ctx context.Context, p apikey.Principal, org string) (Organization, error)
	// UpdateOrganization changes the settings in of org (JSON merge
	// semantics: what in leaves unset is kept) and returns them as stored.
	UpdateOrganization(ctx context.Context, p apikey.Principal, org string, in OrganizationUpdate) (Organization, error)
}

// Organization is an organization's settings.
type Organization struct {
	ID     string
	Policy orgpolicy.Policy
}

// OrganizationUpdate is a change of an organization's settings. A setting
// left unset keeps its value; one set to a nil Value (JSON null) is
// cleared.
type OrganizationUpdate struct {
	MaxKeyLifetime      Optional[*time.Duration]
	RequireExpiry       Optional[*bool]
	AllowedEnvironments Optional[[]string]
	DefaultIPAllowlist  Optional[[]string]
	MaxRotationGrace    Optional[*time.Duration]
	RotationPeriod      Optional[*time.Duration]
	DefaultRateLimit    Optional[*apikey.RateLimit]
	Request             audit.Request
}
