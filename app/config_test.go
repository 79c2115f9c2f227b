package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(writeFile(t, "{}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != "127.0.0.1:8080" || cfg.Storage.Driver != "sqlite" || !cfg.AutoMigrateOn() ||
		cfg.Security.Argon2.MemoryKiB != 19456 || cfg.Security.Argon2.Iterations != 2 || cfg.Audit.OnFull != "block" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestLoadShippedConfigs(t *testing.T) {
	for _, f := range []string{"default.yaml", "postgres.yaml", "mysql.yaml"} {
		p := filepath.Join("..", "configs", f)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		env := []string{"APIKEYS_JWT_SECRET=" + testJWTSecret, "APIKEYS_SECURITY_PEPPER=" + testPepper, "APIKEYS_AUDIT_CHAIN_KEY=" + testChainKey}
		if _, err := Load(p, env); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	p := writeFile(t, "http:\n  addr: 127.0.0.1:9000\nstorage:\n  driver: sqlite\n")
	cfg, err := Load(p, []string{
		"APIKEYS_HTTP_ADDR=0.0.0.0:8081",
		"APIKEYS_STORAGE_AUTO_MIGRATE=false",
		"APIKEYS_HTTP_TRUSTED_PROXIES=10.0.0.0/8, 192.168.1.1",
		"APIKEYS_SECURITY_ARGON2_MEMORY_KIB=65536",
		"APIKEYS_AUDIT_FLUSH_INTERVAL=50ms",
		"OTHER_VAR=1",
		"APIKEYS_TEST_POSTGRES_DSN=postgres://x@127.0.0.1/test",
		"APIKEYS_TEST_MYSQL_DSN=",
		"APIKEYS_TOKEN=eyJ.x.y", "APIKEYS_SERVER=http://127.0.0.1:8080", // the CLI's, not settings
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != "0.0.0.0:8081" || cfg.AutoMigrateOn() || cfg.Security.Argon2.MemoryKiB != 65536 ||
		cfg.Audit.FlushInterval != 50*time.Millisecond || len(cfg.HTTP.TrustedProxies) != 2 || cfg.HTTP.TrustedProxies[1] != "192.168.1.1" {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
}

func TestValidationNamesTheSetting(t *testing.T) {
	cases := map[string][]string{
		"storage.driver":             {"APIKEYS_STORAGE_DRIVER=oracle"},
		"storage.dsn":                {"APIKEYS_STORAGE_DRIVER=postgres", "APIKEYS_JWT_SECRET=" + strings.Repeat("x", 32), "APIKEYS_SECURITY_PEPPER=" + strings.Repeat("x", 32)},
		"http.addr":                  {"APIKEYS_HTTP_ADDR=nonsense"},
		"http.trusted_proxies":       {"APIKEYS_HTTP_TRUSTED_PROXIES=not-an-ip"},
		"jwt.secret":                 {"APIKEYS_JWT_SECRET=short"},
		"security.argon2.memory_kib": {"APIKEYS_SECURITY_ARGON2_MEMORY_KIB=10"},
		"audit.on_full":              {"APIKEYS_AUDIT_ON_FULL=maybe"},
		"security.invalidation_poll": {"APIKEYS_SECURITY_INVALIDATION_POLL=5s"},
		"debug.addr":                 {"APIKEYS_DEBUG_ADDR=6060"},
		"log.verify_level":           {"APIKEYS_LOG_VERIFY_LEVEL=loud"},
		"APIKEYS_HTTP_ADRESS":        {"APIKEYS_HTTP_ADRESS=x"},
		"audit.chain_key: a chain key must be at least 32 bytes":  {"APIKEYS_AUDIT_CHAIN_KEY=short"},
		"audit.previous_chain_keys: set audit.chain_key too":      {"APIKEYS_AUDIT_PREVIOUS_CHAIN_KEYS=" + strings.Repeat("o", 32)},
		"audit.previous_chain_keys: previous chain key 2":         {"APIKEYS_AUDIT_CHAIN_KEY=" + strings.Repeat("c", 32), "APIKEYS_AUDIT_PREVIOUS_CHAIN_KEYS=" + strings.Repeat("o", 32) + ",short"},
		"audit.previous_chain_keys: previous chain key 1 repeats": {"APIKEYS_AUDIT_CHAIN_KEY=" + strings.Repeat("c", 32), "APIKEYS_AUDIT_PREVIOUS_CHAIN_KEYS=" + strings.Repeat("c", 32)},
		"audit.chain_key: must differ from security.pepper":       {"APIKEYS_AUDIT_CHAIN_KEY=" + strings.Repeat("c", 32), "APIKEYS_SECURITY_PEPPER=" + strings.Repeat("c", 32)},
		"audit.chain_key: is required with storage.driver=mysql":  {"APIKEYS_STORAGE_DRIVER=mysql", "APIKEYS_STORAGE_DSN=root@tcp(127.0.0.1:3306)/x", "APIKEYS_JWT_SECRET=" + strings.Repeat("x", 32), "APIKEYS_SECURITY_PEPPER=" + strings.Repeat("y", 32)},
	}
	for want, env := range cases {
		_, err := Load(writeFile(t, "{}\n"), env)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: got %v, want an error naming %s", env, err, want)
		}
	}
}

func TestProductionRequiresSecrets(t *testing.T) {
	_, err := Load(writeFile(t, "{}\n"), []string{"APIKEYS_ENV=production"})
	if err == nil || !strings.Contains(err.Error(), "jwt.secret") || !strings.Contains(err.Error(), "security.pepper") ||
		!strings.Contains(err.Error(), "audit.chain_key: is required in production") {
		t.Fatalf("got %v", err)
	}
	secrets := []string{"APIKEYS_ENV=production", "APIKEYS_JWT_SECRET=" + testJWTSecret, "APIKEYS_SECURITY_PEPPER=" + testPepper,
		"APIKEYS_JWT_ISSUER=apikeys", "APIKEYS_JWT_AUDIENCE=apikeys"}
	_, err = Load(writeFile(t, "{}\n"), secrets)
	if err == nil || strings.Contains(err.Error(), "jwt.secret") || !strings.Contains(err.Error(), "audit.chain_key: is required in production") {
		t.Fatalf("without audit.chain_key: %v", err)
	}
	cfg, err := Load(writeFile(t, "{}\n"), append(secrets, "APIKEYS_AUDIT_CHAIN_KEY="+testChainKey,
		"APIKEYS_AUDIT_PREVIOUS_CHAIN_KEYS="+testPreviousChainKey+", "+testOlderChainKey))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := cfg.Audit.chainKeys()
	if err != nil || len(ks.IDs()) != 3 {
		t.Errorf("chain keys %v, %v; want the current and two previous ones", ks, err)
	}
}

func TestUnknownFileSettingAndMissingFile(t *testing.T) {
	if _, err := Load(writeFile(t, "http:\n  adr: x\n"), nil); err == nil || !strings.Contains(err.Error(), "http.adr") {
		t.Fatalf("got %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Fatal("an explicit missing file must fail")
	}
}

func TestResolveSecretsGeneratesOnceAndKeeps(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	gen, path, err := ResolveSecrets(&cfg)
	if err != nil || !gen || len(cfg.JWT.Secret) < 32 || len(cfg.Security.Pepper) < 32 {
		t.Fatalf("%v %v %+v", gen, err, cfg.JWT)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file %v %v", st, err)
	}
	if len(cfg.Audit.ChainKey) < 32 || cfg.Audit.ChainKey == cfg.Security.Pepper || cfg.Audit.ChainKey == cfg.JWT.Secret {
		t.Fatalf("audit chain key %d bytes, distinct from the others: %v", len(cfg.Audit.ChainKey), cfg.Audit.ChainKey != cfg.Security.Pepper)
	}
	again := Defaults()
	again.DataDir = cfg.DataDir
	gen, _, err = ResolveSecrets(&again)
	if err != nil || gen || again.JWT.Secret != cfg.JWT.Secret || again.Security.Pepper != cfg.Security.Pepper || again.Audit.ChainKey != cfg.Audit.ChainKey {
		t.Fatal("second start must reuse the secrets")
	}
	// An explicit key wins over the file's.
	explicit := Defaults()
	explicit.DataDir, explicit.Audit.ChainKey = cfg.DataDir, strings.Repeat("e", 32)
	if _, _, err := ResolveSecrets(&explicit); err != nil || explicit.Audit.ChainKey != strings.Repeat("e", 32) || explicit.Security.Pepper != cfg.Security.Pepper {
		t.Fatalf("explicit chain key: %v %+v", err, explicit.Audit)
	}
}

// TestResolveSecretsKeysAnOlderFile gives a dev-secrets.json written before
// it held an audit chain key a key derived from its pepper: the same on
// every start, distinct from the pepper, and the file left as it was.
func TestResolveSecretsKeysAnOlderFile(t *testing.T) {
	dir := t.TempDir()
	old := `{"jwt_secret":"` + strings.Repeat("j", 43) + `","pepper":"` + strings.Repeat("p", 43) + `"}`
	path := filepath.Join(dir, DevSecretsFile)
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for range 2 {
		cfg := Defaults()
		cfg.DataDir = dir
		gen, _, err := ResolveSecrets(&cfg)
		if err != nil || gen {
			t.Fatalf("ResolveSecrets: %v, generated %v", err, gen)
		}
		if cfg.Security.Pepper != strings.Repeat("p", 43) || len(cfg.Audit.ChainKey) < 32 || strings.Contains(cfg.Audit.ChainKey, "ppp") {
			t.Fatalf("secrets %+v", cfg.Audit)
		}
		keys = append(keys, cfg.Audit.ChainKey)
	}
	if keys[0] != keys[1] {
		t.Errorf("derived chain keys differ: %s, %s", keys[0], keys[1])
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != old {
		t.Errorf("the file changed: %s, %v", b, err)
	}
	// A damaged key is refused, not derived over.
	if err := os.WriteFile(path, []byte(`{"jwt_secret":"`+strings.Repeat("j", 43)+`","pepper":"`+strings.Repeat("p", 43)+`","audit_chain_key":"short"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.DataDir = dir
	if _, _, err := ResolveSecrets(&cfg); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("a short chain key in the file: %v", err)
	}
}
