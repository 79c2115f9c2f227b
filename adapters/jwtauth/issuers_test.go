package jwtauth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/test/oidcprovider"
)

func newProvider(t *testing.T) *oidcprovider.Provider {
	t.Helper()
	p := oidcprovider.New()
	t.Cleanup(p.Close)
	return p
}

// idpConfig is a JWKS issuer for p named "idp".
func idpConfig(p *oidcprovider.Provider) IssuerConfig {
	return IssuerConfig{Name: "idp", Issuer: p.Issuer(), JWKSURL: p.JWKSURL(), Audiences: []string{oidcprovider.Audience}}
}

// fastProviders are provider settings that refetch within tens of
// milliseconds, for tests.
func fastProviders(issuers ...IssuerConfig) ProvidersConfig {
	pc := DefaultProviders()
	pc.Issuers = issuers
	pc.JWKSMinRefresh = 20 * time.Millisecond
	pc.HTTPTimeout = 2 * time.Second
	return pc
}

func newIdPVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v.Start()
	t.Cleanup(v.Close)
	return v
}

func accept(t *testing.T, v *Verifier, token string) apikey.Principal {
	t.Helper()
	p, err := v.Verify(ctx, token)
	if err != nil {
		t.Fatalf("Verify refused: %v", err)
	}
	return p
}

func refuse(t *testing.T, v *Verifier, token, reason string) *Error {
	t.Helper()
	p, err := v.Verify(ctx, token)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Verify = %+v, %v; want refusal %q", p, err, reason)
	}
	if e.Reason != reason {
		t.Fatalf("Verify refused with %q, want %q", e.Reason, reason)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatal("error contains the token")
	}
	return e
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func claimsWith(c map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestIssuerAlgorithms(t *testing.T) {
	p := newProvider(t)
	ps := p.AddKey("PS256")
	v := newIdPVerifier(t, Config{Providers: fastProviders(idpConfig(p))})
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			pr := accept(t, v, p.Sign(alg, p.Claims("alice", "org_a")))
			if pr.Subject != "idp:alice" || pr.Actor() != "user:idp:alice" || !slices.Equal(pr.Organizations, []string{"org_a"}) {
				t.Fatalf("principal %+v", pr)
			}
		})
	}
	// PS256 only on request.
	psTok := oidcprovider.SignWith(ps, p.Claims("alice", "org_a"), nil)
	refuse(t, v, psTok, ReasonMethod)
	cfg := idpConfig(p)
	cfg.Algorithms = []string{"PS256"}
	psOnly := newIdPVerifier(t, Config{Providers: fastProviders(cfg)})
	accept(t, psOnly, psTok)
	refuse(t, psOnly, p.Sign("RS256", p.Claims("alice")), ReasonMethod)
	// An issuer allowing RS256 only refuses ES256 even with a published key.
	cfg.Algorithms = []string{"RS256"}
	rsOnly := newIdPVerifier(t, Config{Providers: fastProviders(cfg)})
	refuse(t, rsOnly, p.Sign("ES256", p.Claims("alice")), ReasonMethod)
	accept(t, rsOnly, p.Sign("RS256", p.Claims("alice")))
}

