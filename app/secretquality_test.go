package app

import (
	"bufio"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Secrets of the kind `openssl rand -base64 48` makes, for tests that need
// production to accept them.
const (
	testJWTSecret = "tJ8wq2Lr5Nx9Kb3Vz7Pm1Hd6Fs4Gc0Ye+aQ/uI3oP7eW2rT"
	testPepper    = "pY4mN8vB2xL6qR0wK9tH3jD7sF1gZ5cA+eW/oU2iP8rT6yX"
	testChainKey  = "cK7rT2wQ9mZ4xN6bV1pL8sD3fG5hJ0yU+aE/iO2uW7qR4e"
	// Chain keys a rotation replaced.
	testPreviousChainKey = "oP3kL8jH2gF7dS1aQ9wE4rT6yU0iZ5xC+vB/nM2mK8jH4g"
	testOlderChainKey    = "qW5eR8tY1uI4oP7aS0dF3gH6jK9lZ2xC+vB/nM5bV8cX1z"
)

func TestWeakSecret(t *testing.T) {
	for _, c := range []struct{ value, why string }{
		{strings.Repeat(" ", 32), "only whitespace"},
		{"\t\n \r\n" + strings.Repeat(" ", 40), "only whitespace"},
		{strings.Repeat("a", 32), "one character repeated"},
		{strings.Repeat("changeme", 4), `contains "changeme"`},
		{"placeholder-jwt-secret-change-me-0123456789", "placeholder value the project ships"},
		{"placeholder-pepper-change-me-0123456789abc", "placeholder value the project ships"},
		{"my-Super-Secret-CHANGEME-please-0123456789", `contains "changeme"`},
		{"REPLACE_ME_with_a_real_secret_0123456789abcdef", `contains "replace_me"`},
		{strings.Repeat("0123456789abcdef", 3), "repeats the 16-character pattern"},
		{strings.Repeat("Ab1!", 12), "repeats the 4-character pattern"},
		{strings.Repeat("xyz", 11) + "xy", "repeats the 3-character pattern"},
		{"aabbccddeeffgghhiijjkkllmmnnooabcdefghijklmno", "15 distinct characters"},
		{"0123456789012345678901234567890123456789aaaaaaaaaa", "11 distinct characters"},
	} {
		if got := weakSecret(c.value); !strings.Contains(got, c.why) {
			t.Errorf("weakSecret(%q) = %q, want it to say %q", c.value, got, c.why)
		}
	}
	for _, good := range []string{
		testJWTSecret, testPepper,
		"3q2+7wAAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ", // 16 distinct bytes or more, no period
		"e2e-jwt-secret-0123456789abcdef0123456789",
	} {
		if got := weakSecret(good); got != "" {
			t.Errorf("weakSecret(%q) = %q, want it accepted", good, got)
		}
	}
}

// prodSecretsEnv is a valid production environment around extra.
func prodSecretsEnv(extra ...string) []string {
	return append([]string{"APIKEYS_ENV=production", "APIKEYS_JWT_SECRET=" + testJWTSecret, "APIKEYS_SECURITY_PEPPER=" + testPepper,
		"APIKEYS_AUDIT_CHAIN_KEY=" + testChainKey, "APIKEYS_JWT_ISSUER=apikeys", "APIKEYS_JWT_AUDIENCE=apikeys"}, extra...)
}

// TestProductionRefusesKnowableSecrets: each refusal of production names
// the setting and how to make a good value; development keeps accepting
// the same values.
func TestProductionRefusesKnowableSecrets(t *testing.T) {
	if _, err := Load(writeFile(t, "{}\n"), prodSecretsEnv()); err != nil {
		t.Fatalf("good production secrets refused: %v", err)
	}
	clientSecret := func(secret string) string {
		return `[{"name":"zitadel","issuer":"https://id.example.com","jwks_url":"https://id.example.com/keys","audiences":["apikeys"],` +
			`"introspection_url":"https://id.example.com/introspect","client_id":"apikeys","client_secret":"` + secret + `"}]`
	}
	cases := []struct {
		name string
		env  []string
		key  string // the setting named
		why  string
	}{
		{"compose placeholder", []string{"APIKEYS_JWT_SECRET=placeholder-jwt-secret-change-me-0123456789"}, "jwt.secret", "placeholder value the project ships"},
		{"compose pepper placeholder", []string{"APIKEYS_SECURITY_PEPPER=placeholder-pepper-change-me-0123456789abc"}, "security.pepper", "placeholder value the project ships"},
		{"32 a", []string{"APIKEYS_JWT_SECRET=" + strings.Repeat("a", 32)}, "jwt.secret", "one character repeated"},
		{"32 spaces", []string{"APIKEYS_JWT_SECRET=" + strings.Repeat(" ", 32)}, "jwt.secret", "only whitespace"},
		{"changeme x4", []string{"APIKEYS_JWT_SECRET=" + strings.Repeat("changeme", 4)}, "jwt.secret", "placeholder"},
		{"pattern pepper", []string{"APIKEYS_SECURITY_PEPPER=" + strings.Repeat("s3cr3t!", 6)}, "security.pepper", "repeats the 7-character pattern"},
		{"few distinct bytes", []string{"APIKEYS_SECURITY_PEPPER=" + strings.Repeat("0123456789", 4) + "abcd"}, "security.pepper", "14 distinct characters"},
		{"secret equals pepper", []string{"APIKEYS_SECURITY_PEPPER=" + testJWTSecret}, "security.pepper", "must differ from jwt.secret"},
		{"chain key equals pepper", []string{"APIKEYS_AUDIT_CHAIN_KEY=" + testPepper}, "audit.chain_key", "must differ from security.pepper"},
		{"weak chain key", []string{"APIKEYS_AUDIT_CHAIN_KEY=" + strings.Repeat("c", 40)}, "audit.chain_key", "one character repeated"},
		{"compose chain key placeholder", []string{"APIKEYS_AUDIT_CHAIN_KEY=placeholder-audit-chain-key-change-me-01234"}, "audit.chain_key", "placeholder"},
		{"weak previous chain key", []string{"APIKEYS_AUDIT_PREVIOUS_CHAIN_KEYS=" + strings.Repeat("ab", 20)}, "audit.previous_chain_keys[0]", "repeats"},
		{"weak client secret", []string{"APIKEYS_AUTH_ISSUERS=" + clientSecret(strings.Repeat("x", 40))}, "auth.issuers[0].client_secret", "identity provider"},
		{"client secret equals pepper", []string{"APIKEYS_AUTH_ISSUERS=" + clientSecret(testPepper)}, "auth.issuers[0].client_secret", "must differ from security.pepper"},
		{"documented postgres password", []string{"APIKEYS_STORAGE_DRIVER=postgres",
			"APIKEYS_STORAGE_DSN=postgres://apikeys:secret@db.internal:5432/apikeys?sslmode=verify-full"}, "storage.dsn", "placeholder value"},
		{"documented postgres keyword password", []string{"APIKEYS_STORAGE_DRIVER=postgres",
			"APIKEYS_STORAGE_DSN=host=db user=apikeys password='placeholder-db-password' dbname=apikeys"}, "storage.dsn", "placeholder value"},
		{"documented mysql password", []string{"APIKEYS_STORAGE_DRIVER=mysql",
			"APIKEYS_STORAGE_DSN=apikeys:secret@tcp(db.internal:3306)/apikeys?tls=true"}, "storage.dsn", "placeholder value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeFile(t, "{}\n"), prodSecretsEnv(c.env...))
			if err == nil {
				t.Fatal("accepted in production")
			}
			var line string
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(l, c.key+":") {
					line = l
				}
			}
			if !strings.Contains(line, c.why) {
				t.Fatalf("no refusal of %s saying %q in:\n%v", c.key, c.why, err)
			}
			if !strings.Contains(line, "openssl rand") && !strings.Contains(line, "identity provider") {
				t.Errorf("the refusal does not say how to get a good value: %s", line)
			}
			// Development on its own database is not held to this.
			dev := append([]string{}, c.env...)
			if _, err := Load(writeFile(t, "{}\n"), dev); err != nil && strings.Contains(err.Error(), c.why) {
				t.Errorf("development refused it too: %v", err)
			}
		})
	}
}

