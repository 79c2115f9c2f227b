package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/agentauri/apikeys/test/dbtest"
	"github.com/agentauri/apikeys/test/faultproxy"
)

// outageQueryTimeout is the storage.query_timeout of the outage tests, and
// outageBound the longest a request may take while the database is down:
// far above the timeout so that a slow machine cannot fail the test, far
// below the 30s the client and the server's write timeout allow, so that a
// request hanging on the database cannot pass it.
const (
	outageQueryTimeout = time.Second
	outageBound        = 10 * time.Second
)

// networkDrivers are the databases reached over TCP, which can be cut. An
// embedded SQLite file cannot be taken away from a running process, so
// the outage tests do not apply to it; its readiness on pending
// migrations is covered by TestMigrateCommands.
var networkDrivers = []string{"postgres", "mysql"}

// TestDatabaseOutage runs the server through a TCP proxy and takes the
// database away twice: first as a crash (connections reset, new ones
// refused), then as a network partition (nothing answers; only the
// server's query timeout ends the wait). Throughout, the API answers 503
// with Retry-After and the service_unavailable envelope, never a 500 and
// nothing internal, within a few seconds; /healthz stays 200, /readyz
// says 503, and, with security.on_stale: serve_stale, a key verified
// before the outage still verifies from the cache (the default,
// fail_closed, answers it 503 too once the invalidation poll is stale: see
// TestPartitionedInstanceFailsClosed). Once the database is back
// everything works again without a restart.
func TestDatabaseOutage(t *testing.T) {
	for _, driver := range networkDrivers {
		t.Run(driver, func(t *testing.T) {
			dsn := dbtest.DSN(t, driver)
			p, proxied := faultproxy.StartDSN(t, driver, dsn)
			s := start(t, env{driver: driver, dsn: proxied},
				"APIKEYS_STORAGE_QUERY_TIMEOUT="+outageQueryTimeout.String(), "APIKEYS_SECURITY_ON_STALE=serve_stale")
			// Keys are created on another instance, which reaches the
			// database directly: the instance under test has not cached
			// them (an instance primes its cache with the keys it creates).
			other := start(t, env{driver: driver, dsn: dsn})
			tok := s.token("user_1", "org_123")
			create := func() (id, key string) {
				r := other.do("POST", "/api/v1/api-keys", `{"name":"outage","organization_id":"org_123","scopes":["events:read"]}`, jsonBearer(tok)...)
				want(t, r, 201)
				return r.json(t)["id"].(string), r.json(t)["key"].(string)
			}
			cachedID, cachedKey := create()
			want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", cachedKey), 200) // now cached
			want(t, s.do("GET", "/readyz", ""), 200)

			for _, fault := range []struct {
				name  string
				apply func()
			}{{"cut", p.Cut}, {"stall", p.Stall}} {
				t.Run(fault.name, func(t *testing.T) {
					coldID, coldKey := create() // never verified: not cached
					calls := []struct {
						name, method, path, body string
						headers                  []string
					}{
						{"list", "GET", "/api/v1/api-keys", "", bearer(tok)},
						{"get", "GET", "/api/v1/api-keys/" + coldID, "", bearer(tok)},
						{"create", "POST", "/api/v1/api-keys", `{"name":"during","organization_id":"org_123","scopes":["events:read"]}`, jsonBearer(tok)},
						{"rotate", "POST", "/api/v1/api-keys/" + coldID + "/rotate", "", bearer(tok)},
						{"revoke", "DELETE", "/api/v1/api-keys/" + coldID, "", bearer(tok)},
						{"verify uncached key", "GET", "/api/v1/auth/verify", "", []string{"X-API-Key", coldKey}},
					}
					fault.apply()
					var slowest time.Duration
					for _, c := range calls {
						began := time.Now()
						r := s.do(c.method, c.path, c.body, c.headers...)
						took := time.Since(began)
						slowest = max(slowest, took)
						checkUnavailable(t, c.name, r, "service_unavailable", p.Addr())
						if took > outageBound {
							t.Errorf("%s took %s with the database down; want a prompt 503 (query timeout %s)", c.name, took, outageQueryTimeout)
						}
					}
					began := time.Now()
					checkUnavailable(t, "readyz", s.do("GET", "/readyz", ""), "not_ready", p.Addr())
					if took := time.Since(began); took > outageBound {
						t.Errorf("readyz took %s with the database down", took)
					}
					want(t, s.do("GET", "/healthz", ""), 200)
					want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", cachedKey), 200)
					t.Logf("%s %s: slowest failing request took %s (query timeout %s)", driver, fault.name, slowest.Round(time.Millisecond), outageQueryTimeout)

					p.Restore()
					eventually(t, 15*time.Second, "readyz is 200 again after the database came back", func() bool {
						return s.do("GET", "/readyz", "").status == 200
					})
					want(t, s.do("GET", "/api/v1/api-keys", "", bearer(tok)...), 200)
					want(t, s.do("GET", "/api/v1/api-keys/"+coldID, "", bearer(tok)...), 200)
					want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", coldKey), 200)
					id, key := create()
					want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", key), 200)
					want(t, s.do("DELETE", "/api/v1/api-keys/"+id, "", bearer(tok)...), 204)
				})
			}
			// The cached key survived both outages and still rotates.
			r := s.do("POST", "/api/v1/api-keys/"+cachedID+"/rotate", "", bearer(tok)...)
			want(t, r, 200)
			want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", cachedKey), 401)
			want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", r.json(t)["key"].(string)), 200)
			if strings.Contains(s.logs(), `"status":500`) {
				t.Errorf("the server answered 500 during the outage:\n%s", s.logs())
			}
		})
	}
}

