package dbtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
)

func TestDrivers(t *testing.T) {
	if got := Drivers(); !slices.Equal(got, []string{"sqlite", "postgres", "mysql"}) {
		t.Errorf("Drivers() = %v", got)
	}
}

func TestWithDatabase(t *testing.T) {
	cases := []struct{ driver, in, want string }{
		{"postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "postgres://postgres@127.0.0.1:5432/apikeys_test_x?sslmode=disable"},
		{"postgres", "postgresql://u:p%40ss@db/", "postgresql://u:p%40ss@db/apikeys_test_x"},
		{"postgres", "host=127.0.0.1 user=postgres dbname=test sslmode=disable", "host=127.0.0.1 user=postgres dbname=apikeys_test_x sslmode=disable"},
		{"postgres", "host=127.0.0.1 user=postgres", "host=127.0.0.1 user=postgres dbname=apikeys_test_x"},
		{"mysql", "root@tcp(127.0.0.1:3306)/test", "root@tcp(127.0.0.1:3306)/apikeys_test_x"},
		{"mysql", "app:pw@tcp(db:3306)/?timeout=5s", "app:pw@tcp(db:3306)/apikeys_test_x?timeout=5s"},
	}
	for _, tc := range cases {
		got, err := gormstore.WithDatabase(tc.driver, tc.in, "apikeys_test_x")
		if err != nil {
			t.Errorf("gormstore.WithDatabase(%q): %v", tc.in, err)
		} else if got != tc.want {
			t.Errorf("gormstore.WithDatabase(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestDatabasesAreIsolatedAndDropped opens two stores per driver, checks
// that they do not share data, and that their databases are gone once
// the subtest that made them has ended.
func TestDatabasesAreIsolatedAndDropped(t *testing.T) {
	for _, driver := range Drivers() {
		t.Run(driver, func(t *testing.T) {
			Require(t, driver)
			var dsns []string
			t.Run("use", func(t *testing.T) {
				ctx := context.Background()
				a, b := Open(t, driver), Open(t, driver)
				now := time.Now()
				k := apikey.Key{ID: "key_iso", OrganizationID: "org", Name: "n", Environment: apikey.EnvTest,
					Hash: "h", Lookup: strings.Repeat("0", 64), CreatedAt: now, UpdatedAt: now, Version: 1}
				ev := audit.Event{ID: "evt_iso", Time: now, OrganizationID: "org", Action: audit.ActionKeyCreated, KeyID: k.ID}
				if err := a.CreateKey(ctx, k, ev); err != nil {
					t.Fatal(err)
				}
				if _, err := b.GetKey(ctx, k.ID); !errors.Is(err, apikey.ErrNotFound) {
					t.Errorf("second database sees the first one's key: %v", err)
				}
				dsns = append(dsns, DSN(t, driver), DSN(t, driver))
				if dsns[0] == dsns[1] {
					t.Errorf("DSN returned %q twice", dsns[0])
				}
				if driver != gormstore.DriverSQLite {
					for _, dsn := range dsns {
						if !exists(t, driver, dsn) {
							t.Fatalf("database of %q not created", dsn)
						}
					}
				}
			})
			for _, dsn := range dsns {
				if exists(t, driver, dsn) {
					t.Errorf("database of %q still exists after its test ended", dsn)
				}
			}
		})
	}
}

// exists reports whether the database named by dsn is still there.
func exists(t *testing.T, driver, dsn string) bool {
	t.Helper()
	if driver == gormstore.DriverSQLite {
		_, err := os.Stat(dsn)
		return err == nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := gormstore.Open(ctx, gormstore.Config{Driver: driver, DSN: adminDSN(t, driver)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	name := dsn[strings.LastIndex(dsn, "/")+1:]
	name, _, _ = strings.Cut(name, "?")
	query := "SELECT count(*) FROM pg_database WHERE datname = $1"
	if driver == gormstore.DriverMySQL {
		query = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?"
	}
	var n int
	if err := s.SQLDB().QueryRowContext(ctx, query, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// fakeTB records how adminDSN ends a test instead of ending it.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

type stopped struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	panic(stopped{})
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
	panic(stopped{})
}

func callAdminDSN(tb *fakeTB, driver string) (dsn string) {
	defer func() {
		if r := recover(); r != nil && r != (stopped{}) {
			panic(r)
		}
	}()
	return adminDSN(tb, driver)
}

func TestMissingServer(t *testing.T) {
	t.Setenv(PostgresEnv, "")
	t.Setenv(MySQLEnv, "")

	t.Setenv("CI", "")
	tb := &fakeTB{TB: t}
	callAdminDSN(tb, "postgres")
	if tb.skip != "set APIKEYS_TEST_POSTGRES_DSN to run the Postgres suite" || tb.fatal != "" {
		t.Errorf("outside CI: skip %q, fatal %q", tb.skip, tb.fatal)
	}

	t.Setenv("CI", "true")
	tb = &fakeTB{TB: t}
	callAdminDSN(tb, "mysql")
	if !strings.Contains(tb.fatal, MySQLEnv) || tb.skip != "" {
		t.Errorf("in CI: fatal %q, skip %q; want a failure naming %s", tb.fatal, tb.skip, MySQLEnv)
	}

	tb = &fakeTB{TB: t}
	if dsn := callAdminDSN(tb, "sqlite"); dsn != "" || tb.fatal != "" || tb.skip != "" {
		t.Errorf("sqlite needs no server, got dsn %q, fatal %q, skip %q", dsn, tb.fatal, tb.skip)
	}

	tb = &fakeTB{TB: t}
	callAdminDSN(tb, "oracle")
	if !strings.Contains(tb.fatal, "oracle") {
		t.Errorf("unknown driver: fatal %q", tb.fatal)
	}

	t.Setenv(PostgresEnv, "postgres://example/x")
	tb = &fakeTB{TB: t}
	if dsn := callAdminDSN(tb, "postgres"); dsn != "postgres://example/x" {
		t.Errorf("adminDSN = %q, want the variable's value", dsn)
	}
}