// TestDebugAddrStaysPrivate: the debug listener serves profiles, so a
// non-loopback address is refused unless debug.allow_public_addr says the
// operator means it.
func TestDebugAddrStaysPrivate(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:6060", "[::1]:6060", "localhost:6060", "127.0.0.2:6060"} {
		if _, err := Load(writeFile(t, "{}\n"), []string{"APIKEYS_DEBUG_ADDR=" + addr}); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
	for _, addr := range []string{"0.0.0.0:6060", ":6060", "[::]:6060", "10.0.0.5:6060", "debug.internal:6060"} {
		for _, env := range [][]string{nil, prodSecretsEnv()} {
			_, err := Load(writeFile(t, "{}\n"), append(env, "APIKEYS_DEBUG_ADDR="+addr))
			if err == nil || !strings.Contains(err.Error(), "debug.addr") || !strings.Contains(err.Error(), "debug.allow_public_addr") {
				t.Errorf("%s (%v): got %v, want a refusal naming debug.addr and debug.allow_public_addr", addr, env, err)
			}
			if _, err := Load(writeFile(t, "{}\n"), append(env, "APIKEYS_DEBUG_ADDR="+addr, "APIKEYS_DEBUG_ALLOW_PUBLIC_ADDR=true")); err != nil {
				t.Errorf("%s allowed explicitly: %v", addr, err)
			}
		}
	}
}

