// Package e2e is the black-box suite: it builds the real binary, starts it
// as a separate process on each database, and talks to it over HTTP the way
// the documentation's curl examples do.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentauri/apikeys/test/dbtest"
)

var binary string // path of the apikeys binary built by TestMain

// buildVersion is the version the binary is built with, as the Makefile
// and the Dockerfile stamp it (-X .../app.Version).
const buildVersion = "v0.0.0-e2e"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "apikeys-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "apikeys")
	build := exec.Command("go", "build", "-ldflags", "-X github.com/agentauri/apikeys/app.Version="+buildVersion, "-o", binary, ".")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build apikeys: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Test secrets for the shared-database runs (sqlite makes its own).
const (
	testJWTSecret = "e2e-jwt-secret-0123456789abcdef0123456789"
	testPepper    = "e2e-pepper-0123456789abcdef0123456789abcdef"
	testChainKey  = "e2e-audit-chain-key-0123456789abcdef0123456"
)

// env describes one database a server can run on.
type env struct {
	driver string
	dsn    string // "" for sqlite: the server uses its data dir
}

// forEachDatabase runs fn as a subtest per database; the subtest names
// carry the driver, so the output shows which suites ran.
func forEachDatabase(t *testing.T, fn func(t *testing.T, e env)) {
	for _, driver := range dbtest.Drivers() {
		t.Run(driver, func(t *testing.T) {
			e := env{driver: driver}
			if driver != "sqlite" {
				e.dsn = dbtest.DSN(t, driver)
			}
			fn(t, e)
		})
	}
}

// forEachSharedDatabase is forEachDatabase for the databases several
// instances share over a network: every driver but sqlite.
func forEachSharedDatabase(t *testing.T, fn func(t *testing.T, e env)) {
	for _, driver := range dbtest.Drivers() {
		if driver == "sqlite" {
			continue
		}
		t.Run(driver, func(t *testing.T) {
			fn(t, env{driver: driver, dsn: dbtest.DSN(t, driver)})
		})
	}
}

// server is a running apikeys process.
type server struct {
	t       *testing.T
	base    string
	dataDir string
	cmd     *exec.Cmd
	logMu   sync.Mutex
	log     bytes.Buffer
	done    chan struct{}
	env     []string
}

// freePort asks the kernel for an unused port on 127.0.0.1.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serverEnv is the environment of a server on e; dataDir holds SQLite files
// and development secrets.
func serverEnv(e env, dataDir string, extra ...string) []string {
	out := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"APIKEYS_DATA_DIR=" + dataDir,
		"APIKEYS_STORAGE_DRIVER=" + e.driver,
		// Cheaper Argon2id keeps the suite fast; the parameters are still
		// checked at their defaults by the argon2id package's tests.
		"APIKEYS_SECURITY_ARGON2_MEMORY_KIB=8192",
		"APIKEYS_SECURITY_ARGON2_ITERATIONS=1",
		"APIKEYS_AUDIT_FLUSH_INTERVAL=50ms",
		// Every test runs from 127.0.0.1 and many fail on purpose or
		// create keys quickly: the throttles are off unless a test of
		// them turns them on (a later value of a variable wins).
		"APIKEYS_SECURITY_FAILED_AUTH_LIMIT=0",
		"APIKEYS_SECURITY_MANAGEMENT_LIMIT_RATE=0",
		"APIKEYS_LOG_LEVEL=debug",
	}
	// A developer's shell exports the suites' own variables; the service
	// must start with them set, as it does under `make run`.
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "APIKEYS_TEST_") {
			out = append(out, kv)
		}
	}
	if e.driver != "sqlite" {
		out = append(out, "APIKEYS_STORAGE_DSN="+e.dsn, "APIKEYS_STORAGE_AUTO_MIGRATE=true",
			"APIKEYS_JWT_SECRET="+testJWTSecret, "APIKEYS_SECURITY_PEPPER="+testPepper, "APIKEYS_AUDIT_CHAIN_KEY="+testChainKey)
	}
	return append(out, extra...)
}

// start runs `apikeys serve` on e with its own data dir and waits until it
// answers /healthz.
func start(t *testing.T, e env, extra ...string) *server {
	t.Helper()
	return startIn(t, e, t.TempDir(), extra...)
}