func TestIssuerProfile(t *testing.T) {
	p := newProvider(t)
	v := newIdPVerifier(t, Config{Providers: fastProviders(idpConfig(p)), Leeway: 30 * time.Second, MaxTTL: 24 * time.Hour})
	good := p.Claims("alice", "org_a")
	accept(t, v, p.Sign("RS256", good))
	now := time.Now()
	cases := map[string]struct {
		claims map[string]any
		reason string
	}{
		"wrong audience":   {claimsWith(good, "aud", "other"), ReasonAudience},
		"no audience":      {claimsWith(good, "aud", nil), ReasonNoAudience},
		"audience list":    {claimsWith(good, "aud", []any{"x", "y"}), ReasonAudience},
		"audience number":  {claimsWith(good, "aud", 7), ReasonAudience},
		"wrong issuer":     {claimsWith(good, "iss", "https://evil.example"), ReasonUnknownIssuer},
		"issuer suffix":    {claimsWith(good, "iss", p.Issuer()+"/"), ReasonUnknownIssuer},
		"no issuer":        {claimsWith(good, "iss", nil), ReasonUnknownIssuer},
		"expired":          {claimsWith(good, "exp", now.Add(-time.Minute).Unix()), ReasonExpired},
		"no exp":           {claimsWith(good, "exp", nil), ReasonNoExp},
		"exp as string":    {claimsWith(good, "exp", "9999999999"), ReasonDateType},
		"nbf in future":    {claimsWith(good, "nbf", now.Add(time.Hour).Unix()), ReasonNotYetValid},
		"iat in future":    {claimsWith(good, "iat", now.Add(time.Hour).Unix(), "exp", now.Add(2*time.Hour).Unix()), ReasonIssuedInFuture},
		"no iat":           {claimsWith(good, "iat", nil), ReasonNoIssuedAt},
		"100 years":        {claimsWith(good, "exp", now.AddDate(100, 0, 0).Unix()), ReasonLifetime},
		"25 hours":         {claimsWith(good, "exp", now.Add(25*time.Hour-2*time.Minute).Unix(), "iat", now.Add(-time.Minute).Unix()), ReasonLifetime},
		"no sub":           {claimsWith(good, "sub", nil), ReasonNoSubject},
		"sub newline":      {claimsWith(good, "sub", "alice\nbob"), ReasonSubject},
		"sub bidi":         {claimsWith(good, "sub", "alice\u202e"), ReasonSubject},
		"sub zero width":   {claimsWith(good, "sub", "al\u200bice"), ReasonSubject},
		"sub too long":     {claimsWith(good, "sub", strings.Repeat("a", MaxSubjectLen-len("idp:")+1)), ReasonSubject},
		"org trailing sp":  {claimsWith(good, "orgs", []any{"org_A "}), ReasonOrganization},
		"org nbsp":         {claimsWith(good, "orgs", []any{"org_A\u00a0"}), ReasonOrganization},
		"org NUL":          {claimsWith(good, "orgs", []any{"org\x00"}), ReasonOrganization},
		"org too long":     {claimsWith(good, "orgs", []any{strings.Repeat("o", 129)}), ReasonOrganization},
		"orgs number":      {claimsWith(good, "orgs", 7), ReasonOrgsType},
		"orgs numbers":     {claimsWith(good, "orgs", []any{1}), ReasonOrgsType},
		"fractional dates": {claimsWith(good, "exp", float64(now.Add(-time.Hour).Unix())+0.5), ReasonExpired},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := refuse(t, v, p.Sign("RS256", c.claims), c.reason)
			if c.reason != ReasonUnknownIssuer && e.Issuer != "idp" {
				t.Errorf("refusal names issuer %q", e.Issuer)
			}
		})
	}
	// The longest subject that fits, issuer prefix included.
	accept(t, v, p.Sign("RS256", claimsWith(good, "sub", strings.Repeat("a", MaxSubjectLen-len("idp:")))))
	// Leeway: expired 10s ago, nbf 10s ahead.
	accept(t, v, p.Sign("RS256", claimsWith(good, "exp", now.Add(-10*time.Second).Unix())))
	accept(t, v, p.Sign("RS256", claimsWith(good, "nbf", now.Add(10*time.Second).Unix())))
}

