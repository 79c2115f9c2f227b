package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/api"
)

// TestPublishedDocument checks that the running service serves the
// document it was built with, in both forms, and its rendered reference
// under a strict Content-Security-Policy.
func TestPublishedDocument(t *testing.T) {
	s := start(t, env{driver: "sqlite"})
	yamlDoc := s.do("GET", "/api/v1/openapi.yaml", "")
	want(t, yamlDoc, 200)
	if !bytes.Equal(yamlDoc.body, api.YAML()) {
		t.Error("GET /api/v1/openapi.yaml is not api/openapi.yaml")
	}
	jsonDoc := s.do("GET", "/api/v1/openapi.json", "")
	want(t, jsonDoc, 200)
	wantJSON, err := api.JSON()
	if err != nil || !bytes.Equal(jsonDoc.body, wantJSON) {
		t.Errorf("GET /api/v1/openapi.json is not the document as JSON (%v)", err)
	}
	if r := s.do("GET", "/api/v1/openapi.json", "", "If-None-Match", jsonDoc.header.Get("ETag")); r.status != 304 {
		t.Errorf("with its ETag: %d, want 304", r.status)
	}
	page := s.do("GET", "/docs", "")
	want(t, page, 200)
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	for _, asset := range []string{"/docs/init.js", "/docs/redoc.standalone.js"} {
		r := s.do("GET", asset, "")
		want(t, r, 200)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") {
			t.Errorf("%s: Content-Type %q", asset, r.header.Get("Content-Type"))
		}
	}
}

// TestReferencePageRenders loads /docs in headless Chromium, under the
// page's own Content-Security-Policy, and checks that the reference
// rendered the document: an operation's title and its documented example.
// Without Chromium the test is skipped, except in CI (CI set).
func TestReferencePageRenders(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no Chromium to load /docs in (apt-get install chromium)")
		}
		t.Skip("no Chromium to load /docs in (required when CI is set)")
	}
	s := start(t, env{driver: "sqlite"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=15000", "--dump-dom", s.base+"/docs#/keys/createKey")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, stderr.Bytes())
	}
	for _, text := range []string{"Create a key", "Production Webhook Server", "sk_test_vTxRZmSaThr4MtXLB7ri5dTyDK07uZNX"} {
		if !bytes.Contains(dom, []byte(text)) {
			t.Errorf("the rendered page lacks %q (did the CSP block the script, or the document fail to load?)", text)
		}
	}
	if t.Failed() {
		t.Logf("page as rendered:\n%.4000s", dom)
	}
}
