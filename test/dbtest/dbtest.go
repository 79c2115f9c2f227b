package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/audit"
)

// Environment variables naming the administrative connections.
const (
	PostgresEnv = "APIKEYS_TEST_POSTGRES_DSN"
	MySQLEnv    = "APIKEYS_TEST_MYSQL_DSN"
)

// startContainer, when set (by a file behind a build tag), starts a
// database server for driver and returns its administrative DSN; ok is
// false when it cannot. It is consulted only when the driver's variable is
// unset.
var startContainer func(t testing.TB, driver string) (dsn string, ok bool)

// Drivers lists every driver the store supports, in the order suites run.
func Drivers() []string {
	return []string{gormstore.DriverSQLite, gormstore.DriverPostgres, gormstore.DriverMySQL}
}

// Require skips the test (or fails it when CI is set) if driver's server is
// not configured, exactly as Open and DSN would. Calling it once before a
// suite's subtests keeps one skip message per driver.
func Require(t testing.TB, driver string) {
	t.Helper()
	adminDSN(t, driver)
}

// Open returns a store on a fresh, migrated database of driver, closed and
// dropped when the test ends. It fails the test if any migration is left
// pending.
func Open(t testing.TB, driver string) *gormstore.Store {
	t.Helper()
	dsn := DSN(t, driver)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := gormstore.Open(ctx, Config(driver, dsn))
	if err != nil {
		t.Fatalf("open %s store: %v", driver, err)
	}
	// Registered after DSN's cleanup, so it runs first: close, then drop.
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close %s store: %v", driver, err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", driver, err)
	}
	n, err := s.Pending(ctx)
	if err != nil {
		t.Fatalf("pending %s migrations: %v", driver, err)
	}
	if n != 0 {
		t.Fatalf("%d %s migrations still pending after Migrate", n, driver)
	}
	return s
}

// ChainKey is the audit chain key of every store Config configures.
const ChainKey = "dbtest-audit-chain-key-0123456789abcdef"

// ChainKeys returns the chain keys that verify the chains of the stores
// Config configures.
func ChainKeys() audit.ChainKeys {
	ks, err := audit.NewChainKeys([]byte(ChainKey))
	if err != nil {
		panic(err) // a constant that fits
	}
	return ks
}

// Config returns the store configuration dbtest uses for a database: a
// small pool, so that parallel tests stay within the server's connection
// limit while concurrency tests still run several transactions at once,
// and ChainKey as the audit chain key.
func Config(driver, dsn string) gormstore.Config {
	return gormstore.Config{Driver: driver, DSN: dsn, MaxOpenConns: 8, MaxIdleConns: 4, ChainKey: []byte(ChainKey)}
}

// DSN creates a fresh, empty database of driver and returns its DSN without
// opening a store on it; the database is dropped when the test ends. For
// sqlite the DSN is a file in t.TempDir().
func DSN(t testing.TB, driver string) string {
	t.Helper()
	if driver == gormstore.DriverSQLite {
		return filepath.Join(t.TempDir(), "apikeys.db")
	}
	admin := adminDSN(t, driver)
	name := "apikeys_test_" + randomHex(t, 8)
	dsn, err := gormstore.WithDatabase(driver, admin, name)
	if err != nil {
		t.Fatalf("%s: %v", envName(driver), err)
	}

	create := "CREATE DATABASE " + name + " TEMPLATE template0 ENCODING 'UTF8'"
	drop := "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"
	if driver == gormstore.DriverMySQL {
		create = "CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
		drop = "DROP DATABASE IF EXISTS " + name
	}
	if err := adminExec(driver, admin, create); err != nil {
		t.Fatalf("create %s test database: %v", driver, err)
	}
	t.Cleanup(func() {
		if err := adminExec(driver, admin, drop); err != nil {
			t.Errorf("drop %s test database %s: %v", driver, name, err)
		}
	})
	return dsn
}

// adminDSN returns the administrative DSN of driver, or skips or fails t.
func adminDSN(t testing.TB, driver string) string {
	t.Helper()
	switch driver {
	case gormstore.DriverSQLite:
		return ""
	case gormstore.DriverPostgres, gormstore.DriverMySQL:
	default:
		t.Fatalf("dbtest: unknown driver %q (want one of %v)", driver, Drivers())
	}
	env := envName(driver)
	if dsn := os.Getenv(env); dsn != "" {
		return dsn
	}
	if startContainer != nil {
		if dsn, ok := startContainer(t, driver); ok {
			return dsn
		}
	}
	label := map[string]string{gormstore.DriverPostgres: "Postgres", gormstore.DriverMySQL: "MySQL"}[driver]
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set: the %s suite must run in CI", env, label)
	}
	t.Skipf("set %s to run the %s suite", env, label)
	return ""
}

func envName(driver string) string {
	if driver == gormstore.DriverMySQL {
		return MySQLEnv
	}
	return PostgresEnv
}

// adminExec runs one statement on the administrative connection.
func adminExec(driver, dsn, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := gormstore.Open(ctx, gormstore.Config{Driver: driver, DSN: dsn, MaxOpenConns: 1})
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.SQLDB().ExecContext(ctx, stmt)
	return err
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random database name: %v", err)
	}
	return hex.EncodeToString(b)
}