// TestKeyConfusion signs HS256 tokens with the RSA public key as the HMAC
// secret, the classic attack on verifiers that take the alg from the token.
func TestKeyConfusion(t *testing.T) {
	p := newProvider(t)
	pub := p.Key("RS256").PublicPEM()
	for name, cfg := range map[string]Config{
		"issuer only":        {Providers: fastProviders(idpConfig(p))},
		"issuer and secret":  {Secret: secret, Providers: fastProviders(idpConfig(p))},
		"secret is the PEM?": {Secret: secret, Providers: fastProviders(idpConfig(p)), Leeway: time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			v := newIdPVerifier(t, cfg)
			c := p.Claims("alice", "org_a")
			forged := sign(t, jwt.SigningMethodHS256, pub, c)
			refuse(t, v, forged, ReasonMethod)
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(c))
			tok.Header["kid"] = p.Key("RS256").Kid
			s, err := tok.SignedString(pub)
			if err != nil {
				t.Fatal(err)
			}
			refuse(t, v, s, ReasonMethod)
			noIss := sign(t, jwt.SigningMethodHS256, pub, claimsWith(c, "iss", nil))
			if cfg.Secret != nil {
				refuse(t, v, noIss, ReasonSignature) // the HS256 issuer's secret is not the PEM
			} else {
				refuse(t, v, noIss, ReasonUnknownIssuer)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	p := newProvider(t)
	pc := fastProviders(idpConfig(p))
	pc.JWKSMinRefresh = 300 * time.Millisecond
	v := newIdPVerifier(t, Config{Providers: pc})
	old := p.Key("RS256")
	oldTok := p.Sign("RS256", p.Claims("alice", "org_a"))
	accept(t, v, oldTok)
	hits := p.JWKSHits()

	// Rotation: a new key appears and the old one goes. The new key's
	// first token triggers one fetch, once the rate limit allows, and is
	// accepted; from then on the old key's tokens are refused, even one
	// proven (and remembered) before.
	fresh := p.AddKey("RS256")
	p.RemoveKey(old.Kid)
	time.Sleep(pc.JWKSMinRefresh)
	newTok := oidcprovider.SignWith(fresh, p.Claims("bob", "org_a"), nil)
	accept(t, v, newTok)
	if got := p.JWKSHits() - hits; got != 1 {
		t.Fatalf("%d fetches for one unknown kid, want 1", got)
	}
	refuse(t, v, oidcprovider.SignWith(old, p.Claims("carol", "org_a"), nil), ReasonUnknownKid)
	refuse(t, v, oldTok, ReasonUnknownKid)
	accept(t, v, newTok)

	// Rate limit: unknown kids within the minimum interval fetch nothing.
	hits = p.JWKSHits()
	stranger := p.NewUnpublishedKey("EdDSA")
	for i := 0; i < 20; i++ {
		refuse(t, v, oidcprovider.SignWith(stranger, p.Claims("eve"), map[string]any{"kid": fmt.Sprint("stranger-", i)}), ReasonUnknownKid)
	}
	if got := p.JWKSHits() - hits; got > 1 {
		t.Fatalf("%d fetches for 20 unknown kids within the minimum interval", got)
	}
}

// TestRemovedKeyAtBackgroundRefresh checks a key dropped from the set
// stops verifying at the next periodic fetch, without any unknown kid.
func TestRemovedKeyAtBackgroundRefresh(t *testing.T) {
	p := newProvider(t)
	pc := fastProviders(idpConfig(p))
	pc.JWKSRefresh = 100 * time.Millisecond
	v := newIdPVerifier(t, Config{Providers: pc})
	k := p.Key("ES256")
	tok := p.Sign("ES256", p.Claims("alice", "org_a"))
	accept(t, v, tok)
	p.RemoveKey(k.Kid)
	eventually(t, "the removed key's token refused", func() bool {
		_, err := v.Verify(ctx, tok)
		return err != nil
	})
	refuse(t, v, tok, ReasonUnknownKid)
}

func TestKidRules(t *testing.T) {
	p := newProvider(t)
	v := newIdPVerifier(t, Config{Providers: fastProviders(idpConfig(p))})
	k := p.Key("ES256")
	refuse(t, v, oidcprovider.SignWith(k, p.Claims("alice"), map[string]any{"kid": nil}), ReasonNoKid)
	refuse(t, v, oidcprovider.SignWith(k, p.Claims("alice"), map[string]any{"kid": 42}), ReasonMalformed)

	// One key in the set: kid may be left out.
	p.SetKeys(k)
	single := newIdPVerifier(t, Config{Providers: fastProviders(idpConfig(p))})
	accept(t, single, oidcprovider.SignWith(k, p.Claims("alice"), map[string]any{"kid": nil}))

	// A token naming a published kid with another key's algorithm.
	rs := p.AddKey("RS256")
	mixed := newIdPVerifier(t, Config{Providers: fastProviders(idpConfig(p))})
	forged := oidcprovider.SignWith(rs, p.Claims("alice"), map[string]any{"kid": k.Kid})
	refuse(t, mixed, forged, ReasonKeyMismatch)
}

// TestKeyHeadersIgnored checks jku, x5u, jwk and x5c never lead to a key.
func TestKeyHeadersIgnored(t *testing.T) {
	p := newProvider(t)
	var evilHits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { evilHits.Add(1) }))
	t.Cleanup(evil.Close)
	v := newIdPVerifier(t, Config{Providers: fastProviders(idpConfig(p))})
	attacker := p.NewUnpublishedKey("EdDSA")
	pub := attacker.Private.Public()
	jwk := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub.(ed25519.PublicKey)), "kid": attacker.Kid}
	for name, h := range map[string]map[string]any{
		"jku": {"jku": evil.URL + "/jwks"},
		"x5u": {"x5u": evil.URL + "/cert.pem"},
		"jwk": {"jwk": jwk},
		"x5c": {"x5c": []string{"MIIB"}},
	} {
		t.Run(name, func(t *testing.T) {
			refuse(t, v, oidcprovider.SignWith(attacker, p.Claims("mallory", "org_a"), h), ReasonUnknownKid)
		})
	}
	if evilHits.Load() != 0 {
		t.Fatalf("the verifier fetched %d URLs named by tokens", evilHits.Load())
	}
}

func TestProviderDownAtStart(t *testing.T) {
	p := newProvider(t)
	p.SetDown(true)
	v := newIdPVerifier(t, Config{Providers: fastProviders(idpConfig(p))})
	tok := p.Sign("RS256", p.Claims("alice", "org_a"))
	e := refuse(t, v, tok, ReasonKeysUnavailable)
	if !e.Unavailable || !errors.Is(e, apikey.ErrUnavailable) || errors.Is(e, apikey.ErrUnauthenticated) {
		t.Fatalf("refusal %+v is not an outage", e)
	}
	eventually(t, "health unavailable", func() bool { return v.Health()[0].State == StateUnavailable })
	p.SetDown(false)
	eventually(t, "keys fetched once the provider is back", func() bool { return v.Health()[0].State == StateOK })
	accept(t, v, tok)
	if h := v.Health()[0]; h.Keys != 3 || h.Name != "idp" || h.Issuer != p.Issuer() || h.LastRefresh == nil {
		t.Fatalf("health %+v", h)
	}
}

