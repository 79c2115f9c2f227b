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
		env := []string{"APIKEYS_JWT_SECRET=" + testJWTSecret, "APIKEYS_SECURITY_PEPPER=" + testPepper}
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
	if err == nil || !strings.Contains(err.Error(), "jwt.secret") || !strings.Contains(err.Error(), "security.pepper") {
		t.Fatalf("got %v", err)
	}
	_, err = Load(writeFile(t, "{}\n"), []string{"APIKEYS_ENV=production",
		"APIKEYS_JWT_SECRET=" + testJWTSecret, "APIKEYS_SECURITY_PEPPER=" + testPepper,
		"APIKEYS_JWT_ISSUER=apikeys", "APIKEYS_JWT_AUDIENCE=apikeys"})
	if err != nil {
		t.Fatal(err)
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
	again := Defaults()
	again.DataDir = cfg.DataDir
	gen, _, err = ResolveSecrets(&again)
	if err != nil || gen || again.JWT.Secret != cfg.JWT.Secret || again.Security.Pepper != cfg.Security.Pepper {
		t.Fatal("second start must reuse the secrets")
	}
}
