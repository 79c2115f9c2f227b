package gormstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/test/dbtest"
)

func testKey(id, lookup string, at time.Time) (apikey.Key, audit.Event) {
	k := apikey.Key{
		ID: id, OrganizationID: "org_test", Name: "test", Environment: apikey.EnvTest,
		Scopes: apikey.Scopes{apikey.ScopeTriggersRead}, Hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		Lookup: lookup, CreatedAt: at, UpdatedAt: at, Version: 1,
	}
	ev := audit.Event{ID: "evt_" + id, Time: at, OrganizationID: k.OrganizationID, Actor: "user:t", Action: audit.ActionKeyCreated, KeyID: id, Outcome: "ok"}
	return k, ev
}

func lookupOf(i int) string { return fmt.Sprintf("%064x", i) }

func openSQLite(t *testing.T, dsn string) *gormstore.Store {
	t.Helper()
	ctx := context.Background()
	s, err := gormstore.Open(ctx, gormstore.Config{Driver: gormstore.DriverSQLite, DSN: dsn, ChainKey: []byte(dbtest.ChainKey)})
	if err != nil {
		t.Fatalf("Open(%s): %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestOpenRejectsBadConfig(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []gormstore.Config{
		{},
		{Driver: "oracle", DSN: "x"},
		{Driver: gormstore.DriverSQLite},
		{Driver: gormstore.DriverPostgres, DSN: "postgres://localhost/x", MaxOpenConns: -1},
		{Driver: gormstore.DriverMySQL, DSN: "not a dsn"},
		{Driver: gormstore.DriverSQLite, DSN: ":memory:", ChainKey: []byte("short")},
		{Driver: gormstore.DriverSQLite, DSN: ":memory:", PreviousChainKeys: [][]byte{[]byte(dbtest.ChainKey)}},
		{Driver: gormstore.DriverSQLite, DSN: ":memory:", ChainKey: []byte(dbtest.ChainKey), PreviousChainKeys: [][]byte{[]byte(dbtest.ChainKey)}},
	} {
		if s, err := gormstore.Open(ctx, cfg); err == nil {
			s.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		} else if errors.Is(err, apikey.ErrUnavailable) {
			t.Errorf("Open(%+v): %v; a configuration mistake is not an outage", cfg, err)
		}
	}
}

// TestOpenUnreachable points each network driver at a closed port: the
// error must say the database is unavailable, quickly.
func TestOpenUnreachable(t *testing.T) {
	for _, cfg := range []gormstore.Config{
		{Driver: gormstore.DriverPostgres, DSN: "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5"},
		{Driver: gormstore.DriverMySQL, DSN: "root@tcp(127.0.0.1:1)/test?timeout=5s"},
	} {
		t.Run(cfg.Driver, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := gormstore.Open(ctx, cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open of a closed port succeeded")
			}
			if !errors.Is(err, apikey.ErrUnavailable) {
				t.Fatalf("Open: %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestSQLiteSetup(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "nested", "dir", "keys.db")
	s := openSQLite(t, dsn)
	if _, err := os.Stat(dsn); err != nil {
		t.Fatalf("database file: %v", err)
	}
	if s.Driver() != gormstore.DriverSQLite {
		t.Errorf("Driver() = %q", s.Driver())
	}
	ctx := context.Background()
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "temp_store": "2"} {
		var got string
		if err := s.SQLDB().QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestSQLiteInMemory(t *testing.T) {
	s := openSQLite(t, ":memory:")
	ctx := context.Background()
	k, ev := testKey("key_mem", lookupOf(1), time.Now())
	if err := s.CreateKey(ctx, k, ev); err != nil {
		t.Fatal(err)
	}
	// Every statement must see the same database, whichever connection.
	for range 5 {
		if _, err := s.GetKey(ctx, k.ID); err != nil {
			t.Fatalf("GetKey: %v", err)
		}
	}
}

// TestSQLiteWritersAcrossStores has two stores (as two processes would) on
// one file, each with several goroutines writing at once: SQLite allows
// one writer, and no write may fail with "database is locked".
func TestSQLiteWritersAcrossStores(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "shared.db")
	stores := []*gormstore.Store{openSQLite(t, dsn), openSQLite(t, dsn)}
	ctx := context.Background()
	const workers, each = 8, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for si, s := range stores {
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					n := (si*workers+w)*each + i
					k, ev := testKey(fmt.Sprintf("key_%04d", n), lookupOf(n), time.Now())
					err := s.CreateKey(ctx, k, ev)
					if err == nil {
						err = s.AppendUsage(ctx, []audit.Event{{ID: fmt.Sprintf("evt_u%04d", n), Time: time.Now(),
							OrganizationID: k.OrganizationID, Actor: audit.UsageActor(k.ID), Action: audit.ActionKeyUsed, KeyID: k.ID, Outcome: "ok"}})
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	var n int64
	if err := stores[0].DB().Table("api_keys").Where("last_used_at IS NOT NULL").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 2*workers*each {
		t.Errorf("%d used keys stored, want %d", n, 2*workers*each)
	}
}

// TestSQLiteLockedIsUnavailable holds SQLite's write lock from another
// connection longer than the store's busy timeout: the write must fail
// with ErrUnavailable, not a driver error.
func TestSQLiteLockedIsUnavailable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "locked.db")
	s := openSQLite(t, file+"?_pragma=busy_timeout(50)")
	ctx := context.Background()

	blocker, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	conn, err := blocker.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")

	k, ev := testKey("key_locked", lookupOf(7), time.Now())
	err = s.CreateKey(ctx, k, ev)
	if !errors.Is(err, apikey.ErrUnavailable) {
		t.Fatalf("CreateKey while locked: %v, want ErrUnavailable", err)
	}
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	s, err := gormstore.Open(context.Background(), gormstore.Config{Driver: gormstore.DriverSQLite, DSN: filepath.Join(t.TempDir(), "c.db"), ChainKey: []byte(dbtest.ChainKey)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetKey(context.Background(), "key_x"); !errors.Is(err, apikey.ErrUnavailable) {
		t.Errorf("GetKey on a closed store: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, apikey.ErrUnavailable) {
		t.Errorf("Ping on a closed store: %v, want ErrUnavailable", err)
	}
}

// TestConflictHidesValues checks, on every database, that a duplicate
// lookup is reported as ErrConflict without quoting the digest.
func TestConflictHidesValues(t *testing.T) {
	for _, driver := range dbtest.Drivers() {
		t.Run(driver, func(t *testing.T) {
			s := dbtest.Open(t, driver)
			ctx := context.Background()
			now := time.Now()
			k1, ev1 := testKey("key_one", lookupOf(42), now)
			k2, ev2 := testKey("key_two", lookupOf(42), now)
			if err := s.CreateKey(ctx, k1, ev1); err != nil {
				t.Fatal(err)
			}
			err := s.CreateKey(ctx, k2, ev2)
			if !errors.Is(err, apikey.ErrConflict) {
				t.Fatalf("duplicate lookup: %v, want ErrConflict", err)
			}
			if strings.Contains(err.Error(), k2.Lookup) {
				t.Errorf("error %q quotes the lookup digest", err)
			}
		})
	}
}

// TestNameTooLong checks that a value the schema cannot hold yields an
// ordinary error, not a domain sentinel.
func TestNameTooLong(t *testing.T) {
	for _, driver := range []string{gormstore.DriverPostgres, gormstore.DriverMySQL} {
		t.Run(driver, func(t *testing.T) {
			s := dbtest.Open(t, driver)
			k, ev := testKey("key_long", lookupOf(3), time.Now())
			k.Name = strings.Repeat("n", 401)
			err := s.CreateKey(context.Background(), k, ev)
			if err == nil {
				t.Fatal("CreateKey with a 401-character name succeeded")
			}
			for _, sentinel := range []error{apikey.ErrNotFound, apikey.ErrConflict, apikey.ErrUnavailable, apikey.ErrRevoked} {
				if errors.Is(err, sentinel) {
					t.Errorf("error %v is %v", err, sentinel)
				}
			}
			if !strings.HasPrefix(err.Error(), "create key: ") {
				t.Errorf("error %q, want it prefixed with the operation", err)
			}
		})
	}
}

// TestConcurrentMigrate migrates one empty database from several stores at
// once, as several instances starting together would: every run succeeds
// and the schema is applied once.
func TestConcurrentMigrate(t *testing.T) {
	for _, driver := range dbtest.Drivers() {
		t.Run(driver, func(t *testing.T) {
			dsn := dbtest.DSN(t, driver)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			const n = 4
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				s, err := gormstore.Open(ctx, dbtest.Config(driver, dsn))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				wg.Go(func() { errs[i] = s.Migrate(ctx) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("Migrate %d: %v", i, err)
				}
			}
			s, err := gormstore.Open(ctx, dbtest.Config(driver, dsn))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if p, err := s.Pending(ctx); err != nil || p != 0 {
				t.Errorf("Pending = %d, %v; want 0", p, err)
			}
		})
	}
}
