package gormstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/orgpolicy"
	"github.com/agentauri/apikeys/ports"
)

var _ ports.OrganizationStore = (*Store)(nil)

// policyRow is a row of organization_policies (migration 00011).
type policyRow struct {
	OrganizationID string `gorm:"primaryKey"`
	Settings       string
	UpdatedAt      time.Time
}

func (policyRow) TableName() string { return "organization_policies" }

// policyDoc is the JSON document of a policy's settings in the settings
// column: durations in nanoseconds, the rate limit as "100/1m"; a member
// left out is unset.
type policyDoc struct {
	MaxKeyLifetime      int64    `json:"max_key_lifetime_ns,omitempty"`
	RequireExpiry       bool     `json:"require_expiry,omitempty"`
	AllowedEnvironments []string `json:"allowed_environments,omitempty"`
	DefaultIPAllowlist  []string `json:"default_ip_allowlist,omitempty"`
	MaxRotationGrace    *int64   `json:"max_rotation_grace_ns,omitempty"`
	RotationPeriod      int64    `json:"rotation_period_ns,omitempty"`
	DefaultRateLimit    string   `json:"default_rate_limit,omitempty"`
}

func encodePolicy(p orgpolicy.Policy) (string, error) {
	d := policyDoc{
		MaxKeyLifetime: int64(p.MaxKeyLifetime), RequireExpiry: p.RequireExpiry,
		DefaultIPAllowlist: p.DefaultIPAllowlist.Strings(), RotationPeriod: int64(p.RotationPeriod),
	}
	for _, e := range p.AllowedEnvironments {
		d.AllowedEnvironments = append(d.AllowedEnvironments, string(e))
	}
	if p.MaxRotationGrace != nil {
		g := int64(*p.MaxRotationGrace)
		d.MaxRotationGrace = &g
	}
	if !p.DefaultRateLimit.IsZero() {
		d.DefaultRateLimit = p.DefaultRateLimit.String()
	}
	b, err := json.Marshal(d)
	return string(b), err
}

func decodePolicy(s string) (orgpolicy.Policy, error) {
	var d policyDoc
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return orgpolicy.Policy{}, fmt.Errorf("decode policy: %w", err)
	}
	p := orgpolicy.Policy{MaxKeyLifetime: time.Duration(d.MaxKeyLifetime), RequireExpiry: d.RequireExpiry,
		RotationPeriod: time.Duration(d.RotationPeriod)}
	var err error
	if p.AllowedEnvironments, err = orgpolicy.ParseEnvironments(d.AllowedEnvironments); err != nil {
		return orgpolicy.Policy{}, fmt.Errorf("decode policy: %w", err)
	}
	if len(d.DefaultIPAllowlist) > 0 {
		if p.DefaultIPAllowlist, err = apikey.ParseIPAllowlist(d.DefaultIPAllowlist); err != nil {
			return orgpolicy.Policy{}, fmt.Errorf("decode policy: %w", err)
		}
	}
	if d.MaxRotationGrace != nil {
		g := time.Duration(*d.MaxRotationGrace)
		p.MaxRotationGrace = &g
	}
	if d.DefaultRateLimit != "" {
		if p.DefaultRateLimit, err = apikey.ParseRateLimit(d.DefaultRateLimit); err != nil {
			return orgpolicy.Policy{}, fmt.Errorf("decode policy: %w", err)
		}
	}
	return p, nil
}

// GetPolicy returns the key policy of org: the zero Policy when none is
// stored.
func (s *Store) GetPolicy(ctx context.Context, org string) (orgpolicy.Policy, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var rows []policyRow
	if err := s.db.WithContext(ctx).Where("organization_id = ?", org).Limit(1).Find(&rows).Error; err != nil {
		return orgpolicy.Policy{}, translate("get policy", err)
	}
	// Only an exact match counts (PAD SPACE collations, CHAR).
	if len(rows) == 0 || rows[0].OrganizationID != org {
		return orgpolicy.Policy{}, nil
	}
	return decodePolicy(rows[0].Settings)
}

// UpdatePolicy changes the policy of org in one chained transaction: it
// makes org's row if it has none (so that there is a row to lock: a
// concurrent first change waits for this one, then changes its result),
// locks it, hands the policy as stored to change, and stores the policy
// and the event change returns together.
func (s *Store) UpdatePolicy(ctx context.Context, org string, change ports.PolicyChanger) (orgpolicy.Policy, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var (
		out       orgpolicy.Policy
		changeErr error
	)
	err := s.writeChained(ctx, func(tx *gorm.DB, chain *chainTx) error {
		empty, err := encodePolicy(orgpolicy.Policy{})
		if err != nil {
			return err
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&policyRow{OrganizationID: org, Settings: empty, UpdatedAt: utc(time.Now())}).Error; err != nil {
			return err
		}
		q := tx.Where("organization_id = ?", org)
		if s.driver != DriverSQLite {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		var row policyRow
		if err := q.Take(&row).Error; err != nil {
			return err
		}
		if row.OrganizationID != org {
			return errors.New("organization id compared inexactly")
		}
		cur, err := decodePolicy(row.Settings)
		if err != nil {
			return err
		}
		next, ev, err := change(cur)
		if err != nil {
			changeErr = err
			return err
		}
		settings, err := encodePolicy(next)
		if err != nil {
			return err
		}
		evRow, err := toEventRow(ev)
		if err != nil {
			return err
		}
		if err := tx.Exec(`UPDATE organization_policies SET settings = ?, updated_at = ? WHERE organization_id = ?`,
			settings, utc(ev.Time), org).Error; err != nil {
			return err
		}
		if err := chain.append(evRow); err != nil {
			return err
		}
		out, err = decodePolicy(settings)
		return err
	})
	switch {
	case err == nil:
		return out, nil
	case changeErr != nil && errors.Is(err, changeErr):
		return orgpolicy.Policy{}, changeErr
	}
	return orgpolicy.Policy{}, translate("update policy", err)
}
