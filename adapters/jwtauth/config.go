package jwtauth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ProvidersConfig is the auth section of the configuration: the identity
// providers whose tokens may call the management API, and how their keys
// and introspection answers are fetched and cached. Its koanf tags are the
// setting names (auth.issuers, auth.jwks_refresh, ...).
type ProvidersConfig struct {
	// Issuers lists the identity providers, each an issuer of its own.
	Issuers []IssuerConfig `koanf:"issuers"`
	// JWKSRefresh is how often each issuer's key set is fetched again.
	JWKSRefresh time.Duration `koanf:"jwks_refresh"`
	// JWKSMinRefresh is the shortest time between two fetches of one key
	// set: a token naming an unknown kid triggers a fetch at most this
	// often, and a failed fetch is retried after it.
	JWKSMinRefresh time.Duration `koanf:"jwks_min_refresh"`
	// JWKSMaxStale is how long a key set keeps verifying tokens after its
	// last successful fetch while its provider cannot be reached; past it
	// tokens of that issuer are answered 503 until a fetch succeeds.
	JWKSMaxStale time.Duration `koanf:"jwks_max_stale"`
	// HTTPTimeout bounds each request to a provider (discovery, key set,
	// introspection).
	HTTPTimeout time.Duration `koanf:"http_timeout"`
	// IntrospectionCache bounds how long an active introspection answer is
	// reused; it is never reused past the token's own exp.
	IntrospectionCache time.Duration `koanf:"introspection_cache"`
	// TokenCacheSize bounds how many proven tokens are remembered, so a
	// token's signature is checked once per process, not once per call.
	TokenCacheSize int `koanf:"token_cache_size"`
}

// DefaultProviders returns the defaults of the auth section: no issuers.
func DefaultProviders() ProvidersConfig {
	return ProvidersConfig{
		Issuers:            []IssuerConfig{},
		JWKSRefresh:        15 * time.Minute,
		JWKSMinRefresh:     30 * time.Second,
		JWKSMaxStale:       24 * time.Hour,
		HTTPTimeout:        5 * time.Second,
		IntrospectionCache: time.Minute,
		TokenCacheSize:     10_000,
	}
}

// IssuerConfig is one identity provider (one entry of auth.issuers).
type IssuerConfig struct {
	// Name prefixes the subjects of this issuer's tokens in audit actors
	// ("keycloak" makes sub alice the actor user:keycloak:alice).
	Name string `koanf:"name"`
	// Issuer is the exact "iss" of the provider's tokens.
	Issuer string `koanf:"issuer"`
	// JWKSURL is where the provider publishes its key set.
	JWKSURL string `koanf:"jwks_url"`
	// Discovery, instead of JWKSURL, reads jwks_uri from
	// {issuer}/.well-known/openid-configuration.
	Discovery bool `koanf:"discovery"`
	// Audiences lists the accepted "aud" values; a token must name one.
	Audiences []string `koanf:"audiences"`
	// Algorithms lists the accepted "alg" values (default RS256, ES256,
	// EdDSA); only asymmetric algorithms may be listed.
	Algorithms []string `koanf:"algorithms"`
	// SubjectClaim is the claim path of the user (default "sub").
	SubjectClaim string `koanf:"subject_claim"`
	// OrganizationsClaim is the claim path of the organizations the token
	// may manage (default "orgs"): an array of ids, one id, or an object
	// whose member names are ids.
	OrganizationsClaim string `koanf:"organizations_claim"`
	// RequiredClaims must all hold for a token to manage keys at all.
	RequiredClaims []RequiredClaim `koanf:"required_claims"`
	// IntrospectionURL is the provider's RFC 7662 endpoint. With it, the
	// provider's opaque tokens are introspected, and so are its JWTs when
	// no key set is configured.
	IntrospectionURL string `koanf:"introspection_url"`
	// ClientID and ClientSecret authenticate apikeys to the introspection
	// endpoint (HTTP Basic, RFC 6749 section 2.3.1).
	ClientID     string `koanf:"client_id"`
	ClientSecret string `koanf:"client_secret"`
	// ClientSecretFile, instead of ClientSecret, names a file holding it
	// (a mounted secret); surrounding whitespace is ignored.
	ClientSecretFile string `koanf:"client_secret_file"`
}

