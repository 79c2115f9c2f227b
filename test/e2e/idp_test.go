package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/agentauri/apikeys/test/oidcprovider"
)

// Identity-provider tokens. The provider is test/oidcprovider, an httptest
// server in this process; the service reaches it over 127.0.0.1. Token
// verification never touches the database, so only the test that writes
// audit events runs on every database; the others run on SQLite.

func newProvider(t *testing.T) *oidcprovider.Provider {
	t.Helper()
	p := oidcprovider.New()
	t.Cleanup(p.Close)
	return p
}

// issuerEnv returns APIKEYS_AUTH_ISSUERS for the issuer objects.
func issuerEnv(t *testing.T, issuers ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(issuers)
	if err != nil {
		t.Fatal(err)
	}
	return "APIKEYS_AUTH_ISSUERS=" + string(b)
}

func idpIssuer(p *oidcprovider.Provider, name string, extra ...any) map[string]any {
	m := map[string]any{"name": name, "issuer": p.Issuer(), "discovery": true, "audiences": []string{oidcprovider.Audience}}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func sqliteOnly() env { return env{driver: "sqlite"} }

// TestIdentityProviderTokens: tokens of every default algorithm manage
// keys, the audit trail names the user with the issuer's prefix, and the
// HS256 development issuer keeps working alongside.
func TestIdentityProviderTokens(t *testing.T) {
	p := newProvider(t)
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e, issuerEnv(t, idpIssuer(p, "keycloak")))
		for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
			tok := p.Sign(alg, p.Claims("alice", "org_idp"))
			r := s.do("POST", "/api/v1/api-keys", `{"name":"by `+alg+`","scopes":["events:read"]}`, jsonBearer(tok)...)
			want(t, r, 201)
			if r.json(t)["organization_id"] != "org_idp" {
				t.Fatalf("%s: %s", alg, r.body)
			}
		}
		dev := s.token("bob", "org_idp")
		want(t, s.do("GET", "/api/v1/api-keys", "", bearer(dev)...), 200)

		tok := p.Sign("RS256", p.Claims("alice", "org_idp"))
		events := s.auditLog("/api/v1/audit-logs?actor="+url.QueryEscape("user:keycloak:alice")+"&action=key.created", bearer(tok)...)
		if len(events) != 3 {
			t.Fatalf("%d key.created events by user:keycloak:alice, want 3: %v", len(events), events)
		}
		r := s.do("POST", "/api/v1/api-keys", `{"name":"by bob","scopes":["events:read"]}`, jsonBearer(dev)...)
		want(t, r, 201)
		events = s.auditLog("/api/v1/audit-logs?actor="+url.QueryEscape("user:bob")+"&action=key.created", bearer(tok)...)
		if len(events) != 1 {
			t.Fatalf("HS256 actor: %v", events)
		}
	})
}