func TestProviderDownDuringOperation(t *testing.T) {
	p := newProvider(t)
	pc := fastProviders(idpConfig(p))
	pc.JWKSRefresh = 50 * time.Millisecond
	pc.JWKSMaxStale = time.Hour
	v := newIdPVerifier(t, Config{Providers: pc})
	accept(t, v, p.Sign("ES256", p.Claims("alice", "org_a")))
	p.SetDown(true)
	eventually(t, "health stale", func() bool { return v.Health()[0].State == StateStale })
	// Keys kept: new tokens of known keys still verify.
	accept(t, v, p.Sign("EdDSA", p.Claims("bob", "org_a")))
	cached := p.Sign("RS256", p.Claims("carol", "org_a"))
	accept(t, v, cached)

	// Past the maximum age, nothing of this issuer verifies, not even a
	// token proven before.
	later := time.Now().Add(pc.JWKSMaxStale + time.Minute)
	v.setNow(func() time.Time { return later })
	long := p.Sign("RS256", claimsWith(p.Claims("dave"), "exp", later.Add(time.Hour).Unix()))
	refuse(t, v, long, ReasonKeysUnavailable)
	if h := v.Health()[0]; h.State != StateExpired {
		t.Fatalf("health %+v", h)
	}
	v.setNow(nil)
	p.SetDown(false)
	eventually(t, "health ok", func() bool { return v.Health()[0].State == StateOK })
	accept(t, v, cached)
}

func TestDiscovery(t *testing.T) {
	p := newProvider(t)
	cfg := idpConfig(p)
	cfg.JWKSURL, cfg.Discovery = "", true
	v := newIdPVerifier(t, Config{Providers: fastProviders(cfg)})
	accept(t, v, p.Sign("EdDSA", p.Claims("alice", "org_a")))
	if p.DiscoveryHits() == 0 {
		t.Fatal("discovery document not read")
	}

	// A discovery document naming another issuer is refused.
	wrong := cfg
	wrong.Issuer = p.Issuer() + "/"
	w := newIdPVerifier(t, Config{Providers: fastProviders(wrong)})
	tok := p.Sign("EdDSA", claimsWith(p.Claims("alice"), "iss", wrong.Issuer))
	refuse(t, w, tok, ReasonKeysUnavailable)
}

