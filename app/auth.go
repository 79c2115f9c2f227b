package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/agentauri/apikeys/adapters/jwtauth"
	"github.com/agentauri/apikeys/adapters/ratelimit"
)

// AuthConfig is the auth section: identity-provider issuers of management
// tokens (auth.issuers) and how their keys and introspection answers are
// fetched and cached. The jwtauth adapter owns and validates it.
type AuthConfig = jwtauth.ProvidersConfig

// issuersKey is the one list-of-objects setting. Its environment variable,
// APIKEYS_AUTH_ISSUERS, holds the list as JSON.
const issuersKey = "auth.issuers"

// parseIssuersEnv reads APIKEYS_AUTH_ISSUERS: a JSON array of issuer
// objects, as they would appear in the YAML file.
func parseIssuersEnv(value string) (any, error) {
	var list []any
	dec := json.NewDecoder(strings.NewReader(value))
	dec.UseNumber()
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("APIKEYS_AUTH_ISSUERS must be a JSON array of issuer objects: %w", err)
	}
	return list, nil
}

// checkIssuerKeys refuses unknown settings inside auth.issuers entries (a
// misspelt "audience" must not silently leave an issuer open).
func checkIssuerKeys(raw any) error {
	list, ok := raw.([]any)
	if !ok {
		if raw == nil {
			return nil
		}
		if v := reflect.ValueOf(raw); v.Kind() == reflect.Slice && v.Len() == 0 {
			return nil
		}
		return fmt.Errorf("%s: must be a list of issuer objects", issuersKey)
	}
	issuerKeys := koanfKeys(reflect.TypeFor[jwtauth.IssuerConfig]())
	claimKeys := koanfKeys(reflect.TypeFor[jwtauth.RequiredClaim]())
	var errs []error
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("%s[%d]: must be an object", issuersKey, i))
			continue
		}
		errs = append(errs, unknownKeys(fmt.Sprintf("%s[%d]", issuersKey, i), m, issuerKeys)...)
		rcs, _ := m["required_claims"].([]any)
		for j, rc := range rcs {
			if rm, ok := rc.(map[string]any); ok {
				errs = append(errs, unknownKeys(fmt.Sprintf("%s[%d].required_claims[%d]", issuersKey, i, j), rm, claimKeys)...)
			}
		}
	}
	return errors.Join(errs...)
}

func koanfKeys(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for f := range t.Fields() {
		if tag := f.Tag.Get("koanf"); tag != "" {
			out[tag] = true
		}
	}
	return out
}

