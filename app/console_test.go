package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/jwtauth"
	"github.com/agentauri/apikeys/core/routes"
)

// consoleService is a running service with the console on, and a browser
// (a cookie jar that does not follow redirects) signed in or not.
type consoleService struct {
	t    *testing.T
	cfg  Config
	base string
	c    *http.Client
}

func startConsole(t *testing.T, adjust ...func(*Config)) *consoleService {
	t.Helper()
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.JWT.Secret = "console-test-jwt-secret-0123456789abcdefgh"
	cfg.Security.Pepper = "console-test-pepper-0123456789abcdefghijk"
	cfg.Audit.ChainKey = "console-test-chain-key-0123456789abcdefgh"
	cfg.Security.Argon2.MemoryKiB, cfg.Security.Argon2.Iterations = 8192, 1
	cfg.Security.ManagementLimit.Rate = 0
	cfg.Audit.FlushInterval = 20 * time.Millisecond
	cfg.Console.DevSubject, cfg.Console.DevOrganizations = "dev_user", []string{"org_a"}
	for _, f := range adjust {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, slog.New(slog.DiscardHandler), ready) }()
	s := &consoleService{t: t, cfg: cfg}
	select {
	case addr := <-ready:
		s.base = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	s.newBrowser()
	return s
}

func (s *consoleService) newBrowser() {
	jar, _ := cookiejar.New(nil)
	s.c = &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// page is one answer of the console.
type page struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (s *consoleService) do(method, path string, form url.Values) page {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location"), header: resp.Header}
}

func (s *consoleService) get(path string) page { s.t.Helper(); return s.do("GET", path, nil) }

func (s *consoleService) post(path string, form url.Values) page {
	s.t.Helper()
	return s.do("POST", path, form)
}

func (s *consoleService) expect(p page, status int, contains ...string) page {
	s.t.Helper()
	if p.status != status {
		s.t.Fatalf("status %d, want %d; body:\n%s", p.status, status, p.body)
	}
	for _, want := range contains {
		if !strings.Contains(p.body, want) {
			s.t.Fatalf("body lacks %q:\n%s", want, p.body)
		}
	}
	return p
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, p page) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF field in:\n%s", p.body)
	}
	return m[1]
}

// signIn signs in through the development sign-in and returns the
// session's CSRF token.
func (s *consoleService) signIn() string {
	s.t.Helper()
	p := s.expect(s.get("/console/sign-in"), 200, "Sign in as dev_user")
	p = s.post("/console/sign-in/dev", url.Values{"csrf": {csrfOf(s.t, p)}, "next": {"/console/orgs"}})
	if p.status != 303 || p.location != "/console/orgs" {
		s.t.Fatalf("sign-in: %d to %q", p.status, p.location)
	}
	return csrfOf(s.t, s.expect(s.get("/console/orgs"), 200, "org_a"))
}

// api calls the JSON API with a token of sub in orgs.
func (s *consoleService) api(method, path, body, sub string, orgs ...string) (int, map[string]any) {
	s.t.Helper()
	tokens, err := jwtauth.New(jwtauth.Config{Secret: []byte(s.cfg.JWT.Secret)})
	if err != nil {
		s.t.Fatal(err)
	}
	jwt, err := tokens.Mint(sub, orgs, time.Hour, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	req, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+jwt)
	req.Header.Set("Content-Type", "application/json")
	return s.send(req)
}

func (s *consoleService) send(req *http.Request) (int, map[string]any) {
	s.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (s *consoleService) verify(secret string) int {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.base+"/api/v1/auth/verify", nil)
	req.Header.Set("X-API-Key", secret)
	st, _ := s.send(req)
	return st
}

var secretShown = regexp.MustCompile(`<code id="secret">(sk_(?:test|live)_[A-Za-z0-9]+)</code>`)

// create creates a key through the console form and returns its id and
// secret, read from the page that shows it once.
func (s *consoleService) create(csrf, name string, extra url.Values) (id, secret, secretURL string) {
	s.t.Helper()
	form := url.Values{"csrf": {csrf}, "name": {name}, "environment": {"test"}, "scopes": {"events:read"}}
	for k, v := range extra {
		form[k] = v
	}
	p := s.post("/console/orgs/org_a/keys", form)
	m := regexp.MustCompile(`^/console/orgs/org_a/keys/(key_[A-Za-z0-9]+)/secret\?ref=`).FindStringSubmatch(p.location)
	if p.status != 303 || m == nil {
		s.t.Fatalf("create: %d to %q\n%s", p.status, p.location, p.body)
	}
	shown := s.expect(s.get(p.location), 200, "shown this once only")
	sm := secretShown.FindStringSubmatch(shown.body)
	if sm == nil {
		s.t.Fatalf("no secret on:\n%s", shown.body)
	}
	if cc := shown.header.Get("Cache-Control"); cc != "no-store" {
		s.t.Errorf("secret page Cache-Control %q", cc)
	}
	return m[1], sm[1], p.location
}