func TestKeySetLimits(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"keys":[`))
		pad := strings.Repeat(" ", 64<<10)
		for i := 0; i < 20; i++ {
			w.Write([]byte(pad))
		}
		w.Write([]byte(`]}`))
	}))
	t.Cleanup(big.Close)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	for name, url := range map[string]string{"over 1 MiB": big.URL, "slower than the timeout": slow.URL} {
		t.Run(name, func(t *testing.T) {
			pc := fastProviders(IssuerConfig{Name: "x", Issuer: "https://x.example", JWKSURL: url, Audiences: []string{"a"}})
			pc.HTTPTimeout = 200 * time.Millisecond
			v := newIdPVerifier(t, Config{Providers: pc})
			eventually(t, "fetch failed", func() bool { return v.Health()[0].State == StateUnavailable })
		})
	}
}

func TestClaimMapping(t *testing.T) {
	p := newProvider(t)
	cases := []struct {
		name string
		path string
		val  any
		want []string
	}{
		{"array", "orgs", []any{"org_a", "org_b"}, []string{"org_a", "org_b"}},
		{"string (Zitadel)", "urn:zitadel:iam:org:id", "231848297847848", []string{"231848297847848"}},
		{"object keys (Keycloak)", "organization", map[string]any{"acme": map[string]any{"id": "42"}, "globex": map[string]any{}}, []string{"acme", "globex"}},
		{"nested path", "app_metadata.orgs", []any{"org_n"}, []string{"org_n"}},
		{"namespaced claim (Auth0)", "https://apikeys.example/orgs", []any{"org_x"}, []string{"org_x"}},
		{"absent", "orgs", nil, []string{}},
		{"empty array", "orgs", []any{}, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := idpConfig(p)
			cfg.OrganizationsClaim = c.path
			v := newIdPVerifier(t, Config{Providers: fastProviders(cfg)})
			claims := claimsWith(p.Claims("alice"), "orgs", nil)
			if c.val != nil {
				if head, tail, nested := strings.Cut(c.path, "."); nested && !strings.Contains(c.path, "/") {
					claims[head] = map[string]any{tail: c.val}
				} else {
					claims[c.path] = c.val
				}
			}
			got := accept(t, v, p.Sign("RS256", claims)).Organizations
			if c.name == "object keys (Keycloak)" {
				slices.Sort(got)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("organizations %q, want %q", got, c.want)
			}
		})
	}
	// Object keys must be organization ids too.
	cfg := idpConfig(p)
	cfg.OrganizationsClaim = "organization"
	v := newIdPVerifier(t, Config{Providers: fastProviders(cfg)})
	refuse(t, v, p.Sign("RS256", claimsWith(p.Claims("a"), "organization", map[string]any{"bad org": true})), ReasonOrganization)

	// Another subject claim.
	cfg = idpConfig(p)
	cfg.SubjectClaim = "preferred_username"
	v = newIdPVerifier(t, Config{Providers: fastProviders(cfg)})
	if pr := accept(t, v, p.Sign("RS256", claimsWith(p.Claims("uuid-1"), "preferred_username", "alice"))); pr.Subject != "idp:alice" {
		t.Fatalf("subject %q", pr.Subject)
	}
	refuse(t, v, p.Sign("RS256", p.Claims("uuid-1")), ReasonNoSubject)
}

func TestRequiredClaims(t *testing.T) {
	p := newProvider(t)
	cfg := idpConfig(p)
	cfg.RequiredClaims = []RequiredClaim{
		{Claim: "scope", Contains: "apikeys:manage"},
		{Claim: "realm_access.roles", Contains: "key-admin"},
		{Claim: "urn:zitadel:iam:org:project:roles", Contains: "manager"},
		{Claim: "email_verified", Equals: true},
		{Claim: "tier", Equals: 2},
	}
	v := newIdPVerifier(t, Config{Providers: fastProviders(cfg)})
	good := claimsWith(p.Claims("alice", "org_a"),
		"scope", "openid apikeys:manage profile",
		"realm_access", map[string]any{"roles": []any{"user", "key-admin"}},
		"urn:zitadel:iam:org:project:roles", map[string]any{"manager": map[string]any{"123": "acme.example"}},
		"email_verified", true, "tier", 2.0)
	accept(t, v, p.Sign("RS256", good))
	for name, c := range map[string]map[string]any{
		"scope missing":      claimsWith(good, "scope", nil),
		"scope substring":    claimsWith(good, "scope", "openid apikeys:manager"),
		"scope as array ok?": claimsWith(good, "scope", []any{"apikeys:manage"}), // arrays are accepted: see below
		"role missing":       claimsWith(good, "realm_access", map[string]any{"roles": []any{"user"}}),
		"role object":        claimsWith(good, "urn:zitadel:iam:org:project:roles", map[string]any{"viewer": map[string]any{}}),
		"not verified":       claimsWith(good, "email_verified", false),
		"verified as string": claimsWith(good, "email_verified", "true"),
		"tier":               claimsWith(good, "tier", 3),
	} {
		t.Run(name, func(t *testing.T) {
			if name == "scope as array ok?" {
				accept(t, v, p.Sign("RS256", c))
				return
			}
			refuse(t, v, p.Sign("RS256", c), ReasonRequiredClaim)
		})
	}
}

func TestStrictParsing(t *testing.T) {
	p := newProvider(t)
	v := newIdPVerifier(t, Config{Secret: secret, Providers: fastProviders(idpConfig(p)), MaxTTL: 24 * time.Hour})
	exp := time.Now().Add(time.Hour).Unix()
	iat := time.Now().Add(-time.Minute).Unix()
	dates := `"iat":` + itoa(iat) + `,"exp":` + itoa(exp)
	hs := func(header, payload string) string { return hmacToken(header, payload, secret) }
	accept(t, v, hs(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"u","orgs":["org_A"],`+dates+`}`))

	// {"orgs":["org_A"],"ORGS":["org_B"]} acts for org_A only.
	pr := accept(t, v, hs(`{"alg":"HS256"}`, `{"sub":"u","orgs":["org_A"],"ORGS":["org_B"],`+dates+`}`))
	if !slices.Equal(pr.Organizations, []string{"org_A"}) {
		t.Fatalf("organizations %q", pr.Organizations)
	}
	pr = accept(t, v, hs(`{"alg":"HS256"}`, `{"sub":"u","Orgs":["org_B"],`+dates+`}`))
	if len(pr.Organizations) != 0 {
		t.Fatalf("Orgs read as orgs: %q", pr.Organizations)
	}
	refuse(t, v, hs(`{"alg":"HS256"}`, `{"sub":"u","orgs":[],"iat":`+itoa(iat)+`,"EXP":`+itoa(exp)+`}`), ReasonNoExp)
	refuse(t, v, hs(`{"alg":"HS256"}`, `{"SUB":"u","orgs":[],`+dates+`}`), ReasonNoSubject)
	refuse(t, v, hs(`{"alg":"HS256"}`, `{"sub":"u","iat":`+itoa(iat)+`,"exp":"`+itoa(exp)+`"}`), ReasonDateType)
	refuse(t, v, hs(`{"alg":"HS256"}`, `{"sub":"u","iat":"`+itoa(iat)+`","exp":`+itoa(exp)+`}`), ReasonDateType)
	refuse(t, v, hs(`{"alg":"HS256"}`, `{"sub":"u","nbf":true,`+dates+`}`), ReasonDateType)
	refuse(t, v, hs(`{"alg":"HS256"}`, `{"sub":"u","iat":`+itoa(iat)+`,"exp":1e400}`), ReasonDateType)

	// Repeated members, at the top or deeper, in the payload or header.
	for name, tok := range map[string]string{
		"sub twice":         hs(`{"alg":"HS256"}`, `{"sub":"u","sub":"admin",`+dates+`}`),
		"orgs twice":        hs(`{"alg":"HS256"}`, `{"sub":"u","orgs":["org_A"],"orgs":["org_B"],`+dates+`}`),
		"exp twice":         hs(`{"alg":"HS256"}`, `{"sub":"u",`+dates+`,"exp":99999999999}`),
		"nested":            hs(`{"alg":"HS256"}`, `{"sub":"u","x":{"a":1,"a":2},`+dates+`}`),
		"escaped duplicate": hs(`{"alg":"HS256"}`, `{"sub":"u","s\u0075b":"admin",`+dates+`}`),
		"header alg twice":  hs(`{"alg":"none","alg":"HS256"}`, `{"sub":"u",`+dates+`}`),
		"trailing data":     hs(`{"alg":"HS256"}`, `{"sub":"u",`+dates+`} {}`),
		"invalid UTF-8":     hs(`{"alg":"HS256"}`, "{\"sub\":\"u\xff\","+dates+"}"),
		"array payload":     hs(`{"alg":"HS256"}`, `["sub"]`),
	} {
		t.Run(name, func(t *testing.T) { refuse(t, v, tok, ReasonMalformed) })
	}

	// crit is never understood; typ must say JWT.
	refuse(t, v, hs(`{"alg":"HS256","crit":["exp"],"exp":1}`, `{"sub":"u",`+dates+`}`), ReasonCrit)
	refuse(t, v, hs(`{"alg":"HS256","crit":[]}`, `{"sub":"u",`+dates+`}`), ReasonCrit)
	for _, typ := range []string{"JWT", "jwt", "at+jwt", "AT+JWT", "application/jwt", "application/at+jwt"} {
		accept(t, v, hs(`{"alg":"HS256","typ":"`+typ+`"}`, `{"sub":"u",`+dates+`}`))
	}
	for _, typ := range []string{`"JOSE"`, `"JWS"`, `"secevent+jwt"`, `""`, `1`, `null`} {
		if typ == `null` {
			accept(t, v, hs(`{"alg":"HS256","typ":null}`, `{"sub":"u",`+dates+`}`))
			continue
		}
		refuse(t, v, hs(`{"alg":"HS256","typ":`+typ+`}`, `{"sub":"u",`+dates+`}`), ReasonType)
	}

	// max_ttl: exp - iat at most 24h, and iat required.
	refuse(t, v, hs(`{"alg":"HS256"}`, `{"sub":"u","exp":`+itoa(exp)+`}`), ReasonNoIssuedAt)
	refuse(t, v, hs(`{"alg":"HS256"}`, `{"sub":"u","iat":`+itoa(iat)+`,"exp":`+itoa(time.Now().AddDate(100, 0, 0).Unix())+`}`), ReasonLifetime)
}