// secretExample finds example values of secret settings in documentation
// and configuration: the value of a secret-named key (YAML, environment,
// JSON), the default of a secret-named compose variable (${X:-value}), and
// the password of a DSN or URL.
var secretExample = []*regexp.Regexp{
	regexp.MustCompile(`(?i)\b[A-Z0-9_]*(?:secret|pepper|password|passwd|chain_key)"?\s*[:=]\s*['"]?([^\s'"#,}]*)`),
	regexp.MustCompile(`\$\{[A-Z0-9_]*(?:SECRET|PEPPER|PASSWORD|PASSWD|CHAIN_KEY)[A-Z0-9_]*:?-([^}]*)\}`),
	regexp.MustCompile(`[a-z][a-z0-9+.-]*://\[?[^:/\s@\[\]]+:([^@\s]+)@`),
	regexp.MustCompile(`(?:^|[\s'"=])[A-Za-z0-9_]+:([^@\s:/(]+)@tcp\(`),
}

// reference reports whether an example value stands for a value to be
// given rather than being one: empty, an environment or shell expansion,
// an <angle-bracketed> or elided description, or the tail of a compose
// ${VAR:-default} / ${VAR:?message} (whose default the second pattern
// reads).
func reference(v string) bool {
	v = strings.Trim(v, "`'\"")
	return v == "" || strings.ContainsAny(v[:1], "$<[{-?") || strings.HasPrefix(v, "…") || strings.HasPrefix(v, "...")
}

