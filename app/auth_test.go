package app

import (
	"strings"
	"testing"
	"time"
)

const issuersYAML = `
auth:
  jwks_min_refresh: 10s
  issuers:
    - name: keycloak
      issuer: https://id.example.com/realms/acme
      discovery: true
      audiences: [apikeys]
      organizations_claim: organization
      required_claims:
        - claim: realm_access.roles
          contains: apikeys-admin
        - claim: email_verified
          equals: true
`

func TestLoadIssuers(t *testing.T) {
	cfg, err := Load(writeFile(t, issuersYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Auth.Issuers) != 1 {
		t.Fatalf("issuers %+v", cfg.Auth.Issuers)
	}
	is := cfg.Auth.Issuers[0]
	if is.Name != "keycloak" || !is.Discovery || is.Audiences[0] != "apikeys" || is.OrganizationsClaim != "organization" ||
		len(is.RequiredClaims) != 2 || is.RequiredClaims[1].Equals != true || cfg.Auth.JWKSMinRefresh != 10*time.Second {
		t.Fatalf("issuer %+v", is)
	}
	if cfg.Auth.JWKSRefresh != 15*time.Minute || cfg.Auth.IntrospectionCache != time.Minute || cfg.JWT.MaxTTL != 24*time.Hour {
		t.Fatalf("defaults %+v %+v", cfg.Auth, cfg.JWT)
	}

	// The list from the environment, as JSON, replaces the file's.
	cfg, err = Load(writeFile(t, issuersYAML), []string{
		`APIKEYS_AUTH_ISSUERS=[{"name":"auth0","issuer":"https://acme.eu.auth0.com/","jwks_url":"https://acme.eu.auth0.com/.well-known/jwks.json","audiences":["https://apikeys.acme.example"],"organizations_claim":"https://apikeys.acme.example/orgs"}]`,
		"APIKEYS_AUTH_INTROSPECTION_CACHE=30s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Auth.Issuers) != 1 || cfg.Auth.Issuers[0].Name != "auth0" || cfg.Auth.IntrospectionCache != 30*time.Second {
		t.Fatalf("environment override: %+v", cfg.Auth)
	}
}

func TestIssuerSettingsNamed(t *testing.T) {
	cases := map[string]struct {
		file string
		env  []string
		want string
	}{
		"misspelt member":      {strings.Replace(issuersYAML, "audiences:", "audience:", 1), nil, `auth.issuers[0]: unknown setting "audience"`},
		"misspelt condition":   {strings.Replace(issuersYAML, "contains:", "contain:", 1), nil, `auth.issuers[0].required_claims[0]: unknown setting "contain"`},
		"HS256 for a JWKS":     {strings.Replace(issuersYAML, "audiences: [apikeys]", "audiences: [apikeys]\n      algorithms: [HS256]", 1), nil, "auth.issuers[0].algorithms[0]"},
		"no audience":          {strings.Replace(issuersYAML, "audiences: [apikeys]", "", 1), nil, "auth.issuers[0].audiences"},
		"environment JSON":     {"{}\n", []string{"APIKEYS_AUTH_ISSUERS=name: x"}, "APIKEYS_AUTH_ISSUERS must be a JSON array"},
		"environment member":   {"{}\n", []string{`APIKEYS_AUTH_ISSUERS=[{"nam":"x"}]`}, `auth.issuers[0]: unknown setting "nam"`},
		"max_ttl":              {"{}\n", []string{"APIKEYS_JWT_MAX_TTL=-1h"}, "jwt.max_ttl"},
		"leeway":               {"{}\n", []string{"APIKEYS_JWT_LEEWAY=1h"}, "jwt.leeway"},
		"jwks_refresh":         {"{}\n", []string{"APIKEYS_AUTH_JWKS_REFRESH=0s"}, "auth.jwks_refresh"},
		"same issuer as jwt":   {issuersYAML, []string{"APIKEYS_JWT_ISSUER=https://id.example.com/realms/acme"}, "jwt.issuer"},
		"http in production":   {strings.Replace(issuersYAML, "https://id.example.com", "http://id.example.com", 1), prodEnv(), "auth.issuers[0].issuer"},
		"production HS256 iss": {"{}\n", prodEnv("APIKEYS_JWT_SECRET=" + testJWTSecret), "jwt.issuer: is required in production"},
		"production no issuer": {"{}\n", prodEnv(), "unless auth.issuers lists an identity provider"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(writeFile(t, c.file), c.env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func prodEnv(extra ...string) []string {
	return append([]string{"APIKEYS_ENV=production", "APIKEYS_SECURITY_PEPPER=" + testPepper, "APIKEYS_AUDIT_CHAIN_KEY=" + testChainKey}, extra...)
}

// TestProductionWithIssuersOnly: production may turn the HS256 issuer off.
func TestProductionWithIssuersOnly(t *testing.T) {
	cfg, err := Load(writeFile(t, issuersYAML), prodEnv())
	if err != nil {
		t.Fatal(err)
	}
	if gen, _, err := ResolveSecrets(&cfg); err != nil || gen || cfg.JWT.Secret != "" {
		t.Fatalf("ResolveSecrets = %v, %v, secret %q", gen, err, cfg.JWT.Secret)
	}
	v, err := newTokenVerifier(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := mintDevToken(cfg, "alice", []string{"org_a"}, time.Hour); err == nil || !strings.Contains(err.Error(), "HS256 issuer is off") {
		t.Fatalf("token with HS256 off: %v", err)
	}
}

func TestMintDevToken(t *testing.T) {
	cfg, err := Load(writeFile(t, "data_dir: "+t.TempDir()+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		sub  string
		orgs []string
		ttl  time.Duration
		want string
	}{
		"no org":         {"alice", nil, time.Hour, "--org is required"},
		"no sub":         {" ", []string{"org_a"}, time.Hour, "--sub is required"},
		"ttl over max":   {"alice", []string{"org_a"}, 25 * time.Hour, "exceeds jwt.max_ttl"},
		"zero ttl":       {"alice", []string{"org_a"}, 0, "--ttl must be positive"},
		"bad org":        {"alice", []string{"org a"}, time.Hour, "not an organization id"},
		"control in sub": {"al\nice", []string{"org_a"}, time.Hour, "sub must be"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := mintDevToken(cfg, c.sub, c.orgs, c.ttl); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("mintDevToken = %v, want %q", err, c.want)
			}
		})
	}
	tok, err := mintDevToken(cfg, "alice", []string{"org_a"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ResolveSecrets(&cfg); err != nil {
		t.Fatal(err)
	}
	v, err := newTokenVerifier(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(t.Context(), tok)
	if err != nil || p.Actor() != "user:alice" || p.Organizations[0] != "org_a" {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
}