func TestHS256SubjectsCannotImpersonateIssuers(t *testing.T) {
	p := newProvider(t)
	v := newIdPVerifier(t, Config{Secret: secret, Providers: fastProviders(idpConfig(p))})
	tok := sign(t, jwt.SigningMethodHS256, secret, with(valid(), "sub", "idp:alice", "iat", time.Now().Unix(), "exp", time.Now().Add(time.Hour).Unix()))
	refuse(t, v, tok, ReasonSubjectReserved)
	if _, err := v.Mint("idp:alice", []string{"org_a"}, time.Hour, time.Now()); err == nil {
		t.Fatal("Mint made a token whose actor is an identity provider's user")
	}
	pr := accept(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "sub", "other:alice", "iat", time.Now().Unix(), "exp", time.Now().Add(time.Hour).Unix())))
	if pr.Actor() != "user:other:alice" {
		t.Fatalf("actor %q", pr.Actor())
	}
	// The HS256 issuer keeps the bare subject: user:<sub>.
	tok, err := v.Mint("alice", []string{"org_a"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if pr := accept(t, v, tok); pr.Actor() != "user:alice" {
		t.Fatalf("actor %q", pr.Actor())
	}
}

func TestTokenCache(t *testing.T) {
	p := newProvider(t)
	v := newIdPVerifier(t, Config{Providers: fastProviders(idpConfig(p))})
	tok := p.Sign("RS256", p.Claims("alice", "org_a"))
	first := accept(t, v, tok)
	first.Organizations[0] = "mutated"
	if again := accept(t, v, tok); again.Organizations[0] != "org_a" {
		t.Fatal("a caller's change to a principal reached the cache")
	}
	// A remembered token still expires.
	later := time.Now().Add(2 * time.Hour)
	v.setNow(func() time.Time { return later })
	refuse(t, v, tok, ReasonExpired)
}

func TestProvidersValidate(t *testing.T) {
	base := IssuerConfig{Name: "kc", Issuer: "https://id.example/realms/acme", Discovery: true, Audiences: []string{"apikeys"}}
	cases := map[string]struct {
		mod  func(*IssuerConfig)
		want string
	}{
		"no audience":       {func(c *IssuerConfig) { c.Audiences = nil }, "auth.issuers[0].audiences:"},
		"HS256":             {func(c *IssuerConfig) { c.Algorithms = []string{"HS256"} }, "auth.issuers[0].algorithms[0]:"},
		"none":              {func(c *IssuerConfig) { c.Algorithms = []string{"RS256", "none"} }, "auth.issuers[0].algorithms[1]:"},
		"both key sources":  {func(c *IssuerConfig) { c.JWKSURL = "https://id.example/jwks" }, "auth.issuers[0].jwks_url:"},
		"no key source":     {func(c *IssuerConfig) { c.Discovery = false }, "auth.issuers[0].jwks_url:"},
		"no name":           {func(c *IssuerConfig) { c.Name = "" }, "auth.issuers[0].name:"},
		"name with colon":   {func(c *IssuerConfig) { c.Name = "a:b" }, "auth.issuers[0].name:"},
		"no issuer":         {func(c *IssuerConfig) { c.Issuer = "" }, "auth.issuers[0].issuer:"},
		"http issuer":       {func(c *IssuerConfig) { c.Issuer = "http://id.example" }, "auth.issuers[0].issuer:"},
		"bad claim path":    {func(c *IssuerConfig) { c.OrganizationsClaim = "a..b" }, "auth.issuers[0].organizations_claim:"},
		"required no value": {func(c *IssuerConfig) { c.RequiredClaims = []RequiredClaim{{Claim: "scope"}} }, "auth.issuers[0].required_claims[0]:"},
		"required object":   {func(c *IssuerConfig) { c.RequiredClaims = []RequiredClaim{{Claim: "x", Equals: []any{1}}} }, "auth.issuers[0].required_claims[0].equals:"},
		"introspection id":  {func(c *IssuerConfig) { c.IntrospectionURL = "https://id.example/introspect" }, "auth.issuers[0].client_id:"},
		"credentials alone": {func(c *IssuerConfig) { c.ClientID = "x" }, "auth.issuers[0].client_id:"},
		"introspection both": {func(c *IssuerConfig) {
			c.IntrospectionURL, c.ClientID, c.ClientSecret, c.ClientSecretFile = "https://x/i", "id", "s", "/f"
		}, "auth.issuers[0].client_secret:"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ic := base
			c.mod(&ic)
			pc := DefaultProviders()
			pc.Issuers = []IssuerConfig{ic}
			err := pc.Validate("auth.", true)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want %q", err, c.want)
			}
		})
	}
	pc := DefaultProviders()
	pc.Issuers = []IssuerConfig{base}
	if err := pc.Validate("auth.", true); err != nil {
		t.Fatalf("valid issuer refused: %v", err)
	}
	other := base
	other.Issuer = "https://other.example"
	pc.Issuers = []IssuerConfig{base, other}
	if err := pc.Validate("auth.", true); err == nil || !strings.Contains(err.Error(), "auth.issuers[1].name:") {
		t.Fatalf("duplicate names: %v", err)
	}
	a, b := base, base
	a.IntrospectionURL, a.ClientID, a.ClientSecret = "https://a/i", "id", "s"
	b.Name, b.Issuer, b.IntrospectionURL, b.ClientID, b.ClientSecret = "b", "https://b.example", "https://b/i", "id", "s"
	pc.Issuers = []IssuerConfig{a, b}
	if err := pc.Validate("auth.", true); err == nil || !strings.Contains(err.Error(), "auth.issuers[1].introspection_url:") {
		t.Fatalf("two introspecting issuers: %v", err)
	}
	// Plain http: towards loopback always, elsewhere outside production only.
	h := base
	h.Issuer = "http://127.0.0.1:8081/realms/acme"
	pc.Issuers = []IssuerConfig{h}
	if err := pc.Validate("auth.", true); err != nil {
		t.Fatalf("loopback http refused: %v", err)
	}
	h.Issuer = "http://keycloak:8080/realms/acme"
	pc.Issuers = []IssuerConfig{h}
	if err := pc.Validate("auth.", false); err != nil {
		t.Fatalf("http outside production refused: %v", err)
	}
	pc = DefaultProviders()
	pc.JWKSMaxStale = time.Minute
	if err := pc.Validate("auth.", false); err == nil || !strings.Contains(err.Error(), "auth.jwks_max_stale:") {
		t.Fatalf("max stale below refresh: %v", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without any issuer succeeded")
	}
}

