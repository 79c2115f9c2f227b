package e2e

import (
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
	"testing"
	"time"
)

// The addresses the shipped proxy configurations are written with; the
// tests replace them, and only them, with free ports.
const (
	docProxyAddr   = "127.0.0.1:8000"
	docApikeysAddr = "127.0.0.1:8080"
	docAPIAddr     = "127.0.0.1:9000"
)

// proxyConfig returns the shipped configuration name (configs/gateways)
// with its three addresses replaced; each must be in it.
func proxyConfig(t *testing.T, name, proxy, apikeys, api string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "gateways", name))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	for _, a := range []string{docProxyAddr, docApikeysAddr, docAPIAddr} {
		if !strings.Contains(src, a) {
			t.Fatalf("%s does not name %s", name, a)
		}
	}
	return strings.NewReplacer(docProxyAddr, proxy, docApikeysAddr, apikeys, docAPIAddr, api).Replace(src)
}

// runProxy starts a proxy process and waits until addr accepts
// connections; its output is logged if the test fails.
func runProxy(t *testing.T, addr string, name string, args ...string) {
	t.Helper()
	var out strings.Builder
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited: %s", name, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s: %s", name, addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNginx runs nginx with configs/gateways/nginx.conf, in the
// foreground, as the current user, with its files in a temporary
// directory.
func startNginx(t *testing.T, apikeys, api string) string {
	t.Helper()
	bin := requireTool(t, "nginx", func() (string, error) {
		if p, err := exec.LookPath("nginx"); err == nil {
			return p, nil
		}
		return exec.LookPath("/usr/sbin/nginx")
	})
	dir := t.TempDir()
	addr := freePort(t)
	site := filepath.Join(dir, "apikeys.conf")
	if err := os.WriteFile(site, []byte(proxyConfig(t, "nginx.conf", addr, apikeys, api)), 0o600); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[2]s;
}
`, dir, site)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	runProxy(t, addr, bin, "-e", "stderr", "-p", dir, "-c", conf)
	return "http://" + addr
}

// startCaddy runs caddy with configs/gateways/Caddyfile, its admin API
// off and its state in a temporary directory.
func startCaddy(t *testing.T, apikeys, api string) string {
	t.Helper()
	bin := requireTool(t, "caddy", func() (string, error) { return exec.LookPath("caddy") })
	dir := t.TempDir()
	addr := freePort(t)
	src := "{\n\tadmin off\n\tstorage file_system " + dir + "\n}\n\n" + proxyConfig(t, "Caddyfile", addr, apikeys, api)
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	runProxy(t, addr, bin, "run", "--adapter", "caddyfile", "--config", conf)
	return "http://" + addr
}

// fromClient sends a request from 127.0.0.2, an address apikeys does not
// trust, so that the audit trail can show the proxies carried it.
func fromClient(t *testing.T, method, url, body string, headers ...string) response {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestProxiesRunTheShippedConfigs: nginx and Caddy, started with the
// configurations of configs/gateways (what docs/gateways.md shows), in
// front of a test API, with apikeys trusting them: a valid key passes
// with the identity and without the key; a bad key is 401, a missing
// scope 403, no route 403; forged identity headers never pass; a POST
// body passes; the audit trail shows the client's address and the
// original method and path. On every database.
func TestProxiesRunTheShippedConfigs(t *testing.T) {
	for _, p := range []struct {
		name  string
		start func(t *testing.T, apikeys, api string) string
	}{{"nginx", startNginx}, {"caddy", startCaddy}} {
		t.Run(p.name, func(t *testing.T) {
			forEachDatabase(t, func(t *testing.T, e env) {
				api := newTestAPI(t)
				s := start(t, e, "APIKEYS_ROUTES_FILE="+routesWithPublic(t), "APIKEYS_HTTP_TRUSTED_PROXIES=127.0.0.1")
				base := p.start(t, strings.TrimPrefix(s.base, "http://"), strings.TrimPrefix(api.srv.URL, "http://"))
				tok := s.token("user_1", "org_123")
				reader, other, revoked := edgeKeys(t, s, tok)
				_, writer := createKey(t, s, tok, `{"name":"writer","organization_id":"org_123","scopes":["triggers:write"]}`)
				checkProxy(t, s, api, base, tok, reader, other, revoked, writer)
				checkProxyLimits(t, s, base, tok, p.name)
			})
		})
	}
}

func checkProxy(t *testing.T, s *server, api *testAPI, base, tok, reader, other, revoked, writer string) {
	t.Helper()
	r := fromClient(t, "GET", base+"/api/v1/triggers?page=1", "", "X-API-Key", reader, "X-Request-ID", "px-ok",
		"X-Key-Id", "key_forged", "X-Scopes", "api-keys:manage")
	if r.status != 200 || !sameJSON(t, string(r.body), triggersJSON) {
		t.Fatalf("valid key: %d %s", r.status, r.body)
	}
	up := api.last(t)
	if up.uri != "/api/v1/triggers?page=1" || up.header.Get("X-Api-Key") != "" || up.header.Get("X-Organization-Id") != "org_123" ||
		!strings.HasPrefix(up.header.Get("X-Key-Id"), "key_") || up.header.Get("X-Scopes") != "triggers:read,events:read" ||
		up.header.Get("X-Key-Environment") != "test" {
		t.Fatalf("the API received %s %v", up.uri, up.header)
	}
	// A public route passes without a key, and without the identity a
	// client claims.
	r = fromClient(t, "GET", base+"/api/v1/status", "", "X-Key-Id", "key_forged", "X-Organization-Id", "org_forged",
		"X-Scopes", "api-keys:manage", "X-Key-Environment", "live")
	if up := api.last(t); r.status != 404 || up.uri != "/api/v1/status" || up.header.Get("X-Key-Id") != "" ||
		up.header.Get("X-Organization-Id") != "" || up.header.Get("X-Scopes") != "" || up.header.Get("X-Key-Environment") != "" {
		t.Fatalf("public route: %d, the API received %s %v", r.status, up.uri, up.header)
	}
	before := api.count()
	for _, c := range []struct {
		method, path, key string
		status            int
		code              string
	}{
		{"GET", "/api/v1/triggers", "", 401, "invalid_api_key"},
		{"GET", "/api/v1/triggers", otherLast(reader), 401, "invalid_api_key"},
		{"GET", "/api/v1/triggers", revoked, 401, "invalid_api_key"},
		{"GET", "/api/v1/triggers", other, 403, "insufficient_scope"},
		{"DELETE", "/api/v1/triggers/trg_1", reader, 403, "insufficient_scope"},
		{"GET", "/api/v1/billing", reader, 403, "no_route_policy"},
	} {
		r := fromClient(t, c.method, base+c.path, "", "X-API-Key", c.key)
		code, _, _ := errorCode(r.body)
		if r.status != c.status || code != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, r.status, r.body, c.status, c.code)
		}
		if c.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "ApiKey") {
			t.Errorf("%s %s: 401 with WWW-Authenticate %q", c.method, c.path, r.header.Get("WWW-Authenticate"))
		}
	}
	if api.count() != before {
		t.Fatal("refused requests reached the API")
	}
	r = fromClient(t, "POST", base+"/api/v1/triggers", `{"name":"t"}`, "X-API-Key", writer, "Content-Type", "application/json", "X-Request-ID", "px-post")
	if r.status != 201 || string(r.body) != `{"name":"t"}` || api.last(t).body != `{"name":"t"}` || api.last(t).header.Get("X-Api-Key") != "" {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	eventually(t, 5*time.Second, "the uses through the proxy in the audit trail", func() bool {
		found := 0
		for _, ev := range s.auditLog("/api/v1/audit-logs?action=key.used", bearer(tok)...) {
			switch ev["client_request_id"] {
			case "px-ok":
				wantFields(t, "GET", ev, map[string]any{"method": "GET", "path": "/api/v1/triggers", "client_ip": "127.0.0.2", "status": float64(200)})
				found++
			case "px-post":
				wantFields(t, "POST", ev, map[string]any{"method": "POST", "path": "/api/v1/triggers", "client_ip": "127.0.0.2", "status": float64(200)})
				found++
			}
		}
		return found == 2
	})
}

// routesWithPublic is the example policy plus a public route,
// GET /api/v1/status.
func routesWithPublic(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(exampleRoutes)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "routes.yaml")
	body := string(b) + "\n    - methods: [GET]\n      path: /api/v1/status\n      public: true\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// errorCode decodes the code of an error envelope, "" if it is none.
func errorCode(body []byte) (code, field, message string) {
	var e struct {
		Error struct{ Code, Field, Message string } `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", "", ""
	}
	return e.Error.Code, e.Error.Field, e.Error.Message
}

