package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/agentauri/apikeys/adapters/console"
	"github.com/agentauri/apikeys/api"
)

// specOperations returns "METHOD /path" for every operation of the OpenAPI
// document, path parameters written {name}.
func specOperations(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.YAML(), &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// TestEveryRouteIsDocumented builds the service as `apikeys serve` does,
// with every optional route on (/metrics), and compares its gin routes
// with the operations of api/openapi.yaml: a route the document lacks, or
// an operation no route serves, fails.
func TestEveryRouteIsDocumented(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "configs", "default.yaml"), []string{
		"APIKEYS_DATA_DIR=" + t.TempDir(), "APIKEYS_HTTP_ADDR=127.0.0.1:0",
		"APIKEYS_TELEMETRY_ENABLED=true", "APIKEYS_TELEMETRY_PROMETHEUS=true",
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := build(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.closers.close(context.Background()) })
	var served []string
	for _, r := range s.api.Engine().Routes() {
		if r.Path == console.Prefix || strings.HasPrefix(r.Path, console.Prefix+"/") {
			continue // the web console's HTML pages are no API (docs/console.md)
		}
		served = append(served, r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(served)
	documented := specOperations(t)
	for _, r := range served {
		if path, ok := strings.CutPrefix(r, "CONNECT "); ok && everyMethod(documented, path) {
			continue // OpenAPI 3.1 has no CONNECT: a route of any method is documented by its eight others
		}
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is served but api/openapi.yaml does not document it", r)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("api/openapi.yaml documents %s, which no route serves", op)
		}
	}
	if len(served) < 10 {
		t.Fatalf("only %d routes: %v", len(served), served)
	}
}

// everyMethod reports whether every method OpenAPI 3.1 can describe is
// documented for path.
func everyMethod(documented []string, path string) bool {
	for _, m := range []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"} {
		if !slices.Contains(documented, m+" "+path) {
			return false
		}
	}
	return true
}