func TestIntrospection(t *testing.T) {
	p := newProvider(t)
	cfg := IssuerConfig{Name: "okta", Issuer: p.Issuer(), Audiences: []string{oidcprovider.Audience},
		IntrospectionURL: p.IntrospectionURL(), ClientID: oidcprovider.ClientID, ClientSecret: oidcprovider.ClientSecret}
	pc := fastProviders(cfg)
	pc.IntrospectionCache = time.Minute
	v := newIdPVerifier(t, Config{Providers: pc, MaxTTL: 24 * time.Hour})
	now := time.Now()
	answer := claimsWith(p.Claims("alice", "org_a"), "exp", now.Add(30*time.Minute).Unix())
	p.AddOpaque("opaque-active-1", answer)

	pr := accept(t, v, "opaque-active-1")
	if pr.Subject != "okta:alice" || !slices.Equal(pr.Organizations, []string{"org_a"}) {
		t.Fatalf("principal %+v", pr)
	}
	// Cached: no second request, until the cache duration passes.
	hits := p.IntrospectionHits()
	accept(t, v, "opaque-active-1")
	if p.IntrospectionHits() != hits {
		t.Fatal("an active answer was not reused")
	}
	p.RevokeOpaque("opaque-active-1")
	v.setNow(func() time.Time { return now.Add(pc.IntrospectionCache + time.Second) })
	refuse(t, v, "opaque-active-1", ReasonInactive)
	v.setNow(nil)

	// Never cached past the token's exp.
	p.AddOpaque("opaque-short", claimsWith(answer, "exp", now.Add(10*time.Second).Unix()))
	accept(t, v, "opaque-short")
	v.setNow(func() time.Time { return now.Add(11 * time.Second) })
	refuse(t, v, "opaque-short", ReasonExpired)
	v.setNow(nil)

	refuse(t, v, "opaque-unknown", ReasonInactive)
	p.AddOpaque("opaque-expired", claimsWith(answer, "exp", now.Add(-time.Hour).Unix(), "iat", now.Add(-2*time.Hour).Unix()))
	refuse(t, v, "opaque-expired", ReasonExpired)
	p.AddOpaque("opaque-other-aud", claimsWith(answer, "aud", "someone-else"))
	refuse(t, v, "opaque-other-aud", ReasonAudience)
	p.AddOpaque("opaque-other-iss", claimsWith(answer, "iss", "https://evil.example"))
	refuse(t, v, "opaque-other-iss", ReasonIssuer)
	p.AddOpaque("opaque-no-iss", claimsWith(answer, "iss", nil))
	accept(t, v, "opaque-no-iss")
	refuse(t, v, "not an opaque token!", ReasonMalformed)

	// A JWT of an issuer without a key set is introspected too.
	jwtTok := p.Sign("RS256", answer)
	p.AddOpaque(jwtTok, answer)
	accept(t, v, jwtTok)

	// Provider down, or our credentials refused: an outage, not a bad token.
	p.AddOpaque("opaque-active-2", answer)
	p.SetDown(true)
	if e := refuse(t, v, "opaque-active-2", ReasonIntrospection); !errors.Is(e, apikey.ErrUnavailable) {
		t.Fatal("introspection outage is not ErrUnavailable")
	}
	p.SetDown(false)
	bad := cfg
	bad.ClientSecret = "wrong-secret"
	w := newIdPVerifier(t, Config{Providers: fastProviders(bad)})
	refuse(t, w, "opaque-active-2", ReasonIntrospection)
	if h := v.Health(); len(h) != 1 || h[0].State != StateIntrospection {
		t.Fatalf("health %+v", h)
	}
}