// checkProxyLimits: a spent budget reaches the client as 429 with
// Retry-After through the proxy (nginx would make it a 500 without
// compat=nginx and the error pages); with apikeys down, nginx answers
// 503 in the envelope.
func checkProxyLimits(t *testing.T, s *server, base, tok, proxy string) {
	t.Helper()
	_, limited := createKey(t, s, tok, `{"name":"limited","organization_id":"org_123","scopes":["triggers:read"],"rate_limit":{"limit":1,"window":"1h"}}`)
	if r := fromClient(t, "GET", base+"/api/v1/triggers", "", "X-API-Key", limited); r.status != 200 {
		t.Fatalf("first use of a limited key: %d %s", r.status, r.body)
	}
	r := fromClient(t, "GET", base+"/api/v1/triggers", "", "X-API-Key", limited)
	if code, _, _ := errorCode(r.body); r.status != 429 || code != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("spent budget: %d %v %s", r.status, r.header, r.body)
	}
	if r := fromClient(t, "GET", base+"/api/v1/triggers/%2e%2e/x", "", "X-API-Key", limited); r.status != 400 {
		t.Fatalf("dot segments: %d %s", r.status, r.body)
	}
	if proxy != "nginx" {
		return
	}
	s.stop()
	r = fromClient(t, "GET", base+"/api/v1/triggers", "", "X-API-Key", limited)
	if code, _, _ := errorCode(r.body); r.status != 503 || code != "service_unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("apikeys down: %d %v %s", r.status, r.header, r.body)
	}
}
