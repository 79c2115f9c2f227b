package memstore

import (
	"context"
	"fmt"

	"github.com/agentauri/apikeys/core/orgpolicy"
	"github.com/agentauri/apikeys/ports"
)

var _ ports.OrganizationStore = (*Store)(nil)

// GetPolicy returns the key policy of org: the zero Policy when none is
// stored.
func (s *Store) GetPolicy(ctx context.Context, org string) (orgpolicy.Policy, error) {
	if err := check(ctx, "get policy"); err != nil {
		return orgpolicy.Policy{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.policies[org].Clone(), nil
}

// UpdatePolicy hands the policy of org as stored to change and stores the
// policy and event change returns, together, under the store's lock.
func (s *Store) UpdatePolicy(ctx context.Context, org string, change ports.PolicyChanger) (orgpolicy.Policy, error) {
	if err := check(ctx, "update policy"); err != nil {
		return orgpolicy.Policy{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next, ev, err := change(s.policies[org].Clone())
	if err != nil {
		return orgpolicy.Policy{}, err
	}
	evRec, err := storedEvent(ev)
	if err != nil {
		return orgpolicy.Policy{}, fmt.Errorf("update policy: %w", err)
	}
	if err := s.eventFree(evRec); err != nil {
		return orgpolicy.Policy{}, fmt.Errorf("update policy: %w", err)
	}
	s.policies[org] = next.Clone()
	s.addEvent(evRec)
	return next.Clone(), nil
}
