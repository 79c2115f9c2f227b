package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/agentauri/apikeys/adapters/httpapi"
)

func referenceServer(t *testing.T) http.Handler {
	t.Helper()
	page := fstest.MapFS{
		"index.html":          {Data: []byte("<html>page</html>")},
		"init.js":             {Data: []byte("init")},
		"redoc.standalone.js": {Data: []byte("redoc")},
		"secret.txt":          {Data: []byte("not served")},
	}
	s, err := httpapi.New(httpapi.Options{Keys: &fakeKeys{}, Tokens: fakeTokens{},
		Reference: &httpapi.Reference{YAML: []byte("openapi: 3.1.0\n"), JSON: []byte(`{"openapi":"3.1.0"}`), Page: page}})
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

func get(h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestReferenceDocuments(t *testing.T) {
	h := referenceServer(t)
	for path, want := range map[string]string{
		"/api/v1/openapi.json":      "application/json",
		"/api/v1/openapi.yaml":      "application/yaml",
		"/docs":                     "text/html",
		"/docs/init.js":             "text/javascript",
		"/docs/redoc.standalone.js": "text/javascript",
	} {
		rec := get(h, path)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), want) {
			t.Errorf("%s: %d %q, want 200 %s", path, rec.Code, rec.Header().Get("Content-Type"), want)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: headers %v", path, rec.Header())
		}
		etag := rec.Header().Get("ETag")
		if again := get(h, path, "If-None-Match", etag); etag == "" || again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("%s with its ETag %q: %d, want 304 without a body", path, etag, again.Code)
		}
	}
	if rec := get(h, "/docs/secret.txt"); rec.Code != http.StatusNotFound {
		t.Errorf("a file of the page that is not an asset: %d, want 404", rec.Code)
	}
}

func TestReferencePageCSP(t *testing.T) {
	rec := get(referenceServer(t), "/docs")
	csp := rec.Header().Get("Content-Security-Policy")
	for _, directive := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, directive) {
			t.Errorf("CSP %q lacks %q", csp, directive)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
		t.Errorf("CSP %q lets scripts other than the service's run", csp)
	}
	if rec.Header().Get("X-Frame-Options") != "DENY" || rec.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", rec.Header())
	}
}

func TestReferenceIsOptionalButComplete(t *testing.T) {
	if rec := get(referenceServer(t), "/docs"); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	s, err := httpapi.New(httpapi.Options{Keys: &fakeKeys{}, Tokens: fakeTokens{}})
	if err != nil {
		t.Fatal(err)
	}
	if rec := get(s.Handler(), "/docs"); rec.Code != http.StatusNotFound {
		t.Errorf("without a Reference /docs answers %d", rec.Code)
	}
	if _, err := httpapi.New(httpapi.Options{Keys: &fakeKeys{}, Tokens: fakeTokens{}, Reference: &httpapi.Reference{YAML: []byte("x")}}); err == nil {
		t.Error("a Reference without JSON and page was accepted")
	}
}