// RequiredClaim is a condition on one claim.
type RequiredClaim struct {
	// Claim is the claim path, e.g. "scope" or "realm_access.roles".
	Claim string `koanf:"claim"`
	// Contains holds when the claim is an array with this string among its
	// elements, a string with this among its space-separated words (OAuth
	// "scope"), or an object with a member of this name.
	Contains string `koanf:"contains"`
	// Equals holds when the claim equals this value (string, number or
	// boolean).
	Equals any `koanf:"equals"`
}

// Algorithms an identity-provider issuer may allow. Symmetric algorithms
// are never among them: a key set is public, and an HMAC key taken from it
// would let anyone sign.
var asymmetricAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// DefaultAlgorithms are the algorithms of an issuer that lists none.
var DefaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// Claim defaults of an issuer.
const (
	DefaultSubjectClaim       = "sub"
	DefaultOrganizationsClaim = "orgs"
)

var issuerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,31}$`)

// SubjectSeparator joins an issuer's name and a token's subject into the
// principal's subject: "keycloak" and "alice" make "keycloak:alice".
const SubjectSeparator = ":"

// withDefaults returns c with its empty optional settings filled in.
func (c IssuerConfig) withDefaults() IssuerConfig {
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms
	}
	if c.SubjectClaim == "" {
		c.SubjectClaim = DefaultSubjectClaim
	}
	if c.OrganizationsClaim == "" {
		c.OrganizationsClaim = DefaultOrganizationsClaim
	}
	return c
}

// usesJWKS reports whether the issuer's JWTs are verified against a key set.
func (c IssuerConfig) usesJWKS() bool { return c.JWKSURL != "" || c.Discovery }

// Validate checks the issuer's settings and names the first bad one by its
// key (audiences, jwks_url, ...). URLs must be https unless they point at a
// loopback address; see ProvidersConfig.Validate for plain http.
func (c IssuerConfig) Validate() error { return c.validate(false) }

func (c IssuerConfig) validate(allowHTTP bool) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !issuerName.MatchString(c.Name) {
		bad("name", "must be 1-32 characters of a-z, 0-9, _ . - starting with a letter or digit (it prefixes audit actors), got %q", c.Name)
	}
	if c.Issuer == "" {
		bad("issuer", "is required (the exact iss of the provider's tokens)")
	} else if err := checkURL(c.Issuer, allowHTTP); err != nil {
		bad("issuer", "%v", err)
	}
	switch {
	case c.JWKSURL != "" && c.Discovery:
		bad("jwks_url", "set either jwks_url or discovery: true, not both")
	case c.JWKSURL != "":
		if err := checkURL(c.JWKSURL, allowHTTP); err != nil {
			bad("jwks_url", "%v", err)
		}
	case !c.Discovery && c.IntrospectionURL == "":
		bad("jwks_url", "is required (or discovery: true, or introspection_url for opaque tokens)")
	}
	if len(c.Audiences) == 0 {
		bad("audiences", "must list at least one audience; a token must name one of them in aud")
	}
	for i, a := range c.Audiences {
		if strings.TrimSpace(a) == "" || a != strings.TrimSpace(a) {
			bad(fmt.Sprintf("audiences[%d]", i), "must be a non-empty value without surrounding spaces, got %q", a)
		}
	}
	for i, a := range c.Algorithms {
		if !slices.Contains(asymmetricAlgorithms, a) {
			bad(fmt.Sprintf("algorithms[%d]", i), "%q is not allowed: choose among %s (none and HS* are never accepted from an identity provider)",
				a, strings.Join(asymmetricAlgorithms, ", "))
		}
	}
	for key, path := range map[string]string{"subject_claim": c.SubjectClaim, "organizations_claim": c.OrganizationsClaim} {
		if path != "" && !validPath(path) {
			bad(key, "%q is not a claim path (names joined by dots, none empty)", path)
		}
	}
	for i, rc := range c.RequiredClaims {
		key := fmt.Sprintf("required_claims[%d]", i)
		if !validPath(rc.Claim) {
			bad(key+".claim", "%q is not a claim path (names joined by dots, none empty)", rc.Claim)
		}
		switch {
		case rc.Contains == "" && rc.Equals == nil:
			bad(key, "needs contains or equals")
		case rc.Contains != "" && rc.Equals != nil:
			bad(key, "set either contains or equals, not both")
		case rc.Equals != nil:
			if _, err := canonicalValue(rc.Equals); err != nil {
				bad(key+".equals", "must be a string, number or boolean")
			}
		}
	}
	if c.IntrospectionURL != "" {
		if err := checkURL(c.IntrospectionURL, allowHTTP); err != nil {
			bad("introspection_url", "%v", err)
		}
		if c.ClientID == "" {
			bad("client_id", "is required with introspection_url")
		}
		switch {
		case c.ClientSecret == "" && c.ClientSecretFile == "":
			bad("client_secret", "is required with introspection_url (or client_secret_file)")
		case c.ClientSecret != "" && c.ClientSecretFile != "":
			bad("client_secret", "set either client_secret or client_secret_file, not both")
		}
	} else if c.ClientID != "" || c.ClientSecret != "" || c.ClientSecretFile != "" {
		bad("client_id", "client credentials are used only with introspection_url")
	}
	return errors.Join(errs...)
}

// validPath reports whether p is a claim path: names joined by dots.
func validPath(p string) bool {
	if p == "" {
		return false
	}
	for _, seg := range strings.Split(p, ".") {
		if seg == "" {
			return false
		}
	}
	return true
}

// checkURL accepts an absolute http(s) URL without credentials or
// fragment; plain http only towards a loopback host unless allowHTTP.
func checkURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute URL without credentials or fragment", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowHTTP && !loopback(u.Hostname()) {
			return fmt.Errorf("%q must use https (plain http is accepted only for a loopback host, or outside production)", raw)
		}
	default:
		return fmt.Errorf("%q must be an https URL", raw)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate checks the auth section and names each bad setting with its
// full key, prefix first (e.g. "auth.issuers[1].audiences"). Outside
// production, provider URLs may use plain http.
func (c ProvidersConfig) Validate(prefix string, production bool) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	for key, d := range map[string]time.Duration{
		"jwks_refresh": c.JWKSRefresh, "jwks_min_refresh": c.JWKSMinRefresh, "jwks_max_stale": c.JWKSMaxStale,
		"http_timeout": c.HTTPTimeout, "introspection_cache": c.IntrospectionCache,
	} {
		if d <= 0 {
			bad(key, "must be a positive duration such as 30s, got %s", d)
		}
	}
	if c.JWKSMinRefresh > c.JWKSRefresh {
		bad("jwks_min_refresh", "must not exceed jwks_refresh (%s), got %s", c.JWKSRefresh, c.JWKSMinRefresh)
	}
	if c.JWKSMaxStale < c.JWKSRefresh {
		bad("jwks_max_stale", "must be at least jwks_refresh (%s), or every key set would expire between two fetches; got %s", c.JWKSRefresh, c.JWKSMaxStale)
	}
	if c.TokenCacheSize < 1 {
		bad("token_cache_size", "must be at least 1, got %d", c.TokenCacheSize)
	}
	names, issuers := map[string]int{}, map[string]int{}
	opaque := -1
	for i, ic := range c.Issuers {
		key := fmt.Sprintf("issuers[%d]", i)
		if err := ic.validate(!production); err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("%s%s.%w", prefix, key, e))
			}
		}
		if j, ok := names[ic.Name]; ok && ic.Name != "" {
			bad(key+".name", "%q is also the name of issuers[%d]; names keep audit actors apart and must be unique", ic.Name, j)
		}
		names[ic.Name] = i
		if j, ok := issuers[ic.Issuer]; ok && ic.Issuer != "" {
			bad(key+".issuer", "%q is also the issuer of issuers[%d]", ic.Issuer, j)
		}
		issuers[ic.Issuer] = i
		if ic.IntrospectionURL != "" {
			if opaque >= 0 {
				bad(key+".introspection_url", "only one issuer may introspect opaque tokens (issuers[%d] does): an opaque token names no issuer, and sending it to another provider would leak it", opaque)
			}
			opaque = i
		}
	}
	return errors.Join(errs...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