func unknownKeys(prefix string, m map[string]any, known map[string]bool) []error {
	var bad []string
	for k := range m {
		if !known[k] {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	var errs []error
	for _, k := range bad {
		errs = append(errs, fmt.Errorf("%s: unknown setting %q", prefix, k))
	}
	return errs
}

// hs256On reports whether the development issuer (jwt.secret) verifies
// tokens: always in development on SQLite (the secret is generated), else
// when jwt.secret is set.
func (c Config) hs256On() bool {
	return c.JWT.Secret != "" || !c.Production() && c.Storage.Driver == "sqlite"
}

// authErrors checks the jwt and auth sections.
func (c Config) validateAuth(p *problems) {
	bad := p.add
	if c.JWT.Secret != "" && len(c.JWT.Secret) < jwtauth.MinSecretLen {
		bad("jwt.secret", "must be at least %d bytes (%s)", jwtauth.MinSecretLen, generateHint)
	}
	if c.JWT.Leeway < 0 || c.JWT.Leeway > 5*time.Minute {
		bad("jwt.leeway", "must be between 0 and 5m, got %s", c.JWT.Leeway)
	}
	if c.JWT.MaxTTL < 0 {
		bad("jwt.max_ttl", "must be 0 (no maximum) or a positive duration such as 24h, got %s", c.JWT.MaxTTL)
	}
	if c.Production() || c.Storage.Driver != "sqlite" {
		why := "in production (env=production)"
		if !c.Production() {
			why = "with storage.driver=" + c.Storage.Driver + " (instances sharing a database must share it)"
		}
		if c.JWT.Secret == "" && len(c.Auth.Issuers) == 0 {
			bad("jwt.secret", "is required %s unless auth.issuers lists an identity provider (%s)", why, generateHint)
		}
	}
	if c.Production() && c.JWT.Secret != "" {
		if c.JWT.Issuer == "" {
			bad("jwt.issuer", "is required in production while jwt.secret is set (the HS256 issuer is on); or leave jwt.secret empty and use auth.issuers")
		}
		if c.JWT.Audience == "" {
			bad("jwt.audience", "is required in production while jwt.secret is set (the HS256 issuer is on); or leave jwt.secret empty and use auth.issuers")
		}
	}
	for i, is := range c.Auth.Issuers {
		if c.JWT.Issuer != "" && is.Issuer == c.JWT.Issuer {
			bad("jwt.issuer", "%q is also the issuer of auth.issuers[%d]; the HS256 issuer needs an iss of its own", c.JWT.Issuer, i)
		}
	}
	if err := c.Auth.Validate("auth.", c.Production()); err != nil {
		*p = append(*p, err)
	}
}

// newTokenVerifier builds the bearer-token verifier of the management API
// from the jwt and auth sections. Its key sets are not fetched yet: serve
// calls Start.
func newTokenVerifier(cfg Config, logger *slog.Logger) (*jwtauth.Verifier, error) {
	v, err := jwtauth.New(jwtauth.Config{
		Secret: []byte(cfg.JWT.Secret), Issuer: cfg.JWT.Issuer, Audience: cfg.JWT.Audience,
		Leeway: cfg.JWT.Leeway, MaxTTL: cfg.JWT.MaxTTL,
		Providers: cfg.Auth, AllowHTTP: !cfg.Production(), Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}
	return v, nil
}

// authReadyDetails is what /readyz adds about identity providers: each
// one's state (ok, stale, expired, pending, unavailable, introspection) and
// key count. A provider that is down does not make the service unready.
func authReadyDetails(v *jwtauth.Verifier) func() map[string]any {
	return func() map[string]any {
		h := v.Health()
		if len(h) == 0 {
			return nil
		}
		return map[string]any{"identity_providers": h}
	}
}

// limiterReadyDetails is what /readyz adds about the rate limiter: its
// backend and, with Redis, whether Redis answers and since when it does
// not. Redis being down does not make the service unready: per-key limits
// follow ratelimit.on_redis_error, the others fall back to memory.
func limiterReadyDetails(l *ratelimit.Limiter) func() map[string]any {
	return func() map[string]any {
		h := l.Health()
		d := map[string]any{"backend": h.Backend}
		if h.Backend == ratelimit.BackendRedis {
			d["redis_up"], d["on_redis_error"] = h.RedisUp, h.OnRedisError
			if !h.RedisUp {
				d["down_since"] = h.DownSince.UTC().Format(time.RFC3339)
			}
		}
		return map[string]any{"rate_limiter": d}
	}
}

// readyDetails merges the entries of every details function.
func readyDetails(fns ...func() map[string]any) func() map[string]any {
	return func() map[string]any {
		out := map[string]any{}
		for _, fn := range fns {
			for k, v := range fn() {
				out[k] = v
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
}

// mintDevToken is `apikeys token`: an HS256 token for sub, acting for orgs,
// valid for ttl, signed with jwt.secret (the development secret on the
// embedded database).
func mintDevToken(cfg Config, sub string, orgs []string, ttl time.Duration) (string, error) {
	if strings.TrimSpace(sub) == "" {
		return "", errors.New("--sub is required")
	}
	if len(orgs) == 0 {
		return "", errors.New("--org is required: a token without organizations may manage no key (repeat --org or comma-separate for several)")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("--ttl must be positive, got %s", ttl)
	}
	if cfg.JWT.MaxTTL > 0 && ttl > cfg.JWT.MaxTTL {
		return "", fmt.Errorf("--ttl %s exceeds jwt.max_ttl (%s): the service would refuse the token", ttl, cfg.JWT.MaxTTL)
	}
	if !cfg.hs256On() {
		return "", errors.New("the HS256 issuer is off (jwt.secret is empty): get a token from your identity provider (auth.issuers)")
	}
	if _, _, err := ResolveSecrets(&cfg); err != nil {
		return "", err
	}
	v, err := newTokenVerifier(cfg, nil)
	if err != nil {
		return "", err
	}
	tok, err := v.Mint(sub, orgs, ttl, time.Now())
	if err != nil {
		return "", fmt.Errorf("token: %s", strings.TrimPrefix(err.Error(), "jwtauth: "))
	}
	return tok, nil
}
