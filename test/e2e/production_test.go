package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// Secrets of the kind `openssl rand -base64 48` makes, which production
// accepts.
const (
	prodJWTSecret = "tJ8wq2Lr5Nx9Kb3Vz7Pm1Hd6Fs4Gc0Ye+aQ/uI3oP7eW2rT"
	prodPepper    = "pY4mN8vB2xL6qR0wK9tH3jD7sF1gZ5cA+eW/oU2iP8rT6yX"
	prodChainKey  = "cK7rT2wQ9mZ4xN6bV1pL8sD3fG5hJ0yU+aE/iO2uW7qR4e"
)

// TestProductionRefusesKnowableSecrets starts the real binary in
// production with the JWT secret docker-compose.yml used to ship (with
// which anyone could mint a token managing every organization's keys),
// and with other secrets anyone could guess: it must refuse to start,
// naming the setting and how to make a good value, and start with good
// secrets.
func TestProductionRefusesKnowableSecrets(t *testing.T) {
	prod := func(extra ...string) []string {
		return serverEnv(env{driver: "sqlite"}, t.TempDir(), append([]string{
			"APIKEYS_ENV=production", "APIKEYS_HTTP_ADDR=" + freePort(t),
			"APIKEYS_JWT_SECRET=" + prodJWTSecret, "APIKEYS_SECURITY_PEPPER=" + prodPepper, "APIKEYS_AUDIT_CHAIN_KEY=" + prodChainKey,
			"APIKEYS_JWT_ISSUER=apikeys", "APIKEYS_JWT_AUDIENCE=apikeys",
		}, extra...)...)
	}
	for _, c := range []struct {
		name    string
		env     []string
		setting string
		hint    string
	}{
		{"compose placeholder", []string{"APIKEYS_JWT_SECRET=placeholder-jwt-secret-change-me-0123456789"}, "jwt.secret", "openssl rand -base64 48"},
		{"32 a", []string{"APIKEYS_JWT_SECRET=" + strings.Repeat("a", 32)}, "jwt.secret", "openssl rand -base64 48"},
		{"secret equals pepper", []string{"APIKEYS_SECURITY_PEPPER=" + prodJWTSecret}, "security.pepper", "openssl rand -base64 48"},
		{"chain key equals pepper", []string{"APIKEYS_AUDIT_CHAIN_KEY=" + prodPepper}, "audit.chain_key", "openssl rand -base64 48"},
		{"pprof on every interface", []string{"APIKEYS_DEBUG_ADDR=0.0.0.0:0"}, "debug.addr", "debug.allow_public_addr"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := runCLI(t, prod(c.env...), "serve")
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("serve did not fail (%v):\n%s", err, out)
			}
			if !strings.Contains(out, c.setting+":") || !strings.Contains(out, c.hint) {
				t.Errorf("the refusal does not name %s and %q:\n%s", c.setting, c.hint, out)
			}
			if strings.Contains(out, "listening") {
				t.Errorf("the server listened before refusing:\n%s", out)
			}
		})
	}

	// The same production set-up with good secrets serves.
	s := startIn(t, env{driver: "sqlite"}, t.TempDir(), "APIKEYS_ENV=production",
		"APIKEYS_JWT_SECRET="+prodJWTSecret, "APIKEYS_SECURITY_PEPPER="+prodPepper, "APIKEYS_AUDIT_CHAIN_KEY="+prodChainKey,
		"APIKEYS_JWT_ISSUER=apikeys", "APIKEYS_JWT_AUDIENCE=apikeys")
	want(t, s.do("GET", "/healthz", ""), 200)
}
