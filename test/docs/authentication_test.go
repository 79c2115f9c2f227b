package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentauri/apikeys/app"
)

// productionPepper is a pepper production accepts (of the kind
// `openssl rand -base64 48` makes).
const (
	productionPepper   = "pY4mN8vB2xL6qR0wK9tH3jD7sF1gZ5cA+eW/oU2iP8rT6yX"
	productionChainKey = "cK7rT2wQ9mZ4xN6bV1pL8sD3fG5hJ0yU+aE/iO2uW7qR4e"
)

// TestAuthenticationExamplesLoad loads every configuration example of
// docs/authentication.md (each YAML block with an auth section) as the
// service would, so an example with a misspelt or invalid setting fails.
func TestAuthenticationExamplesLoad(t *testing.T) {
	b, err := os.ReadFile("../../docs/authentication.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	n := 0
	for i, m := range blocks {
		if !strings.HasPrefix(m[1], "auth:") {
			continue
		}
		n++
		p := filepath.Join(t.TempDir(), "auth.yaml")
		if err := os.WriteFile(p, []byte(m[1]), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, env := range [][]string{nil, {"APIKEYS_ENV=production", "APIKEYS_SECURITY_PEPPER=" + productionPepper, "APIKEYS_AUDIT_CHAIN_KEY=" + productionChainKey}} {
			cfg, err := app.Load(p, env)
			if err != nil {
				t.Errorf("example %d (%v):\n%s\n%v", i, env, m[1], err)
				continue
			}
			if len(cfg.Auth.Issuers) != 1 {
				t.Errorf("example %d: %d issuers", i, len(cfg.Auth.Issuers))
			}
		}
	}
	if n < 7 {
		t.Fatalf("found %d configuration examples, want the 7 of Keycloak, Auth0, Zitadel (2), Okta, Entra ID and Google", n)
	}
}
