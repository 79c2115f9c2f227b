package contract_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/adapters/memstore"
	"github.com/agentauri/apikeys/ports"
	"github.com/agentauri/apikeys/test/contract"
	"github.com/agentauri/apikeys/test/dbtest"
)

// TestKeyStore runs the KeyStore contract on the in-memory store and on
// every database, as TestKeyStore/memory/<case> and
// TestKeyStore/<driver>/<case>.
func TestKeyStore(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		contract.KeyStore(func(*testing.T) ports.KeyStore { return memstore.New() })(t)
	})
	for _, driver := range dbtest.Drivers() {
		t.Run(driver, func(t *testing.T) {
			dbtest.Require(t, driver)
			contract.KeyStore(func(t *testing.T) ports.KeyStore { return dbtest.Open(t, driver) })(t)
		})
	}
}

// TestOrganizationStore runs the OrganizationStore contract on the
// in-memory store and on every database.
func TestOrganizationStore(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		contract.OrganizationStore(func(*testing.T) ports.OrganizationStore { return memstore.New() })(t)
	})
	for _, driver := range dbtest.Drivers() {
		t.Run(driver, func(t *testing.T) {
			dbtest.Require(t, driver)
			contract.OrganizationStore(func(t *testing.T) ports.OrganizationStore { return dbtest.Open(t, driver) })(t)
		})
	}
}

// TestAuditStore runs the AuditStore contract on the in-memory store and
// on every database.
func TestAuditStore(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		contract.AuditStore(func(*testing.T) ports.AuditStore { return memstore.New() })(t)
	})
	for _, driver := range dbtest.Drivers() {
		t.Run(driver, func(t *testing.T) {
			dbtest.Require(t, driver)
			contract.AuditStore(func(t *testing.T) ports.AuditStore { return dbtest.Open(t, driver) })(t)
		})
	}
}

// TestMigrations migrates an empty database of every driver, checks that
// every migration is recorded as applied, and that a second run changes
// nothing.
func TestMigrations(t *testing.T) {
	for _, driver := range dbtest.Drivers() {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			dsn := dbtest.DSN(t, driver)
			s, err := gormstore.Open(ctx, dbtest.Config(driver, dsn))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()

			before, err := s.MigrationStatus(ctx)
			if err != nil {
				t.Fatalf("MigrationStatus before migrating: %v", err)
			}
			if len(before) == 0 {
				t.Fatal("no migrations embedded")
			}
			for _, m := range before {
				if m.Applied {
					t.Errorf("migration %d applied on an empty database", m.Version)
				}
			}
			if n, err := s.Pending(ctx); err != nil || n != len(before) {
				t.Fatalf("Pending before migrating = %d, %v; want %d", n, err, len(before))
			}

			start := time.Now().Add(-time.Minute)
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if n, err := s.Pending(ctx); err != nil || n != 0 {
				t.Fatalf("Pending after migrating = %d, %v; want 0", n, err)
			}
			after, err := s.MigrationStatus(ctx)
			if err != nil {
				t.Fatalf("MigrationStatus: %v", err)
			}
			var last int64
			for _, m := range after {
				if !m.Applied || m.AppliedAt.Before(start) || m.AppliedAt.Location() != time.UTC {
					t.Errorf("migration %d (%s): applied %v at %v, want applied now in UTC", m.Version, m.Name, m.Applied, m.AppliedAt)
				}
				if m.Version <= last {
					t.Errorf("migration %d listed after %d", m.Version, last)
				}
				last = m.Version
			}

			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			again, err := s.MigrationStatus(ctx)
			if err != nil {
				t.Fatalf("MigrationStatus: %v", err)
			}
			for i := range after {
				if again[i] != after[i] {
					t.Errorf("second Migrate changed migration %d: %+v, was %+v", after[i].Version, again[i], after[i])
				}
			}

			// Both tables exist and start empty.
			for _, table := range []string{"api_keys", "audit_events"} {
				var n int64
				if err := s.DB().WithContext(ctx).Table(table).Count(&n).Error; err != nil || n != 0 {
					t.Errorf("count %s = %d, %v; want an empty table", table, n, err)
				}
			}
		})
	}
}

// TestMySQLIdentifiersCompareExactly: on MySQL/MariaDB every text column of
// the service's tables, and each table's default, is a NO PAD binary
// collation after migrating (00006), also when 00006 comes after the
// migrations numbered above it, as on a database upgraded from a version
// without it: under utf8mb4_bin, 'org_A' = 'org_A ' (issue 11 §1).
func TestMySQLIdentifiersCompareExactly(t *testing.T) {
	if !slices.Contains(dbtest.Drivers(), "mysql") {
		t.Skip("no mysql run")
	}
	dbtest.Require(t, "mysql")
	ctx := context.Background()
	s := dbtest.Open(t, "mysql")
	db := s.DB().WithContext(ctx)
	tables := []string{"api_keys", "audit_events", "audit_chains", "retired_secrets", "organization_policies"}
	check := func(when string) {
		t.Helper()
		var cols []struct{ Table, Column, Collation string }
		if err := db.Raw(`SELECT TABLE_NAME AS `+"`table`"+`, COLUMN_NAME AS `+"`column`"+`, COLLATION_NAME AS collation
			FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ? AND COLLATION_NAME IS NOT NULL`, tables).
			Scan(&cols).Error; err != nil || len(cols) < 20 {
			t.Fatalf("%s: columns %d, %v", when, len(cols), err)
		}
		for _, c := range cols {
			if c.Collation != "utf8mb4_nopad_bin" && c.Collation != "utf8mb4_0900_bin" {
				t.Errorf("%s: %s.%s has collation %s, want a NO PAD binary one", when, c.Table, c.Column, c.Collation)
			}
		}
		for _, table := range tables {
			var coll string
			if err := db.Raw(`SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, table).
				Scan(&coll).Error; err != nil || coll != "utf8mb4_nopad_bin" && coll != "utf8mb4_0900_bin" {
				t.Errorf("%s: table %s defaults to %q (%v)", when, table, coll, err)
			}
		}
	}
	check("fresh database")
	// A database of a version without 00006, already past 00008.
	for _, table := range tables {
		if err := db.Exec("ALTER TABLE " + table + " CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin").Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Exec("DELETE FROM goose_db_version WHERE version_id = 6").Error; err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	check("upgraded database")
}