// internals are words that must not reach a client: driver, network and
// SQL vocabulary.
var internals = regexp.MustCompile(`(?i)postgres|mysql|maria|pgx|pgconn|sql|gorm|dial|tcp|connection|refused|reset|timeout|deadline|127\.0\.0\.1|goose`)

// checkUnavailable asserts a 503 with a usable Retry-After and the error
// envelope with code, telling the client nothing about the database.
func checkUnavailable(t *testing.T, what string, r response, code, proxyAddr string) {
	t.Helper()
	if r.status != 503 {
		t.Errorf("%s: status %d, want 503: %s", what, r.status, r.body)
		return
	}
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("%s: Retry-After %q, want a positive number of seconds", what, r.header.Get("Retry-After"))
	}
	if got, _ := r.errorCode(t); got != code {
		t.Errorf("%s: error code %q, want %q", what, got, code)
	}
	if m := internals.FindString(string(r.body)); m != "" || strings.Contains(string(r.body), proxyAddr) {
		t.Errorf("%s: the body reveals internals (%q): %s", what, m, r.body)
	}
}

// runCLI runs the apikeys binary with environ and returns its combined
// output; a command that does not end within a minute fails the test.
func runCLI(t *testing.T, environ []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append(args, "--config", filepath.Join("..", "..", "configs", "default.yaml"))...)
	cmd.Env = environ
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("apikeys %v did not end within a minute:\n%s", args, out)
	}
	return string(out), err
}

// migrationFiles lists the SQL migrations shipped for driver.
func migrationFiles(t *testing.T, driver string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "adapters", "gormstore", "migrations", driver, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s migrations found: %v", driver, err)
	}
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	return files
}

