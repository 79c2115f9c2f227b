package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentauri/apikeys/core/routes"
)

func TestLoadRoutes(t *testing.T) {
	const section = "routes:\n  rules:\n    - {methods: [GET], path: /a/**, scopes: [triggers:read]}\n"
	withSection := writeFile(t, "http:\n  addr: 127.0.0.1:0\n"+section)
	without := writeFile(t, "http:\n  addr: 127.0.0.1:0\n")
	routesFile := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(routesFile, []byte("# policy\n\n"+section), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte("routes:\n  rules:\n    - {path: /a, scopes: [nope]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name, config, file string
		line               int // of the rule matching GET /a; 0: no policy
		err                string
	}{
		{"section in the config file", withSection, "", 5, ""},
		{"routes file", without, routesFile, 5, ""},
		{"routes file, no config file", "", routesFile, 5, ""},
		{"neither", without, "", 0, ""},
		{"no config file at all", "", "", 0, ""},
		{"both", withSection, routesFile, 0, "both routes and routes_file are set"},
		{"routes file missing", without, routesFile + ".missing", 0, "no such file"},
		{"routes file without a section", without, without, 0, "no routes section"},
		{"mistake in the routes file", without, broken, 0, broken + `: line 3: scopes[0]: unknown scope "nope"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := loadRoutes(c.config, c.file)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("loadRoutes: %v, want an error containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.line == 0 {
				if p != nil {
					t.Fatalf("a policy of %d rules from nowhere", p.Len())
				}
				return
			}
			if d := p.Match("GET", "/a"); d.Kind != routes.Matched || d.Line != c.line {
				t.Fatalf("GET /a: %+v, want the rule at line %d", d, c.line)
			}
		})
	}
}