func TestErrorLogValue(t *testing.T) {
	e := &Error{Reason: ReasonExpired, Issuer: "kc"}
	b, _ := json.Marshal(map[string]any{"group": e.LogValue().Group()[0].Value.String()})
	if !strings.Contains(string(b), ReasonExpired) || !strings.Contains(e.Error(), "kc") {
		t.Fatalf("%s / %s", b, e.Error())
	}
}

// BenchmarkVerifyFirstSight measures the verification of a token not seen
// before (the cache entry is dropped before each call): parsing, key
// lookup, signature, claims.
func BenchmarkVerifyFirstSight(b *testing.B) {
	p := oidcprovider.New()
	b.Cleanup(p.Close)
	v, err := New(Config{Secret: secret, MaxTTL: 24 * time.Hour, Providers: fastProviders(idpConfig(p))})
	if err != nil {
		b.Fatal(err)
	}
	hs, err := v.Mint("alice", []string{"org_a", "org_b"}, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, tok string }{
		{"hs256", hs},
		{"rs256", p.Sign("RS256", p.Claims("alice", "org_a", "org_b"))},
		{"es256", p.Sign("ES256", p.Claims("alice", "org_a", "org_b"))},
		{"eddsa", p.Sign("EdDSA", p.Claims("alice", "org_a", "org_b"))},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := sha256.Sum256([]byte(c.tok))
			b.ReportAllocs()
			for b.Loop() {
				v.cache.Invalidate(h)
				if _, err := v.Verify(ctx, c.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