// TestMigrateCommands walks an operator through a fresh database with
// storage.auto_migrate off: `migrate status` lists every migration as
// pending, serve refuses to start and says what to run, `migrate up`
// applies them, a second `migrate up` has nothing to do, and serve then
// starts and is ready. A migration missing from the database afterwards
// (as when a newer binary ships one) makes /readyz say 503 until it is
// applied.
func TestMigrateCommands(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		dataDir := t.TempDir()
		environ := serverEnv(e, dataDir, "APIKEYS_STORAGE_AUTO_MIGRATE=false", "APIKEYS_LOG_LEVEL=info")
		files := migrationFiles(t, e.driver)

		out, err := runCLI(t, environ, "migrate", "status")
		if err != nil {
			t.Fatalf("migrate status: %v\n%s", err, out)
		}
		for _, f := range files {
			if !regexp.MustCompile(`(?m)^\d+\s+` + regexp.QuoteMeta(f) + `\s+pending\s+-\s*$`).MatchString(out) {
				t.Errorf("migrate status does not list %s as pending:\n%s", f, out)
			}
		}
		if strings.Contains(out, "applied") {
			t.Errorf("a fresh database has applied migrations:\n%s", out)
		}
		// Some migrations may be written in Go: count the listed ones.
		pending := len(regexp.MustCompile(`(?m)^\d+\s+\S+\s+pending\s`).FindAllString(out, -1))

		out, err = runCLI(t, environ, "serve")
		if err == nil {
			t.Fatalf("serve started on an unmigrated database with auto_migrate off:\n%s", out)
		}
		if !strings.Contains(out, "apikeys migrate up") || !strings.Contains(out, fmt.Sprintf("%d database migrations are pending", pending)) {
			t.Errorf("serve's refusal does not say to run `apikeys migrate up`:\n%s", out)
		}

		out, err = runCLI(t, environ, "migrate", "up")
		if err != nil {
			t.Fatalf("migrate up: %v\n%s", err, out)
		}
		if !strings.Contains(out, fmt.Sprintf("applied %d migration(s)", pending)) {
			t.Errorf("first migrate up:\n%s", out)
		}
		out, err = runCLI(t, environ, "migrate", "up")
		if err != nil {
			t.Fatalf("second migrate up: %v\n%s", err, out)
		}
		if !strings.Contains(out, "nothing to apply") || strings.Contains(out, "applied migration") {
			t.Errorf("second migrate up is not a no-op:\n%s", out)
		}
		out, err = runCLI(t, environ, "migrate", "status")
		if err != nil {
			t.Fatalf("migrate status: %v\n%s", err, out)
		}
		if strings.Contains(out, "pending") {
			t.Errorf("migrations still pending after migrate up:\n%s", out)
		}

		s := startIn(t, e, dataDir, "APIKEYS_STORAGE_AUTO_MIGRATE=false")
		want(t, s.do("GET", "/readyz", ""), 200)
		tok := s.token("user_1", "org_123")
		want(t, s.do("POST", "/api/v1/api-keys", `{"name":"m","organization_id":"org_123","scopes":["events:read"]}`, jsonBearer(tok)...), 201)

		// Forget the newest migration, as if this binary were newer than
		// the schema: the server is alive but not ready.
		db := openStore(t, e, s).SQLDB()
		ctx := context.Background()
		var version int64
		if err := db.QueryRowContext(ctx, "SELECT MAX(version_id) FROM goose_db_version").Scan(&version); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, fmt.Sprintf("DELETE FROM goose_db_version WHERE version_id = %d", version)); err != nil {
			t.Fatal(err)
		}
		r := s.do("GET", "/readyz", "")
		checkUnavailable(t, "readyz with a pending migration", r, "not_ready", s.base)
		if !strings.Contains(string(r.body), "migrations are pending") {
			t.Errorf("readyz does not say migrations are pending: %s", r.body)
		}
		want(t, s.do("GET", "/healthz", ""), 200)
		if _, err := db.ExecContext(ctx, fmt.Sprintf("INSERT INTO goose_db_version (version_id, is_applied) VALUES (%d, %s)", version, sqlTrue(e.driver))); err != nil {
			t.Fatal(err)
		}
		want(t, s.do("GET", "/readyz", ""), 200)
	})
}

func sqlTrue(driver string) string {
	if driver == "postgres" {
		return "true"
	}
	return "1"
}

// fakePassword is put in DSNs to check it is never printed.
const fakePassword = "Fake-Pa55word-e2e"