func TestConsoleSignInAndSessionCookie(t *testing.T) {
	s := startConsole(t)
	p := s.get("/console/orgs")
	if p.status != 303 || p.location != "/console/sign-in?next=%2Fconsole%2Forgs" {
		t.Fatalf("signed out: %d to %q", p.status, p.location)
	}
	signin := s.expect(s.get("/console/sign-in"), 200)
	csp := signin.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if strings.Contains(signin.body, "<script>") || strings.Contains(signin.body, "style=") || strings.Contains(signin.body, " on") && regexp.MustCompile(` on[a-z]+=`).MatchString(signin.body) {
		t.Error("inline script or style on the sign-in page")
	}
	// A sign-in post without the form's token is refused.
	s.expect(s.post("/console/sign-in/dev", url.Values{"csrf": {"forged"}}), 403, "CSRF")
	s.expect(s.post("/console/sign-in/dev", url.Values{}), 403)
	// Sign in: the session cookie is HttpOnly, SameSite=Lax, scoped to
	// the console, not Secure over plain HTTP.
	p = s.post("/console/sign-in/dev", url.Values{"csrf": {csrfOf(t, signin)}, "next": {"//evil.example/x"}})
	if p.status != 303 || p.location != "/console/orgs" {
		t.Fatalf("sign-in: %d to %q (an outside next must not be followed)", p.status, p.location)
	}
	var cookie string
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "apikeys_console=") {
			cookie = c
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/console"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie %q is Secure over plain HTTP", cookie)
	}
	home := s.expect(s.get("/console/orgs"), 200, "dev_user", "/console/orgs/org_a/keys")
	csrf := csrfOf(t, home)
	// Sign out needs the token too, then the session is gone.
	s.expect(s.post("/console/sign-out", url.Values{}), 403)
	s.expect(s.get("/console/orgs"), 200)
	if p := s.post("/console/sign-out", url.Values{"csrf": {csrf}}); p.status != 303 || p.location != "/console/sign-in" {
		t.Fatalf("sign-out: %d to %q", p.status, p.location)
	}
	if p := s.get("/console/orgs"); p.status != 303 {
		t.Fatalf("after sign-out: %d", p.status)
	}
	// Static files are the console's own, served with the same policy.
	css := s.expect(s.get("/console/static/console.css"), 200, "@media")
	if css.header.Get("Content-Security-Policy") == "" || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet headers %v", css.header)
	}
}

func TestConsoleSecureCookie(t *testing.T) {
	s := startConsole(t, func(c *Config) { c.Console.SecureCookie = true })
	signin := s.get("/console/sign-in")
	p := s.post("/console/sign-in/dev", url.Values{"csrf": {csrfOf(t, signin)}})
	found := false
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "apikeys_console=") {
			found = strings.Contains(c, "Secure")
		}
	}
	if !found {
		t.Errorf("console.secure_cookie: cookie not Secure: %v", p.header.Values("Set-Cookie"))
	}
}