// TestIdentityProviderRefusals sends every kind of bad provider token and
// checks each gets the one generic 401, while the debug log says why with
// the request id and never the token.
func TestIdentityProviderRefusals(t *testing.T) {
	p := newProvider(t)
	s := start(t, sqliteOnly(), issuerEnv(t, idpIssuer(p, "idp", "algorithms", []string{"RS256", "ES256"})))
	good := p.Claims("alice", "org_a")
	with := func(kv ...any) map[string]any {
		c := map[string]any{}
		for k, v := range good {
			c[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	want(t, s.do("GET", "/api/v1/api-keys", "", bearer(p.Sign("RS256", good))...), 200)
	now := time.Now()
	pubPEM := p.Key("RS256").PublicPEM()
	confused := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(good))
	confused.Header["kid"] = p.Key("RS256").Kid
	confusedTok, err := confused.SignedString(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, token, reason string
	}{
		{"wrong audience", p.Sign("RS256", with("aud", "another-api")), "token audience invalid"},
		{"wrong issuer", p.Sign("RS256", with("iss", "https://evil.example")), "token issuer unknown"},
		{"expired", p.Sign("ES256", with("exp", now.Add(-time.Hour).Unix())), "token expired"},
		{"not yet valid", p.Sign("RS256", with("nbf", now.Add(time.Hour).Unix())), "token not valid yet"},
		{"alg not allowed", p.Sign("EdDSA", good), "unexpected signing method"},
		{"key confusion", confusedTok, "unexpected signing method"},
		{"100 years", p.Sign("RS256", with("exp", now.AddDate(100, 0, 0).Unix())), "token lifetime exceeds max_ttl"},
		{"sub with newline", p.Sign("RS256", with("sub", "alice\nadmin")), "token sub invalid"},
		{"org with space", p.Sign("RS256", with("orgs", []string{"org_a "})), "token names an invalid organization id"},
		{"unknown kid", oidcprovider.SignWith(p.NewUnpublishedKey("ES256"), good, nil), "token kid unknown"},
	}
	var generic []byte
	for i, c := range cases {
		r := s.do("GET", "/api/v1/api-keys", "", "Authorization", "Bearer "+c.token, "X-Request-Id", fmt.Sprintf("e2e-refused-%d", i))
		rid := r.header.Get("X-Request-Id") // the server's: what an operator is given to look for
		if r.status != 401 {
			t.Fatalf("%s: status %d: %s", c.name, r.status, r.body)
		}
		if generic == nil {
			generic = r.body
		} else if string(r.body) != string(generic) {
			t.Errorf("%s: body %s differs from %s", c.name, r.body, generic)
		}
		var line string
		eventually(t, 5*time.Second, c.name+" logged", func() bool {
			for _, l := range strings.Split(s.logs(), "\n") {
				if strings.Contains(l, `"bearer token refused"`) && strings.Contains(l, `"request_id":"`+rid+`"`) {
					line = l
					return true
				}
			}
			return false
		})
		if !strings.Contains(line, `"reason":"`+c.reason+`"`) {
			t.Errorf("%s: log line %s lacks reason %q", c.name, line, c.reason)
		}
	}
	logs := s.logs()
	for _, c := range cases {
		if strings.Contains(logs, c.token) || strings.Contains(logs, strings.Split(c.token, ".")[2]) {
			t.Fatalf("%s: the token reached the log", c.name)
		}
	}
}

// TestIdentityProviderKeyRotation: a token naming an unknown kid makes the
// service fetch the key set (at most once per jwks_min_refresh) and accept
// it after the provider's rotation; the removed key's tokens are refused.
func TestIdentityProviderKeyRotation(t *testing.T) {
	p := newProvider(t)
	s := start(t, sqliteOnly(), issuerEnv(t, idpIssuer(p, "idp")), "APIKEYS_AUTH_JWKS_MIN_REFRESH=300ms")
	old := p.Key("RS256")
	oldTok := p.Sign("RS256", p.Claims("alice", "org_a"))
	want(t, s.do("GET", "/api/v1/api-keys", "", bearer(oldTok)...), 200)

	fresh := p.AddKey("RS256")
	p.RemoveKey(old.Kid)
	time.Sleep(300 * time.Millisecond)
	hits := p.JWKSHits()
	newTok := oidcprovider.SignWith(fresh, p.Claims("alice", "org_a"), nil)
	want(t, s.do("GET", "/api/v1/api-keys", "", bearer(newTok)...), 200)
	if got := p.JWKSHits() - hits; got != 1 {
		t.Fatalf("%d key-set fetches for the new kid, want 1", got)
	}
	want(t, s.do("GET", "/api/v1/api-keys", "", bearer(oldTok)...), 401)
	want(t, s.do("GET", "/api/v1/api-keys", "", bearer(oidcprovider.SignWith(old, p.Claims("bob", "org_a"), nil))...), 401)
	want(t, s.do("GET", "/api/v1/api-keys", "", bearer(newTok)...), 200)
}

type readyState struct {
	Status            string `json:"status"`
	IdentityProviders []struct {
		Name  string `json:"name"`
		State string `json:"state"`
		Keys  int    `json:"keys"`
	} `json:"identity_providers"`
}

func (s *server) ready(t *testing.T) readyState {
	t.Helper()
	r := s.do("GET", "/readyz", "")
	want(t, r, 200)
	var rs readyState
	if err := json.Unmarshal(r.body, &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestIdentityProviderDown: the service starts with the provider down (its
// tokens answered 503, /readyz still 200 and saying so), picks the keys up
// when it returns, and keeps verifying with them through a later outage.
func TestIdentityProviderDown(t *testing.T) {
	p := newProvider(t)
	p.SetDown(true)
	s := start(t, sqliteOnly(), issuerEnv(t, idpIssuer(p, "idp")),
		"APIKEYS_AUTH_JWKS_MIN_REFRESH=200ms", "APIKEYS_AUTH_JWKS_REFRESH=500ms", "APIKEYS_AUTH_HTTP_TIMEOUT=1s")
	tok := p.Sign("ES256", p.Claims("alice", "org_a"))
	r := s.do("GET", "/api/v1/api-keys", "", bearer(tok)...)
	want(t, r, 503)
	if code, _ := r.errorCode(t); code != "service_unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("provider down: %s %v", r.body, r.header)
	}
	eventually(t, 10*time.Second, "readyz names the provider unavailable", func() bool {
		rs := s.ready(t)
		return len(rs.IdentityProviders) == 1 && rs.IdentityProviders[0].State == "unavailable"
	})
	// API keys do not depend on the provider.
	dev := s.token("bob", "org_a")
	r = s.do("POST", "/api/v1/api-keys", `{"name":"k","scopes":["events:read"]}`, jsonBearer(dev)...)
	want(t, r, 201)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", r.json(t)["key"].(string)), 200)

	p.SetDown(false)
	eventually(t, 10*time.Second, "keys fetched once the provider is back", func() bool {
		return s.do("GET", "/api/v1/api-keys", "", bearer(tok)...).status == 200
	})
	if rs := s.ready(t); rs.IdentityProviders[0].State != "ok" || rs.IdentityProviders[0].Keys != 3 {
		t.Fatalf("readyz %+v", rs)
	}

	p.SetDown(true)
	eventually(t, 10*time.Second, "readyz says stale", func() bool { return s.ready(t).IdentityProviders[0].State == "stale" })
	want(t, s.do("GET", "/api/v1/api-keys", "", bearer(p.Sign("EdDSA", p.Claims("carol", "org_a")))...), 200)
}

// TestIdentityProviderClaimMapping: three providers, each with its own
// organizations claim shape, and required claims.
func TestIdentityProviderClaimMapping(t *testing.T) {
	kc, zit, a0 := newProvider(t), newProvider(t), newProvider(t)
	s := start(t, sqliteOnly(), issuerEnv(t,
		idpIssuer(kc, "keycloak", "organizations_claim", "organization",
			"required_claims", []map[string]any{{"claim": "realm_access.roles", "contains": "apikeys-admin"}}),
		idpIssuer(zit, "zitadel", "organizations_claim", "urn:zitadel:iam:org:id",
			"required_claims", []map[string]any{{"claim": "scope", "contains": "apikeys:manage"}}),
		idpIssuer(a0, "auth0", "organizations_claim", "https://apikeys.example/orgs",
			"required_claims", []map[string]any{{"claim": "email_verified", "equals": true}}),
	))
	mk := func(p *oidcprovider.Provider, sub string, kv ...any) string {
		c := p.Claims(sub)
		delete(c, "orgs")
		for i := 0; i < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return p.Sign("RS256", c)
	}
	kcTok := mk(kc, "u-1", "organization", map[string]any{"acme": map[string]any{"id": "1"}},
		"realm_access", map[string]any{"roles": []string{"apikeys-admin"}})
	zitTok := mk(zit, "2318", "urn:zitadel:iam:org:id", "231848297", "scope", "openid apikeys:manage")
	a0Tok := mk(a0, "auth0|abc", "https://apikeys.example/orgs", []string{"globex", "initech"}, "email_verified", true)
	for _, c := range []struct {
		tok, org, actor string
	}{
		{kcTok, "acme", "user:keycloak:u-1"},
		{zitTok, "231848297", "user:zitadel:2318"},
		{a0Tok, "initech", "user:auth0:auth0|abc"},
	} {
		r := s.do("POST", "/api/v1/api-keys", `{"name":"x","organization_id":"`+c.org+`","scopes":["events:read"]}`, jsonBearer(c.tok)...)
		want(t, r, 201)
		ev := s.auditLog("/api/v1/audit-logs?action=key.created&organization_id="+c.org, bearer(c.tok)...)
		if len(ev) != 1 || ev[0]["actor"] != c.actor {
			t.Fatalf("audit %v, want actor %s", ev, c.actor)
		}
		want(t, s.do("GET", "/api/v1/api-keys?organization_id=acme_other", "", bearer(c.tok)...), 403)
	}
	// Required claims missing.
	for _, tok := range []string{
		mk(kc, "u-1", "organization", map[string]any{"acme": map[string]any{}}, "realm_access", map[string]any{"roles": []string{"user"}}),
		mk(zit, "2318", "urn:zitadel:iam:org:id", "231848297", "scope", "openid"),
		mk(a0, "auth0|abc", "https://apikeys.example/orgs", []string{"globex"}, "email_verified", false),
	} {
		want(t, s.do("GET", "/api/v1/api-keys", "", bearer(tok)...), 401)
	}
}

// TestIdentityProviderIntrospection: an issuer with an RFC 7662 endpoint;
// opaque tokens active, inactive, cached and expired.
func TestIdentityProviderIntrospection(t *testing.T) {
	p := newProvider(t)
	s := start(t, sqliteOnly(), issuerEnv(t, map[string]any{
		"name": "okta", "issuer": p.Issuer(), "audiences": []string{oidcprovider.Audience},
		"introspection_url": p.IntrospectionURL(), "client_id": oidcprovider.ClientID, "client_secret": oidcprovider.ClientSecret,
	}), "APIKEYS_AUTH_INTROSPECTION_CACHE=2s")
	now := time.Now()
	answer := p.Claims("alice", "org_a")
	p.AddOpaque("opaque-token-active", answer)
	p.AddOpaque("opaque-token-expired", map[string]any{"iss": p.Issuer(), "aud": oidcprovider.Audience, "sub": "alice",
		"orgs": []string{"org_a"}, "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})

	r := s.do("POST", "/api/v1/api-keys", `{"name":"x","scopes":["events:read"]}`, jsonBearer("opaque-token-active")...)
	want(t, r, 201)
	ev := s.auditLog("/api/v1/audit-logs?action=key.created", bearer("opaque-token-active")...)
	if len(ev) != 1 || ev[0]["actor"] != "user:okta:alice" {
		t.Fatalf("audit %v", ev)
	}
	hits := p.IntrospectionHits()
	for i := 0; i < 5; i++ {
		want(t, s.do("GET", "/api/v1/api-keys", "", bearer("opaque-token-active")...), 200)
	}
	if p.IntrospectionHits() != hits {
		t.Fatalf("%d introspections for a cached token", p.IntrospectionHits()-hits)
	}
	// Revoked at the provider: refused once the cache entry (2s) is gone.
	p.RevokeOpaque("opaque-token-active")
	eventually(t, 10*time.Second, "revoked opaque token refused", func() bool {
		return s.do("GET", "/api/v1/api-keys", "", bearer("opaque-token-active")...).status == 401
	})
	want(t, s.do("GET", "/api/v1/api-keys", "", bearer("opaque-token-unknown")...), 401)
	want(t, s.do("GET", "/api/v1/api-keys", "", bearer("opaque-token-expired")...), 401)
	p.SetDown(true)
	p.AddOpaque("opaque-token-2", answer)
	want(t, s.do("GET", "/api/v1/api-keys", "", bearer("opaque-token-2")...), 503)
	p.SetDown(false)
	want(t, s.do("GET", "/api/v1/api-keys", "", bearer("opaque-token-2")...), 200)
}

// josePackage is the npm jose version the independent-implementation test
// installs (an exact version, so every run mints with the same code).
const josePackage = "jose@6.2.18"

const joseScript = `import * as jose from 'jose';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const r of JSON.parse(input)) {
  const key = await jose.importPKCS8(r.pkcs8, r.alg);
  out.push(await new jose.SignJWT(r.claims).setProtectedHeader({ alg: r.alg, kid: r.kid, typ: 'JWT' }).sign(key));
}
console.log(JSON.stringify(out));
`

// TestIndependentlyMintedTokens: tokens signed by the npm jose package, an
// implementation that shares no code with ours, are accepted.
func TestIndependentlyMintedTokens(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node and npm are required in CI to mint tokens with the jose package")
		}
		t.Skip("node or npm not found: skipping the tokens minted with npm jose")
	}
	dir := t.TempDir()
	install := exec.Command(npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", dir, josePackage)
	install.Env = append(os.Environ(), "npm_config_cache="+filepath.Join(dir, ".npm"))
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s: %v\n%s", josePackage, err, out)
	}
	script := filepath.Join(dir, "mint.mjs")
	if err := os.WriteFile(script, []byte(joseScript), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t)
	ps := p.AddKey("PS256")
	s := start(t, sqliteOnly(), issuerEnv(t, idpIssuer(p, "idp", "algorithms", []string{"RS256", "PS256", "ES256", "EdDSA"})))
	type req struct {
		Alg    string         `json:"alg"`
		Kid    string         `json:"kid"`
		PKCS8  string         `json:"pkcs8"`
		Claims map[string]any `json:"claims"`
	}
	var reqs []req
	for _, k := range []*oidcprovider.Key{p.Key("RS256"), ps, p.Key("ES256"), p.Key("EdDSA")} {
		reqs = append(reqs, req{Alg: k.Alg, Kid: k.Kid, PKCS8: k.PKCS8PEM(), Claims: p.Claims("jose-"+k.Alg, "org_jose")})
	}
	in, _ := json.Marshal(reqs)
	cmd := exec.Command(node, script)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node mint.mjs: %v", err)
	}
	var tokens []string
	if err := json.Unmarshal(out, &tokens); err != nil || len(tokens) != len(reqs) {
		t.Fatalf("jose output %s: %v", out, err)
	}
	for i, tok := range tokens {
		r := s.do("POST", "/api/v1/api-keys", `{"name":"jose","scopes":["events:read"]}`, jsonBearer(tok)...)
		if r.status != 201 {
			t.Fatalf("%s token minted by jose: %d %s", reqs[i].Alg, r.status, r.body)
		}
	}
	ev := s.auditLog("/api/v1/audit-logs?action=key.created", bearer(tokens[0])...)
	if len(ev) != len(tokens) {
		t.Fatalf("%d key.created events, want %d", len(ev), len(tokens))
	}
}