// TestDSNPasswordNeverPrinted gives the CLI and the server DSNs holding a
// password, unreachable, malformed or refused, and checks that no output
// or log line repeats the password, while still saying what failed.
func TestDSNPasswordNeverPrinted(t *testing.T) {
	closed := freePort(t) // nothing listens there once freePort returns
	base := func(driver, dsn string) []string {
		return serverEnv(env{driver: driver, dsn: dsn}, t.TempDir(), "APIKEYS_STORAGE_AUTO_MIGRATE=false")
	}
	cases := []struct{ name, driver, dsn, want string }{
		{"postgres unreachable", "postgres", "postgres://apikeys:" + fakePassword + "@" + closed + "/apikeys?sslmode=disable&connect_timeout=5", "unavailable"},
		{"postgres keyword unreachable", "postgres", "host=127.0.0.1 port=" + portOf(closed) + " user=apikeys password=" + fakePassword + " dbname=apikeys sslmode=disable connect_timeout=5", "unavailable"},
		{"postgres malformed", "postgres", "postgres://apikeys:" + fakePassword + "@127.0.0.1:notaport/apikeys", "postgres"},
		{"mysql unreachable", "mysql", "apikeys:" + fakePassword + "@tcp(" + closed + ")/apikeys?timeout=5s", "unavailable"},
		{"mysql malformed", "mysql", "apikeys:" + fakePassword + "@tcp(" + closed + "/apikeys", "mysql"},
	}
	if admin := os.Getenv(dbtest.MySQLEnv); admin != "" {
		// A real server refusing the password.
		if cfg, err := mysql.ParseDSN(admin); err == nil {
			cfg.User, cfg.Passwd = "apikeys_nobody", fakePassword
			cases = append(cases, struct{ name, driver, dsn, want string }{"mysql refused", "mysql", cfg.FormatDSN(), "denied"})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			environ := base(tc.driver, tc.dsn)
			for _, args := range [][]string{{"migrate", "status"}, {"migrate", "up"}, {"serve"}} {
				out, err := runCLI(t, environ, args...)
				if err == nil {
					t.Errorf("apikeys %v succeeded on a bad DSN:\n%s", args, out)
				}
				checkNoPassword(t, fmt.Sprint(args), out)
				if !strings.Contains(strings.ToLower(out), tc.want) {
					t.Errorf("apikeys %v: output does not say %q:\n%s", args, tc.want, out)
				}
			}
		})
	}

	// A running server whose database goes away logs the failures; the
	// password of its DSN must not be among them. Postgres on this
	// machine trusts local connections, so a password in the URL is
	// accepted and ignored; where the server demands the real one the
	// check is skipped.
	t.Run("server log", func(t *testing.T) {
		admin := dbtest.DSN(t, "postgres")
		if !strings.HasPrefix(admin, "postgres://") && !strings.HasPrefix(admin, "postgresql://") {
			t.Skip("the password check needs a URL-form Postgres DSN")
		}
		u, err := url.Parse(admin)
		if err != nil {
			t.Fatal(err)
		}
		if _, has := u.User.Password(); has {
			t.Skip("the configured Postgres DSN carries its own password")
		}
		u.User = url.UserPassword(u.User.Username(), fakePassword)
		p, proxied := faultproxy.StartDSN(t, "postgres", u.String())
		environ := serverEnv(env{driver: "postgres", dsn: proxied}, t.TempDir())
		if out, err := runCLI(t, environ, "migrate", "up"); err != nil {
			checkNoPassword(t, "migrate up", out)
			if strings.Contains(out, "password") {
				t.Skipf("the Postgres server checks passwords; cannot run with a fake one:\n%s", out)
			}
			t.Fatalf("migrate up: %v\n%s", err, out)
		}
		s := start(t, env{driver: "postgres", dsn: proxied}, "APIKEYS_STORAGE_QUERY_TIMEOUT=1s")
		tok := s.token("user_1", "org_123")
		want(t, s.do("GET", "/api/v1/api-keys", "", bearer(tok)...), 200)
		p.Cut()
		want(t, s.do("GET", "/api/v1/api-keys", "", bearer(tok)...), 503)
		want(t, s.do("GET", "/readyz", ""), 503)
		time.Sleep(300 * time.Millisecond) // let the invalidation poll fail and log too
		p.Restore()
		eventually(t, 15*time.Second, "readyz recovers", func() bool { return s.do("GET", "/readyz", "").status == 200 })
		s.stop()
		logs := s.logs()
		if !strings.Contains(logs, "unavailable") {
			t.Errorf("the server logged nothing about the outage:\n%s", logs)
		}
		checkNoPassword(t, "server log", logs)
	})
}

func checkNoPassword(t *testing.T, what, out string) {
	t.Helper()
	if strings.Contains(out, fakePassword) || strings.Contains(out, url.QueryEscape(fakePassword)) {
		t.Errorf("%s prints the DSN's password:\n%s", what, out)
	}
}

func portOf(addr string) string {
	_, port, _ := strings.Cut(addr, ":")
	return port
}