func startIn(t *testing.T, e env, dataDir string, extra ...string) *server {
	t.Helper()
	addr := freePort(t)
	s := &server{t: t, base: "http://" + addr, dataDir: dataDir, done: make(chan struct{})}
	s.env = serverEnv(e, dataDir, append([]string{"APIKEYS_HTTP_ADDR=" + addr}, extra...)...)
	s.cmd = exec.Command(binary, "serve", "--config", filepath.Join("..", "..", "configs", "default.yaml"))
	s.cmd.Env = s.env
	s.cmd.Stdout = &lockedWriter{s: s}
	s.cmd.Stderr = &lockedWriter{s: s}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("server exited during start:\n%s", s.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", s.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type lockedWriter struct{ s *server }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.logMu.Lock()
	defer w.s.logMu.Unlock()
	return w.s.log.Write(p)
}

func (s *server) logs() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// stop sends SIGTERM and waits for a graceful exit.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		s.t.Errorf("server did not stop within 30s of SIGTERM")
	}
}

// cli runs an apikeys command with the server's environment.
func (s *server) cli(args ...string) string {
	s.t.Helper()
	cmd := exec.Command(binary, append(args, "--config", filepath.Join("..", "..", "configs", "default.yaml"))...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("apikeys %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// token mints a JWT with the server's secret, as `apikeys token` does.
func (s *server) token(sub string, orgs ...string) string {
	args := []string{"token", "--sub", sub}
	for _, o := range orgs {
		args = append(args, "--org", o)
	}
	return s.cli(args...)
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// errorCode returns error.code of an error body.
func (r response) errorCode(t *testing.T) (code, field string) {
	t.Helper()
	m := r.json(t)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error envelope: %s", r.body)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Fatalf("error without message: %s", r.body)
	}
	f, _ := e["field"].(string)
	return e["code"].(string), f
}

// do sends a request; headers are name/value pairs.
func (s *server) do(method, path, body string, headers ...string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := checkContract(req, []byte(body), resp.StatusCode, resp.Header, b, s.gatewayMode()); err != nil {
		s.t.Errorf("%s %s: outside api/openapi.yaml: %v\nanswer: %s", method, path, err, b)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// otherLast returns secret with its last character, part of the checksum,
// replaced by a different one: a key that fails its checksum. (Always
// writing "x" gave back the key itself once in 62 runs.)
func otherLast(secret string) string {
	c := "x"
	if strings.HasSuffix(secret, c) {
		c = "y"
	}
	return secret[:len(secret)-1] + c
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func jsonBearer(tok string) []string {
	return []string{"Authorization", "Bearer " + tok, "Content-Type", "application/json"}
}

func want(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// eventually retries cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s", what, timeout)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// jwtSecret returns the secret the server signs tokens with: the fixed test
// secret, or on SQLite the development secret it generated in its data dir.
func (s *server) jwtSecret() []byte { return []byte(s.secret("APIKEYS_JWT_SECRET", "jwt_secret")) }

// chainKey returns the key the server keys its audit chains with, found as
// jwtSecret finds the JWT secret.
func (s *server) chainKey() string { return s.secret("APIKEYS_AUDIT_CHAIN_KEY", "audit_chain_key") }

// secret returns the value of variable in the server's environment, or
// else field of the development secrets it generated.
func (s *server) secret(variable, field string) string {
	s.t.Helper()
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, variable+"="); ok {
			return v
		}
	}
	b, err := os.ReadFile(filepath.Join(s.dataDir, "dev-secrets.json"))
	if err != nil {
		s.t.Fatal(err)
	}
	var d map[string]string
	if err := json.Unmarshal(b, &d); err != nil || d[field] == "" {
		s.t.Fatalf("development secrets: %v, no %s", err, field)
	}
	return d[field]
}

// gatewayMode reports whether the server proxies requests outside its own
// routes (gateway.upstream set).
func (s *server) gatewayMode() bool {
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, "APIKEYS_GATEWAY_UPSTREAM="); ok && v != "" {
			return true
		}
	}
	return false
}
