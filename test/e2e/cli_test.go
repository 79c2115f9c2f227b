package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// run runs an apikeys command with the server's environment (its http.addr
// and secrets) plus extra variables, and returns its stdout, its stderr
// and whether it succeeded.
func (s *server) run(extraEnv []string, args ...string) (stdout, stderr string, err error) {
	s.t.Helper()
	cmd := exec.Command(binary, append(args, "--config", filepath.Join("..", "..", "configs", "default.yaml"))...)
	cmd.Env = append(append([]string{}, s.env...), extraEnv...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

var secretInOutput = regexp.MustCompile(`sk_test_[0-9A-Za-z]{32}`)

// TestOperatorCLI runs `apikeys keys …` and `apikeys audit logs` against
// the real server on every database: tables by default, JSON with
// --output json, the secret printed once with a warning, a token from
// --token, APIKEYS_TOKEN or minted from the local configuration.
func TestOperatorCLI(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		out, warn, err := s.run(nil, "keys", "create", "--org", "org_123", "--name", "Production Webhook Server",
			"--scope", "triggers:read,events:read", "--rate-limit", "100/1m", "--expires-in", "720h")
		if err != nil {
			t.Fatalf("keys create: %v\n%s%s", err, out, warn)
		}
		secret := secretInOutput.FindString(out)
		idm := regexp.MustCompile(`(?m)^id:\s+(key_[0-9A-Za-z]+)$`).FindStringSubmatch(out)
		if secret == "" || idm == nil || !strings.Contains(out, "triggers:read,events:read") || !strings.Contains(out, "100/1m") {
			t.Fatalf("keys create printed:\n%s", out)
		}
		id := idm[1]
		if !strings.Contains(warn, "only time the key is shown") || strings.Contains(warn, secret) {
			t.Errorf("the warning (stderr) %q", warn)
		}

		// --output json, and a token from APIKEYS_TOKEN.
		tok := s.token("user_1", "org_123")
		out, warn, err = s.run([]string{"APIKEYS_TOKEN=" + tok}, "keys", "create", "--name", "second", "--scope", "events:read", "-o", "json")
		var created map[string]any
		if err != nil || json.Unmarshal([]byte(out), &created) != nil || created["key"] == nil || created["organization_id"] != "org_123" {
			t.Fatalf("keys create -o json: %v\n%s%s", err, out, warn)
		}

		out, _, err = s.run(nil, "keys", "list", "--org", "org_123", "--token", tok)
		if err != nil || !strings.HasPrefix(out, "ID ") || !strings.Contains(out, id) || !strings.Contains(out, "second") || secretInOutput.MatchString(out) {
			t.Fatalf("keys list: %v\n%s", err, out)
		}
		out, _, err = s.run(nil, "keys", "list", "--org", "org_123", "-o", "json")
		var page struct {
			Data  []map[string]any `json:"data"`
			Total int              `json:"total"`
		}
		if err != nil || json.Unmarshal([]byte(out), &page) != nil || page.Total != 2 || len(page.Data) != 2 {
			t.Fatalf("keys list -o json: %v\n%s", err, out)
		}
		out, warn, err = s.run(nil, "keys", "list", "--org", "org_123", "--limit", "1", "--all")
		if err != nil || strings.Count(out, "key_") != 2 || warn != "" {
			t.Errorf("keys list --all over pages of one: %v\n%s%s", err, out, warn)
		}

		out, _, err = s.run(nil, "keys", "get", id, "--org", "org_123")
		if err != nil || !strings.Contains(out, "status:") || !strings.Contains(out, "active") || secretInOutput.MatchString(out) {
			t.Fatalf("keys get: %v\n%s", err, out)
		}
		out, _, err = s.run(nil, "keys", "update", id, "--org", "org_123", "--name", "renamed", "--no-rate-limit", "--metadata", `{"team":"billing"}`)
		if err != nil || !strings.Contains(out, "renamed") || !strings.Contains(out, `"team":"billing"`) || !regexp.MustCompile(`(?m)^rate_limit:\s+-$`).MatchString(out) {
			t.Fatalf("keys update: %v\n%s", err, out)
		}
		_, stderr, err := s.run(nil, "keys", "update", id, "--org", "org_123", "--rate-limit", "5/1m", "--no-rate-limit")
		if err == nil || !strings.Contains(stderr, "exclusive") {
			t.Errorf("a value and its --no- flag: %v %s", err, stderr)
		}
		out, warn, err = s.run(nil, "keys", "rotate", id, "--org", "org_123")
		newSecret := secretInOutput.FindString(out)
		if err != nil || newSecret == "" || newSecret == secret || !strings.Contains(warn, "only time the key is shown") {
			t.Fatalf("keys rotate: %v\n%s%s", err, out, warn)
		}
		if r := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret); r.status != 401 {
			t.Errorf("the rotated-away secret: %d", r.status)
		}
		if r := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", newSecret); r.status != 200 {
			t.Errorf("the new secret: %d", r.status)
		}
		if out, _, err = s.run(nil, "keys", "revoke", id, "--org", "org_123"); err != nil || !strings.Contains(out, "revoked "+id) {
			t.Fatalf("keys revoke: %v\n%s", err, out)
		}
		_, stderr, err = s.run(nil, "keys", "rotate", id, "--org", "org_123")
		if err == nil || !strings.Contains(stderr, "409 key_revoked") {
			t.Errorf("rotating a revoked key: %v %s", err, stderr)
		}
		_, stderr, err = s.run(nil, "keys", "get", "key_unknown1", "--org", "org_123")
		if err == nil || !strings.Contains(stderr, "404 not_found") {
			t.Errorf("an unknown key: %v %s", err, stderr)
		}
		_, stderr, err = s.run(nil, "keys", "list")
		if err == nil || !strings.Contains(stderr, "--org") {
			t.Errorf("no token and no organization: %v %s", err, stderr)
		}
		_, stderr, err = s.run(nil, "keys", "list", "--org", "org_123", "--token", "not-a-jwt")
		if err == nil || !strings.Contains(stderr, "401 invalid_token") {
			t.Errorf("a bad token: %v %s", err, stderr)
		}

		eventually(t, 5e9, "audit logs lists the key's life", func() bool {
			out, _, err = s.run(nil, "audit", "logs", "--org", "org_123", "--key", id)
			return err == nil && strings.Contains(out, "key.created") && strings.Contains(out, "key.updated") && strings.Contains(out, "key.rotated") && strings.Contains(out, "key.revoked")
		})
		out, _, err = s.run(nil, "audit", "logs", "--org", "org_123", "--action", "key.revoked", "-o", "json")
		var events struct {
			Data []map[string]any `json:"data"`
		}
		if err != nil || json.Unmarshal([]byte(out), &events) != nil || len(events.Data) != 1 || events.Data[0]["key_id"] != id {
			t.Errorf("audit logs -o json: %v\n%s", err, out)
		}
	})
}