func TestConsoleKeyLifecycle(t *testing.T) {
	s := startConsole(t)
	csrf := s.signIn()

	// A form posted without the session's token changes nothing.
	s.expect(s.post("/console/orgs/org_a/keys", url.Values{"name": {"forged"}, "environment": {"test"}, "scopes": {"events:read"}}), 403, "CSRF")
	s.expect(s.post("/console/orgs/org_a/keys", url.Values{"csrf": {"wrong"}, "name": {"forged"}, "environment": {"test"}, "scopes": {"events:read"}}), 403)
	if st, body := s.api("GET", "/api/v1/api-keys?organization_id=org_a", "", "dev_user", "org_a"); st != 200 || body["total"].(float64) != 0 {
		t.Fatalf("a CSRF-less post created a key: %d %v", st, body)
	}

	// Errors come in the API's words.
	s.expect(s.post("/console/orgs/org_a/keys", url.Values{"csrf": {csrf}, "name": {""}, "environment": {"test"}, "scopes": {"events:read"}}), 400, "invalid_name")
	s.expect(s.post("/console/orgs/org_a/keys", url.Values{"csrf": {csrf}, "name": {"x"}, "environment": {"test"}, "scopes": {"events:read"}, "expires_at": {"tomorrow"}}),
		400, "expires_at must be an RFC 3339 timestamp such as 2030-01-15T10:00:00Z", "invalid_expires_at")
	s.expect(s.post("/console/orgs/org_a/keys", url.Values{"csrf": {csrf}, "name": {"x"}, "environment": {"test"}, "scopes": {"events:read"}, "rate_limit": {"5"}}),
		400, "rate_limit.window is required", "invalid_rate_limit")
	s.expect(s.post("/console/orgs/org_a/keys", url.Values{"csrf": {csrf}, "name": {"x"}, "environment": {"test"}, "scopes": {"nope:read"}}), 400, "invalid_scope")

	// Create: the secret is shown once, works over the API, and is gone
	// after a reload.
	id, secret, secretURL := s.create(csrf, "Webhook <server>", url.Values{"metadata": {`{"team":"ops"}`}, "rate_limit": {"100"}, "rate_window": {"1m"}, "ip_allowlist": {"127.0.0.1\n10.0.0.0/8"}})
	if st := s.verify(secret); st != 200 {
		t.Fatalf("verify with the console's secret: %d", st)
	}
	again := s.expect(s.get(secretURL), 410, "shown once")
	if strings.Contains(again.body, secret) {
		t.Fatal("the secret was shown again after a reload")
	}
	// The same audit actor as the API: the key.created event names the
	// signed-in user.
	st, events := s.api("GET", "/api/v1/audit-logs?key_id="+id+"&action=key.created", "", "dev_user", "org_a")
	data, _ := events["data"].([]any)
	if st != 200 || len(data) != 1 || data[0].(map[string]any)["actor"] != "user:dev_user" {
		t.Fatalf("key.created as the API sees it: %d %v", st, events)
	}

	// The detail page shows every field, HTML-escaped, and the use.
	deadline := time.Now().Add(5 * time.Second)
	for {
		p := s.expect(s.get("/console/orgs/org_a/keys/"+id), 200, "Webhook &lt;server&gt;", "100 per 1m", "10.0.0.0/8", "events:read", "team")
		if strings.Contains(p.body, "/api/v1/auth/verify") && strings.Contains(p.body, "key.used") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the use never appeared on the key page:\n%s", p.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.expect(s.get("/console/orgs/org_a/audit?key_id="+id), 200, "key.created", "user:dev_user", "key.used")
	s.expect(s.get("/console/orgs/org_a/audit?action=key.revoked"), 200, "No events match")
	s.expect(s.get("/console/orgs/org_a/audit?since=yesterday"), 400, "since must be an RFC 3339 timestamp", "invalid_since")
	s.expect(s.get("/console/orgs/org_a/audit?action=key.bogus"), 400, "invalid_action")

	// Rotate: a new secret shown once; the old one is refused.
	p := s.post("/console/orgs/org_a/keys/"+id+"/rotate", url.Values{"csrf": {csrf}})
	if p.status != 303 || !strings.Contains(p.location, "/secret?ref=") {
		t.Fatalf("rotate: %d to %q", p.status, p.location)
	}
	m := secretShown.FindStringSubmatch(s.expect(s.get(p.location), 200).body)
	if m == nil || m[1] == secret {
		t.Fatal("rotation showed no new secret")
	}
	if s.verify(secret) != 401 || s.verify(m[1]) != 200 {
		t.Fatal("after rotation the old secret must fail and the new one pass")
	}
	s.expect(s.post("/console/orgs/org_a/keys/"+id+"/rotate", url.Values{}), 403)
	// With a grace period the replaced secret keeps working beside the new one.
	s.expect(s.post("/console/orgs/org_a/keys/"+id+"/rotate", url.Values{"csrf": {csrf}, "grace_period": {"999h"}}), 400, "invalid_grace_period")
	s.expect(s.post("/console/orgs/org_a/keys/"+id+"/rotate", url.Values{"csrf": {csrf}, "grace_period": {"soon"}}), 400, "invalid_grace_period")
	p = s.post("/console/orgs/org_a/keys/"+id+"/rotate", url.Values{"csrf": {csrf}, "grace_period": {"1h"}})
	graced := secretShown.FindStringSubmatch(s.expect(s.get(p.location), 200).body)
	if graced == nil || s.verify(m[1]) != 200 || s.verify(graced[1]) != 200 {
		t.Fatal("after a rotation with a grace period both secrets must pass")
	}

	// Revoke: confirmed by typing the name; a wrong name changes nothing.
	s.expect(s.get("/console/orgs/org_a/keys/"+id+"/revoke"), 200, "Type the key")
	s.expect(s.post("/console/orgs/org_a/keys/"+id+"/revoke", url.Values{"csrf": {csrf}, "confirm": {"Webhook"}}), 400, "type the key&#39;s name exactly")
	if s.verify(m[1]) != 200 {
		t.Fatal("a revocation with the wrong name revoked the key")
	}
	s.expect(s.post("/console/orgs/org_a/keys/"+id+"/revoke", url.Values{"confirm": {"Webhook <server>"}}), 403)
	if p := s.post("/console/orgs/org_a/keys/"+id+"/revoke", url.Values{"csrf": {csrf}, "confirm": {"Webhook <server>"}}); p.status != 303 {
		t.Fatalf("revoke: %d\n%s", p.status, p.body)
	}
	if s.verify(m[1]) != 401 {
		t.Fatal("the revoked key still verifies")
	}
	s.expect(s.get("/console/orgs/org_a/keys/"+id), 200, `status revoked`)
	s.expect(s.post("/console/orgs/org_a/keys/"+id+"/rotate", url.Values{"csrf": {csrf}}), 409, "the API key is revoked", "key_revoked")

	// Filters and paging.
	s.expect(s.get("/console/orgs/org_a/keys"), 200, "No keys match")
	s.expect(s.get("/console/orgs/org_a/keys?status=revoked"), 200, "Webhook &lt;server&gt;")
	s.expect(s.get("/console/orgs/org_a/keys?status=bogus"), 400, "invalid_request")
	s.expect(s.get("/console/orgs/org_a/keys?cursor=%25%25"), 400, "cursor is not one this API returned")
	s.create(csrf, "live one", url.Values{"environment": {"live"}})
	for i := range 26 {
		if st, body := s.api("POST", "/api/v1/api-keys", fmt.Sprintf(`{"name":"bulk %02d","organization_id":"org_a","scopes":["events:read"]}`, i), "dev_user", "org_a"); st != 201 {
			t.Fatalf("create over the API: %d %v", st, body)
		}
	}
	live := s.expect(s.get("/console/orgs/org_a/keys?environment=live"), 200, "live one")
	if strings.Contains(live.body, "bulk") || strings.Contains(live.body, "Next page") {
		t.Fatalf("environment filter:\n%s", live.body)
	}
	first := s.expect(s.get("/console/orgs/org_a/keys"), 200, "bulk 25", "Next page")
	if n := strings.Count(first.body, "<tr>") - 1; n != 25 {
		t.Fatalf("first page shows %d keys, want 25", n)
	}
	next := regexp.MustCompile(`href="(\?status=[^"]*cursor=[^"]+)"`).FindStringSubmatch(first.body)
	if next == nil {
		t.Fatal("no next-page link")
	}
	second := s.expect(s.get("/console/orgs/org_a/keys"+strings.ReplaceAll(next[1], "&amp;", "&")), 200, "bulk 00", "live one")
	if n := strings.Count(second.body, "<tr>") - 1; n != 2 || strings.Contains(second.body, "Next page") || strings.Contains(second.body, "Webhook") {
		t.Fatalf("second page:\n%s", second.body)
	}
}

// A user of one organization cannot see or act on another's keys by
// editing URLs or forms: the use cases refuse, in the API's words.
func TestConsoleCrossOrganization(t *testing.T) {
	s := startConsole(t)
	csrf := s.signIn()
	st, other := s.api("POST", "/api/v1/api-keys", `{"name":"theirs","organization_id":"org_b","scopes":["events:read"]}`, "someone", "org_b")
	if st != 201 {
		t.Fatalf("create in org_b: %d %v", st, other)
	}
	theirs, theirSecret := other["id"].(string), other["key"].(string)
	mine, _, _ := s.create(csrf, "mine", nil)

	for _, path := range []string{"/console/orgs/org_b/keys", "/console/orgs/org_b/keys/new", "/console/orgs/org_b/audit"} {
		s.expect(s.get(path), 403, "forbidden_organization")
	}
	for _, path := range []string{
		"/console/orgs/org_a/keys/" + theirs, "/console/orgs/org_b/keys/" + theirs,
		"/console/orgs/org_a/keys/" + theirs + "/revoke", "/console/orgs/org_b/keys/" + mine,
	} {
		p := s.expect(s.get(path), 404, "no such API key")
		if strings.Contains(p.body, "theirs") {
			t.Fatalf("%s shows the other organization's key", path)
		}
	}
	s.expect(s.post("/console/orgs/org_b/keys", url.Values{"csrf": {csrf}, "name": {"x"}, "environment": {"test"}, "scopes": {"events:read"}}), 403, "forbidden_organization")
	s.expect(s.post("/console/orgs/org_a/keys/"+theirs+"/revoke", url.Values{"csrf": {csrf}, "confirm": {"theirs"}}), 404, "no such API key")
	s.expect(s.post("/console/orgs/org_b/keys/"+theirs+"/revoke", url.Values{"csrf": {csrf}, "confirm": {"theirs"}}), 404)
	s.expect(s.post("/console/orgs/org_a/keys/"+theirs+"/rotate", url.Values{"csrf": {csrf}}), 404)
	if s.verify(theirSecret) != 200 {
		t.Fatal("the other organization's key was changed")
	}
	p := s.expect(s.get("/console/orgs/org_a/audit?key_id="+theirs), 200, "No events match")
	if strings.Contains(p.body, "theirs") {
		t.Fatal("the audit log shows the other organization's events")
	}
}

func TestConsoleSessionExpiry(t *testing.T) {
	s := startConsole(t, func(c *Config) { c.Console.IdleTimeout = 300 * time.Millisecond })
	s.signIn()
	time.Sleep(400 * time.Millisecond)
	p := s.get("/console/orgs/org_a/keys?status=all")
	if p.status != 303 || p.location != "/console/sign-in?next="+url.QueryEscape("/console/orgs/org_a/keys?status=all") {
		t.Fatalf("expired session: %d to %q", p.status, p.location)
	}
	// Signing in again brings the user back to the page asked for.
	signin := s.get(p.location)
	p = s.post("/console/sign-in/dev", url.Values{"csrf": {csrfOf(t, signin)}, "next": {"/console/orgs/org_a/keys?status=all"}})
	if p.status != 303 || p.location != "/console/orgs/org_a/keys?status=all" {
		t.Fatalf("sign-in again: %d to %q", p.status, p.location)
	}
}

func TestConsoleOffWhenDisabled(t *testing.T) {
	s := startConsole(t, func(c *Config) { c.Console.Enabled = "false" })
	p := s.get("/console/sign-in")
	if p.status != 404 || !strings.Contains(p.body, "not_found") {
		t.Fatalf("console.enabled false: %d %s", p.status, p.body)
	}
}

func TestConsoleSettings(t *testing.T) {
	cfg := Defaults()
	if !cfg.ConsoleOn() {
		t.Error("the console is off by default in development")
	}
	cfg.Env = "production"
	if cfg.ConsoleOn() {
		t.Error("the console is on by default in production")
	}
	cfg.Console.Enabled = "true"
	if !cfg.ConsoleOn() {
		t.Error("console.enabled true does not turn it on in production")
	}
	for _, tc := range []struct {
		set  func(*ConsoleConfig)
		want string
	}{
		{func(c *ConsoleConfig) { c.Enabled = "yes" }, "console.enabled"},
		{func(c *ConsoleConfig) { c.IdleTimeout = 0 }, "console.idle_timeout"},
		{func(c *ConsoleConfig) { c.IdleTimeout = 2 * c.AbsoluteTimeout }, "console.idle_timeout: must not exceed"},
		{func(c *ConsoleConfig) { c.AbsoluteTimeout = -time.Second }, "console.absolute_timeout"},
		{func(c *ConsoleConfig) { c.MaxSessions = 0 }, "console.max_sessions"},
		{func(c *ConsoleConfig) { c.DevSubject = "" }, "console.dev_subject"},
		{func(c *ConsoleConfig) { c.DevOrganizations = []string{"ok", "bad org"} }, "console.dev_organizations[1]"},
	} {
		cfg := Defaults()
		tc.set(&cfg.Console)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want a problem naming %s, got %v", tc.want, err)
		}
	}
	cfg, err := Load("", []string{"APIKEYS_CONSOLE_ENABLED=false", "APIKEYS_CONSOLE_DEV_ORGANIZATIONS=org_x,org_y"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConsoleOn() || len(cfg.Console.DevOrganizations) != 2 {
		t.Errorf("environment overrides: %+v", cfg.Console)
	}
}

// In gateway mode the console's paths are apikeys' own, never proxied.
func TestConsoleIsNotProxiedInGatewayMode(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the upstream got %s", r.URL.Path)
	}))
	defer upstream.Close()
	// Every path is public: whatever the gateway does not answer itself
	// reaches the upstream.
	policy, err := routes.New([]routes.Rule{{Path: "/**", Public: true}}, routes.DefaultDeny)
	if err != nil {
		t.Fatal(err)
	}
	s := startConsole(t, func(c *Config) { c.Gateway.Upstream, c.Routes = upstream.URL, policy })
	s.expect(s.get("/console/sign-in"), 200, "Sign in as dev_user")
	s.expect(s.get("/console/no-such-page"), 404, "no such page")
}