// TestDocumentedSecretsAreRefused scans what the project ships and
// documents (README, docs, configs, docker-compose.yml, Dockerfile, the
// Makefile and CI scripts) for example secret values: every one must be in
// knownPlaceholders, so production refuses it.
func TestDocumentedSecretsAreRefused(t *testing.T) {
	var files []string
	for _, pattern := range []string{"*.md", "docs/*.md", "configs/*", "configs/*/*", "configs/*/*/*", "docker-compose*.yml", "Dockerfile", "Makefile", ".ci/*", ".env*"} {
		m, err := filepath.Glob(filepath.Join("..", pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if st, err := os.Stat(f); err == nil && !st.IsDir() {
				files = append(files, f)
			}
		}
	}
	if !slices.Contains(files, filepath.Join("..", "docker-compose.yml")) || !slices.Contains(files, filepath.Join("..", "docs", "databases.md")) {
		t.Fatalf("the scan misses the compose file or the docs: %v", files)
	}
	found := map[string]bool{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			for _, re := range secretExample {
				for _, m := range re.FindAllStringSubmatch(sc.Text(), -1) {
					v := strings.Trim(m[1], "`'\"")
					// MYSQL_RANDOM_ROOT_PASSWORD: "yes" asks for a random
					// password rather than giving one.
					if reference(v) || strings.Contains(strings.ToUpper(m[0]), "RANDOM_") {
						continue
					}
					found[v] = true
					if !slices.Contains(knownPlaceholders, v) {
						t.Errorf("%s:%d: example secret %q is not in knownPlaceholders: production would accept it", f, n, v)
					}
				}
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if len(found) == 0 {
		t.Fatal("the scan found no example secret at all: it is no longer looking where the examples are")
	}
	t.Logf("example secrets found in %d files: %q", len(files), slices.Sorted(maps.Keys(found)))
	for _, v := range knownPlaceholders {
		if weakSecret(v) == "" {
			t.Errorf("placeholder %q is not refused", v)
		}
	}
}

// TestSecretExampleScanner: the scanner finds the forms examples take.
func TestSecretExampleScanner(t *testing.T) {
	for line, want := range map[string]string{
		"  APIKEYS_JWT_SECRET: ${APIKEYS_JWT_SECRET:-sekrit-value}": "sekrit-value",
		"APIKEYS_SECURITY_PEPPER=abc123 \\":                         "abc123",
		"  pepper: \"p3pp3r\"   # comment":                          "p3pp3r",
		"secret:abc":                                                "abc",
		`{"client_secret": "cs-value"}`:                             "cs-value",
		"postgres://apikeys:hunter2@db:5432/apikeys":                "hunter2",
		"apikeys:hunter3@tcp(db:3306)/apikeys":                      "hunter3",
		"redis://default:hunter4@redis:6379/0":                      "hunter4",
	} {
		var got []string
		for _, re := range secretExample {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				if v := strings.Trim(m[1], "`'\""); !reference(v) {
					got = append(got, v)
				}
			}
		}
		if !slices.Contains(got, want) {
			t.Errorf("%q: found %q, want %q", line, got, want)
		}
	}
	for _, line := range []string{
		"  secret: \"\"", "APIKEYS_JWT_SECRET=<at least 32 random bytes>", "APIKEYS_JWT_SECRET=… APIKEYS_SECURITY_PEPPER=… \\",
		"APIKEYS_JWT_SECRET=$(openssl rand -base64 48)", "${APIKEYS_JWT_SECRET:?set it}", "postgres://apikeys:${APIKEYS_DB_PASSWORD}@db",
		"apikeys:<password>@tcp(db:3306)/apikeys",
	} {
		for _, re := range secretExample {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				if v := strings.Trim(m[1], "`'\""); !reference(v) {
					t.Errorf("%q: found example %q in a reference", line, v)
				}
			}
		}
	}
}

// TestComposeShipsNoSecretAndPublishesLocally: docker-compose.yml takes
// every secret from the environment, with no default to fall back on
// (${VAR:?message}), and publishes every port on 127.0.0.1 only.
func TestComposeShipsNoSecretAndPublishesLocally(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	secretVar := regexp.MustCompile(`(?i)(SECRET|PEPPER|PASSWORD|PASSWD|CHAIN_KEY)`)
	required := regexp.MustCompile(`\$\{[A-Z0-9_]+:\?[^}]+\}`)
	secrets, ports := 0, 0
	for name, svc := range compose.Services {
		for k, v := range svc.Environment {
			if !secretVar.MatchString(k) || k == "MYSQL_RANDOM_ROOT_PASSWORD" {
				continue
			}
			secrets++
			if !required.MatchString(v) || strings.Contains(v, ":-") {
				t.Errorf("%s: %s = %q: a secret must come from the environment as ${VAR:?how to make it}, with no default", name, k, v)
			}
		}
		for _, p := range svc.Ports {
			ports++
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: port %q is published beyond 127.0.0.1", name, p)
			}
		}
	}
	if secrets < 4 || ports < 4 {
		t.Fatalf("found %d secret variables and %d ports: the test no longer reads the compose file's shape", secrets, ports)
	}
}
