package gormstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/apikey"
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
			v := audit.NewChainVerifier(c, dbtest.ChainKeys())
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
			// Its links are v1, as chains were then; migration 5 sealed it.
			if c.KeyedFrom != 4 || c.KeyID != dbtest.ChainKeys().Current().ID() {
				t.Errorf("chain of existing events keyed from %d with %q; want v1 links sealed with the dbtest key", c.KeyedFrom, c.KeyID)
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
			if !slices.Contains(names, "00002_audit_chains.sql") || !slices.Contains(names, "00003_chain_existing_events.go") ||
				!slices.Contains(names, "00005_keyed_chains.go") {
				t.Errorf("migration names %v", names)
			}
		})
	}
}

// TestStoreWithoutChainKey opens a store with no chain key: it migrates a
// fresh database and reads, but refuses to write an event rather than
// write it unkeyed.
func TestStoreWithoutChainKey(t *testing.T) {
	ctx := context.Background()
	s, err := gormstore.Open(ctx, gormstore.Config{Driver: gormstore.DriverSQLite, DSN: filepath.Join(t.TempDir(), "nokey.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate of a fresh database without a chain key: %v", err)
	}
	k, ev := testKey("key_nochainkey", lookupOf(1), time.Now())
	if err := s.CreateKey(ctx, k, ev); err == nil || !strings.Contains(err.Error(), "no audit chain key") {
		t.Errorf("CreateKey without a chain key: %v", err)
	}
	use := audit.Event{ID: "evt_nochainkey", Time: time.Now(), Actor: audit.AnonymousActor, Action: audit.ActionKeyAuthFailed, Outcome: "unknown"}
	if err := s.AppendUsage(ctx, []audit.Event{use}); err == nil || !strings.Contains(err.Error(), "no audit chain key") {
		t.Errorf("AppendUsage without a chain key: %v", err)
	}
	if _, err := s.GetKey(ctx, k.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("GetKey: %v; the refused create left a key", err)
	}
}

// legacyChain stores n events as a chain written before chains were keyed
// (v1 links, a registry row without key or seals), purged through seq
// anchored (0: never purged), and returns its id and records.
func legacyChain(t *testing.T, db *gorm.DB, n, anchored int) (string, []audit.Record) {
	t.Helper()
	id := "chn_LEGACY" + strings.Repeat("0", 16)
	base := time.Date(2025, 1, 2, 3, 4, 5, 678901000, time.UTC)
	var recs []audit.Record
	prevID, prevHash := "", ""
	for i := 1; i <= n; i++ {
		r := audit.Record{
			Event: audit.Event{ID: fmt.Sprintf("evt_legacy_%02d", i), Time: base.Add(time.Duration(i) * time.Second), OrganizationID: "org_old",
				Actor: "key:key_old", Action: audit.ActionKeyUsed, KeyID: "key_old", Status: 200, Outcome: "ok"},
			Link: audit.Link{ChainID: id, Seq: int64(i), PrevID: prevID, PrevHash: prevHash},
		}
		r.Link.Hash = r.HashV1()
		recs = append(recs, r)
		prevID, prevHash = r.Event.ID, r.Link.Hash
		if i <= anchored {
			continue
		}
		err := db.Exec(`INSERT INTO audit_events (id, occurred_at, organization_id, actor, action, key_id, status, outcome, chain_id, seq, prev_id, prev_hash, hash)
			VALUES (?, ?, 'org_old', 'key:key_old', 'key.used', 'key_old', 200, 'ok', ?, ?, ?, ?, ?)`,
			r.Event.ID, r.Event.Time, id, r.Link.Seq, r.Link.PrevID, r.Link.PrevHash, r.Link.Hash).Error
		if err != nil {
			t.Fatal(err)
		}
	}
	head := recs[n-1]
	var anchorID, anchorHash string
	if anchored > 0 {
		anchorID, anchorHash = recs[anchored-1].Event.ID, recs[anchored-1].Link.Hash
	}
	err := db.Exec(`INSERT INTO audit_chains (chain_id, writer, created_at, updated_at, head_seq, head_id, head_hash, anchor_seq, anchor_id, anchor_hash)
		VALUES (?, 'an older apikeys', ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, base, base, head.Link.Seq, head.Event.ID, head.Link.Hash, anchored, anchorID, anchorHash).Error
	if err != nil {
		t.Fatal(err)
	}
	return id, recs
}

// TestMigrationSealsUnkeyedChains stores a chain as versions before keyed
// chains did, runs migration 5 again (without a key: refused; with one:
// done) and checks that the chain now verifies, keyed from past its head
// and sealed, that its v1 links can no longer be rewritten unnoticed, and
// that the store's own chain is keyed from its first event.
func TestMigrationSealsUnkeyedChains(t *testing.T) {
	for _, driver := range dbtest.Drivers() {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			dsn := dbtest.DSN(t, driver)
			s, err := gormstore.Open(ctx, dbtest.Config(driver, dsn))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			db := s.DB().WithContext(ctx)
			id, recs := legacyChain(t, db, 12, 4)
			res := verifyAll(t, s)
			if len(res) != 1 || len(res[0].Problems) != 1 || !strings.Contains(res[0].Problems[0].Message, "not sealed") {
				t.Fatalf("before sealing: %+v", res)
			}

			if err := db.Exec(`DELETE FROM goose_db_version WHERE version_id = 5`).Error; err != nil {
				t.Fatal(err)
			}
			cfg := dbtest.Config(driver, dsn)
			cfg.ChainKey = nil
			nokey, err := gormstore.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = nokey.Migrate(ctx)
			nokey.Close()
			if err == nil || !strings.Contains(err.Error(), "1 audit chains written before chains were keyed must be sealed") {
				t.Fatalf("Migrate without a chain key: %v", err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			res = verifyAll(t, s)
			if len(res) != 1 || !res[0].OK() || res[0].Events != 8 {
				t.Fatalf("after sealing: %+v", res)
			}
			c := res[0].Chain
			if c.KeyID != dbtest.ChainKeys().Current().ID() || c.KeyedFrom != 13 || c.HeadSeal == "" || c.AnchorSeal == "" {
				t.Errorf("sealed chain %+v; want keyed from 13 with the dbtest key, head and anchor sealed", c)
			}

			// The store's own chain is keyed from its first event.
			k, ev := testKey("key_aftersealing", lookupOf(2), time.Now())
			if err := s.CreateKey(ctx, k, ev); err != nil {
				t.Fatal(err)
			}
			for _, r := range verifyAll(t, s) {
				if !r.OK() {
					t.Errorf("chain %s: %v", r.Chain.ID, r.Problems)
				}
				if r.Chain.ID == s.ChainID() && (r.Chain.KeyedFrom != 1 || r.Chain.KeyID != c.KeyID) {
					t.Errorf("the store's chain %+v; want keyed from seq 1", r.Chain)
				}
			}

			// Rewriting a v1 event and every later link, and the head, as
			// was possible before: the sealed head gives it away.
			forged := recs[6]
			forged.Event.Actor = "key:key_other"
			prevHash := forged.Link.PrevHash
			var head audit.Record
			for _, r := range append([]audit.Record{forged}, recs[7:]...) {
				r.Link.PrevHash = prevHash
				r.Link.Hash = r.HashV1()
				if err := db.Exec(`UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ? WHERE id = ?`, r.Event.Actor, r.Link.PrevHash, r.Link.Hash, r.Event.ID).Error; err != nil {
					t.Fatal(err)
				}
				prevHash, head = r.Link.Hash, r
			}
			if err := db.Exec(`UPDATE audit_chains SET head_hash = ? WHERE chain_id = ?`, head.Link.Hash, id).Error; err != nil {
				t.Fatal(err)
			}
			for _, r := range verifyAll(t, s) {
				if r.Chain.ID != id {
					continue
				}
				if len(r.Problems) != 1 || r.Problems[0].Kind != audit.ProblemModified || r.Problems[0].Seq != 12 ||
					!strings.Contains(r.Problems[0].Message, "no longer matches its seal") {
					t.Errorf("a rewritten sealed v1 chain: %v", r.Problems)
				}
			}
		})
	}
}
