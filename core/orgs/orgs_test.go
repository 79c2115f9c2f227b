package orgs

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/memstore"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

type clock struct{}

func (clock) Now() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }

func newService(t *testing.T) (*Service, *memstore.Store) {
	t.Helper()
	st := memstore.New()
	s, err := New(Deps{Store: st, Clock: clock{}, Entropy: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func dur(d time.Duration) *time.Duration { return &d }

var (
	user   = apikey.Principal{Subject: "alice", Organizations: []string{"org_1"}}
	reader = apikey.Principal{KeyID: "key_r", Organizations: []string{"org_1"}, Scopes: apikey.Scopes{apikey.ScopeOrganizationsRead}}
	writer = apikey.Principal{KeyID: "key_w", Organizations: []string{"org_1"}, Scopes: apikey.Scopes{apikey.ScopeOrganizationsWrite}}
	manage = apikey.Principal{KeyID: "key_m", Organizations: []string{"org_1"}, Scopes: apikey.Scopes{apikey.ScopeAPIKeysManage}}
)

func TestNewRefusesMissingDependencies(t *testing.T) {
	if _, err := New(Deps{}); err == nil {
		t.Fatal("New without dependencies succeeded")
	}
}

func TestWhoMayReadAndWrite(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	lifetime := ports.OrganizationUpdate{MaxKeyLifetime: ports.Some(dur(90 * 24 * time.Hour))}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"user reads", func() error { _, err := s.GetOrganization(ctx, user, "org_1"); return err }()},
		{"reader reads", func() error { _, err := s.GetOrganization(ctx, reader, "org_1"); return err }()},
		{"writer writes", func() error { _, err := s.UpdateOrganization(ctx, writer, "org_1", lifetime); return err }()},
	} {
		if c.err != nil {
			t.Errorf("%s: %v", c.name, c.err)
		}
	}
	var se *apikey.ScopeError
	if _, err := s.GetOrganization(ctx, manage, "org_1"); !errors.As(err, &se) {
		t.Errorf("manage key reads: %v, want insufficient scope", err)
	}
	if _, err := s.UpdateOrganization(ctx, reader, "org_1", lifetime); !errors.As(err, &se) {
		t.Errorf("reader writes: %v, want insufficient scope", err)
	}
	var de *apikey.DeniedError
	if _, err := s.GetOrganization(ctx, user, "org_2"); !errors.As(err, &de) || de.Code != "forbidden_organization" {
		t.Errorf("foreign organization: %v", err)
	}
	var ve *apikey.ValidationError
	if _, err := s.GetOrganization(ctx, user, "org 1"); !errors.As(err, &ve) || ve.Code != "invalid_organization_id" {
		t.Errorf("invalid id: %v", err)
	}
	// A manage key may tighten, not loosen.
	if _, err := s.UpdateOrganization(ctx, manage, "org_1", ports.OrganizationUpdate{MaxKeyLifetime: ports.Some(dur(30 * 24 * time.Hour))}); err != nil {
		t.Errorf("manage key tightens: %v", err)
	}
	if _, err := s.UpdateOrganization(ctx, manage, "org_1", ports.OrganizationUpdate{MaxKeyLifetime: ports.Some[*time.Duration](nil)}); !errors.As(err, &de) || de.Code != "insufficient_scope" || de.Field != "max_key_lifetime" {
		t.Errorf("manage key loosens: %v, want insufficient_scope naming max_key_lifetime", err)
	}
}

func TestUpdateMergesAndAudits(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	yes := true
	o, err := s.UpdateOrganization(ctx, user, "org_1", ports.OrganizationUpdate{
		RequireExpiry: ports.Some(&yes), RotationPeriod: ports.Some(dur(90 * 24 * time.Hour)),
		AllowedEnvironments: ports.Some([]string{"test"}), DefaultIPAllowlist: ports.Some([]string{"10.1.2.3/8"}),
		DefaultRateLimit: ports.Some(&apikey.RateLimit{Limit: 5, Window: time.Second}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !o.Policy.RequireExpiry || o.Policy.RotationPeriod != 90*24*time.Hour || o.Policy.DefaultIPAllowlist.Strings()[0] != "10.0.0.0/8" {
		t.Fatalf("policy %+v", o.Policy)
	}
	// A member left out keeps its value; the same values change nothing.
	o2, err := s.UpdateOrganization(ctx, user, "org_1", ports.OrganizationUpdate{RequireExpiry: ports.Some(&yes)})
	if err != nil || o2.Policy.RotationPeriod != o.Policy.RotationPeriod {
		t.Fatalf("no-op update: %+v, %v", o2, err)
	}
	page, err := st.ListEvents(ctx, ports.AuditQuery{OrganizationIDs: []string{"org_1"}, Action: audit.ActionOrganizationUpdated})
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("%d events, %v; want 1 (the no-op records nothing)", len(page.Events), err)
	}
	changes, _ := page.Events[0].Details["changes"].(map[string]any)
	if rp, _ := changes["rotation_period"].(map[string]any); rp["before"] != nil || rp["after"] != "90d" || page.Events[0].Actor != "user:alice" {
		t.Fatalf("event %+v", page.Events[0])
	}
	var ve *apikey.ValidationError
	if _, err := s.UpdateOrganization(ctx, user, "org_1", ports.OrganizationUpdate{MaxRotationGrace: ports.Some(dur(8 * 24 * time.Hour))}); !errors.As(err, &ve) || ve.Code != "invalid_policy" {
		t.Errorf("grace cap over 7 days: %v", err)
	}
	if _, err := s.UpdateOrganization(ctx, user, "org_1", ports.OrganizationUpdate{AllowedEnvironments: ports.Some([]string{"prod"})}); !errors.As(err, &ve) || ve.Code != "invalid_policy" {
		t.Errorf("unknown environment: %v", err)
	}
}
