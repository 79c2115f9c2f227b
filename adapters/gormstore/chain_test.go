package gormstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
	"github.com/agentauri/apikeys/test/dbtest"
)

// verifyAll runs the chain verifier over every chain of s.
func verifyAll(t *testing.T, s *gormstore.Store) []audit.ChainResult {
	t.Helper()
	ctx := context.Background()
	var out []audit.ChainResult
	err := s.ReadChains(ctx, func(snap ports.ChainSnapshot) error {
		chains, err := snap.Chains(ctx)
		if err != nil {
			return err
		}
		for _, c := range chains {
			v := audit.NewChainVerifier(c)
			for r, err := range snap.Records(ctx, c.ID, c.AnchorSeq) {
				if err != nil {
					return err
				}
				v.Add(r)
			}
			out = append(out, v.Finish())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ReadChains: %v", err)
	}
	return out
}

// TestMigrationChainsExistingEvents stores events the way versions before
// hash chains did (no chain, no seq) in a database those versions left
// (migrated up to 2), migrates it and checks that they now form one
// verifiable chain in time order.
func TestMigrationChainsExistingEvents(t *testing.T) {
	for _, driver := range dbtest.Drivers() {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			dsn := dbtest.DSN(t, driver)
			old, err := gormstore.Open(ctx, dbtest.Config(driver, dsn))
			if err != nil {
				t.Fatal(err)
			}
			if err := old.MigrateUpTo(ctx, 2); err != nil {
				t.Fatalf("migrate up to 2: %v", err)
			}
			base := time.Date(2025, 1, 2, 3, 4, 5, 678901000, time.UTC)
			ids := []string{"evt_old_b", "evt_old_a", "evt_old_c"}
			for i, id := range ids {
				err := old.DB().WithContext(ctx).Exec(`INSERT INTO audit_events (id, occurred_at, organization_id, actor, action, key_id, status, outcome, details)
					VALUES (?, ?, 'org_old', 'user:old', 'key.created', 'key_old', 201, 'ok', ?)`,
					id, base.Add(time.Duration(i%2)*time.Second), `{"name":"old"}`).Error
				if err != nil {
					t.Fatal(err)
				}
			}
			// Unchained events are reported until they are chained.
			res := verifyAll(t, old)
			if len(res) != 1 || res[0].Chain.ID != "" || len(res[0].Problems) != 3 || res[0].Problems[0].Kind != audit.ProblemInserted {
				t.Fatalf("before chaining: %+v", res)
			}
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}

			// The new version's process migrates the database.
			s, err := gormstore.Open(ctx, dbtest.Config(driver, dsn))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			db := s.DB().WithContext(ctx)
			if n, err := s.Pending(ctx); err != nil || n == 0 {
				t.Fatalf("Pending = %d, %v; want migration 3 and those after it pending", n, err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			res = verifyAll(t, s)
			if len(res) != 1 || !res[0].OK() || res[0].Events != 3 || !res[0].Chain.Registered {
				t.Fatalf("after chaining: %+v", res)
			}
			c := res[0].Chain
			if !strings.Contains(c.Writer, "migration") || c.HeadSeq != 3 || c.HeadID != "evt_old_a" {
				t.Errorf("chain of existing events: %+v; want 3 events ending with the latest (evt_old_a)", c)
			}
			var order []string
			if err := db.Raw(`SELECT id FROM audit_events ORDER BY seq`).Scan(&order).Error; err != nil {
				t.Fatal(err)
			}
			if want := []string{"evt_old_b", "evt_old_c", "evt_old_a"}; !slices.Equal(order, want) {
				t.Errorf("chain order %v, want time then id order %v", order, want)
			}

			states, err := s.MigrationStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, st := range states {
				names = append(names, st.Name)
			}
			if !slices.Contains(names, "00002_audit_chains.sql") || !slices.Contains(names, "00003_chain_existing_events.go") {
				t.Errorf("migration names %v", names)
			}
		})
	}
}
