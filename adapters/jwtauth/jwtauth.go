// Package jwtauth verifies the Bearer tokens that identify users of the
// management API, and mints development tokens for the CLI and for tests.
//
// Tokens come from issuers. The development issuer signs HS256 tokens with
// a shared secret (jwt.secret) and names the user in "sub" and the
// organizations in "orgs". Identity-provider issuers (auth.issuers) sign
// with asymmetric keys published in a JWKS, fetched and refreshed here, or
// hand out opaque tokens checked by RFC 7662 introspection; their claims
// are mapped by configuration. Every issuer applies the RFC 8725 profile:
// strict parsing (exact claim names, numeric dates, no repeated members,
// no crit, typ JWT when present), an algorithm allow-list, exact iss,
// aud, exp, nbf and iat with leeway, and a maximum lifetime.
package jwtauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"

	"github.com/agentauri/apikeys/core/apikey"
)

// Limits.
const (
	MinSecretLen = 32   // bytes
	MaxTokenLen  = 8192 // bytes; longer tokens are refused unparsed
)

// MaxSubjectLen bounds a principal's subject, issuer prefix included; it
// is the subject rule of core/apikey.
const MaxSubjectLen = apikey.MaxSubjectLen

const hs256 = "HS256"

// Config configures a Verifier.
type Config struct {
	// Secret is the HMAC key of the development issuer (HS256), at least
	// MinSecretLen bytes; empty turns that issuer off, which needs
	// Providers.Issuers.
	Secret   []byte
	Issuer   string // required "iss" of HS256 tokens when not empty
	Audience string // required in "aud" of HS256 tokens when not empty
	// Leeway is the clock skew allowed on exp, nbf and iat, for every issuer.
	Leeway time.Duration
	// MaxTTL bounds exp - iat of every token, and then iat is required;
	// 0 sets no bound.
	MaxTTL time.Duration
	// Providers holds the identity-provider issuers and their fetch and
	// cache settings; a zero value means DefaultProviders without issuers.
	Providers ProvidersConfig
	// AllowHTTP lets provider URLs use plain http towards any host (outside
	// production); otherwise only towards a loopback address.
	AllowHTTP bool
	// HTTPClient's transport carries provider requests (nil: a clone of
	// http.DefaultTransport); timeouts and size limits are added here.
	HTTPClient *http.Client
	// Logger receives key-set and introspection trouble (nil: discard).
	Logger *slog.Logger
}

// Error is a refused token. Reason is short and public: it never contains
// the token. It wraps apikey.ErrUnauthenticated, or apikey.ErrUnavailable
// when the token could not be checked because its provider is unreachable.
type Error struct {
	Reason      string
	Issuer      string // name of the issuer the token claimed, when known
	Unavailable bool
}

// Error returns "unauthenticated: " (or "unavailable: ") and the reason.
func (e *Error) Error() string {
	prefix := "unauthenticated: "
	if e.Unavailable {
		prefix = "unavailable: "
	}
	if e.Issuer != "" {
		return prefix + e.Reason + " (issuer " + e.Issuer + ")"
	}
	return prefix + e.Reason
}

// Unwrap returns apikey.ErrUnauthenticated or apikey.ErrUnavailable.
func (e *Error) Unwrap() error {
	if e.Unavailable {
		return apikey.ErrUnavailable
	}
	return apikey.ErrUnauthenticated
}

// LogValue logs the reason and issuer as attributes.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("reason", e.Reason)}
	if e.Issuer != "" {
		attrs = append(attrs, slog.String("issuer", e.Issuer))
	}
	return slog.GroupValue(attrs...)
}

// Public reasons of refusals.
const (
	ReasonMissing         = "missing token"
	ReasonTooLong         = "token too long"
	ReasonMalformed       = "token malformed"
	ReasonMethod          = "unexpected signing method"
	ReasonCrit            = "token header has crit"
	ReasonType            = "token typ is not JWT"
	ReasonUnknownIssuer   = "token issuer unknown"
	ReasonNoKid           = "token has no kid and the key set has several keys"
	ReasonUnknownKid      = "token kid unknown"
	ReasonKeyMismatch     = "token key does not fit its alg"
	ReasonKeysUnavailable = "identity provider keys unavailable"
	ReasonSignature       = "token signature invalid"
	ReasonDateType        = "token date claim is not a number"
	ReasonNoExp           = "token has no exp"
	ReasonExpired         = "token expired"
	ReasonNotYetValid     = "token not valid yet"
	ReasonIssuedInFuture  = "token issued in the future"
	ReasonNoIssuedAt      = "token has no iat"
	ReasonLifetime        = "token lifetime exceeds max_ttl"
	ReasonNoIssuer        = "token has no iss"
	ReasonIssuer          = "token issuer invalid"
	ReasonNoAudience      = "token has no aud"
	ReasonAudience        = "token audience invalid"
	ReasonNoSubject       = "token has no sub"
	ReasonSubject         = "token sub invalid"
	ReasonSubjectReserved = "token sub starts with an identity provider's name"
	ReasonOrgsType        = "token organizations claim has the wrong type"
	ReasonOrganization    = "token names an invalid organization id"
	ReasonRequiredClaim   = "token lacks a required claim"
	ReasonInactive        = "token inactive"
	ReasonIntrospection   = "introspection unavailable"
)

// issuer is one source of tokens.
type issuer struct {
	name    string // configured name; empty for the HS256 issuer
	iss     string
	algs    []string
	prof    profile
	introP  profile // introspection answers: iss optional (RFC 7662)
	mapping mapping
	secret  []byte        // HS256 issuer only
	keys    *keySet       // issuers with a key set
	intro   *introspector // issuers with introspection
}

// proven is a verified token remembered until it expires.
type proven struct {
	p       apikey.Principal
	until   time.Time
	iss     *issuer
	keys    [32]byte // print of the key set it was verified under
	viaKeys bool     // verified with a key of iss's key set
}

// Verifier checks tokens of every configured issuer and mints HS256
// tokens. It is safe for concurrent use; Close stops its background key
// refreshes.
type Verifier struct {
	hs         *issuer // nil: HS256 off
	byIss      map[string]*issuer
	idps       []*issuer
	opaque     *issuer // the issuer introspecting opaque tokens, if any
	cache      *otter.Cache[[32]byte, proven]
	introCache time.Duration
	leeway     time.Duration
	maxTTL     time.Duration
	group      singleflight.Group
	startOnce  sync.Once
	started    bool
	log        *slog.Logger
	now        atomic.Pointer[func() time.Time] // nil means time.Now; tests set it with setNow
}

// New returns a Verifier for cfg. It fetches nothing: call Start to fetch
// the providers' key sets in the background; otherwise a key set is fetched
// when a token first needs it. It succeeds with a provider down, whose
// tokens are then answered as unavailable until its keys arrive (see
// Health). It refuses a short secret, a negative leeway or max TTL, invalid provider
// settings, and a configuration without any issuer.
func New(cfg Config) (*Verifier, error) {
	if len(cfg.Secret) > 0 && len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("jwtauth: secret must be at least %d bytes, got %d", MinSecretLen, len(cfg.Secret))
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("jwtauth: leeway must not be negative, got %s", cfg.Leeway)
	}
	if cfg.MaxTTL < 0 {
		return nil, fmt.Errorf("jwtauth: max ttl must not be negative, got %s", cfg.MaxTTL)
	}
	pc := cfg.Providers
	if pc.JWKSRefresh == 0 && pc.TokenCacheSize == 0 {
		issuers := pc.Issuers
		pc = DefaultProviders()
		pc.Issuers = issuers
	}
	if err := pc.Validate("", !cfg.AllowHTTP); err != nil {
		return nil, fmt.Errorf("jwtauth: %w", err)
	}
	if len(cfg.Secret) == 0 && len(pc.Issuers) == 0 {
		return nil, errors.New("jwtauth: no issuer: set a secret or at least one identity provider")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cache, err := otter.New(&otter.Options[[32]byte, proven]{MaximumSize: pc.TokenCacheSize, InitialCapacity: min(pc.TokenCacheSize, 256)})
	if err != nil {
		return nil, fmt.Errorf("jwtauth: token cache: %w", err)
	}
	v := &Verifier{byIss: map[string]*issuer{}, cache: cache, introCache: pc.IntrospectionCache,
		leeway: cfg.Leeway, maxTTL: cfg.MaxTTL, log: log}
	names := make([]string, 0, len(pc.Issuers))
	client := newHTTPClient(cfg.HTTPClient, pc.HTTPTimeout)
	for _, ic := range pc.Issuers {
		ic = ic.withDefaults()
		names = append(names, ic.Name)
		req, err := newRequirements(ic.RequiredClaims)
		if err != nil {
			return nil, fmt.Errorf("jwtauth: issuer %s: %w", ic.Name, err)
		}
		is := &issuer{
			name: ic.Name, iss: ic.Issuer, algs: slices.Clone(ic.Algorithms),
			prof:    profile{issuer: ic.Issuer, audiences: slices.Clone(ic.Audiences), leeway: cfg.Leeway, maxTTL: cfg.MaxTTL},
			mapping: mapping{name: ic.Name, subjectClaim: ic.SubjectClaim, orgsClaim: ic.OrganizationsClaim, required: req},
		}
		is.introP = is.prof
		is.introP.issOpt = true
		if ic.IntrospectionURL != "" {
			secret := ic.ClientSecret
			if ic.ClientSecretFile != "" {
				b, err := os.ReadFile(ic.ClientSecretFile)
				if err != nil {
					return nil, fmt.Errorf("jwtauth: issuer %s: client_secret_file: %w", ic.Name, err)
				}
				if secret = strings.TrimSpace(string(b)); secret == "" {
					return nil, fmt.Errorf("jwtauth: issuer %s: client_secret_file %s is empty", ic.Name, ic.ClientSecretFile)
				}
			}
			is.intro = &introspector{url: ic.IntrospectionURL, clientID: ic.ClientID, clientSecret: secret, client: client, timeout: pc.HTTPTimeout}
			v.opaque = is
		}
		if ic.usesJWKS() {
			is.keys = &keySet{
				name: ic.Name, issuer: ic.Issuer, jwksURL: ic.JWKSURL, discovery: ic.Discovery, allowHTTP: cfg.AllowHTTP,
				client: client, timeout: pc.HTTPTimeout, refresh: pc.JWKSRefresh, minRefresh: pc.JWKSMinRefresh,
				maxStale: pc.JWKSMaxStale, log: log, now: v.clock,
			}
		}
		v.idps = append(v.idps, is)
		v.byIss[ic.Issuer] = is
	}
	if len(cfg.Secret) > 0 {
		if cfg.Issuer != "" && v.byIss[cfg.Issuer] != nil {
			return nil, fmt.Errorf("jwtauth: the HS256 issuer %q is also an identity provider's issuer", cfg.Issuer)
		}
		var auds []string
		if cfg.Audience != "" {
			auds = []string{cfg.Audience}
		}
		v.hs = &issuer{
			iss: cfg.Issuer, algs: []string{hs256}, secret: slices.Clone(cfg.Secret),
			prof:    profile{issuer: cfg.Issuer, audiences: auds, leeway: cfg.Leeway, maxTTL: cfg.MaxTTL},
			mapping: mapping{subjectClaim: "sub", orgsClaim: "orgs", orgsArrayOnly: true, reserved: names},
		}
	}
	return v, nil
}

// Start fetches every key set now, in the background, and again every
// refresh interval (every minimum interval while a fetch fails). Call it
// once; Close stops it.
func (v *Verifier) Start() {
	v.startOnce.Do(func() {
		for _, is := range v.idps {
			if is.keys != nil {
				is.keys.start()
			}
		}
		v.started = true
	})
}

// Close stops the background key-set refreshes started by Start.
func (v *Verifier) Close() {
	v.startOnce.Do(func() {}) // a later Start does nothing
	if !v.started {
		return
	}
	for _, is := range v.idps {
		if is.keys != nil {
			is.keys.close()
		}
	}
	v.started = false
}

// setNow replaces the clock (nil: time.Now); for tests.
func (v *Verifier) setNow(f func() time.Time) {
	if f == nil {
		v.now.Store(nil)
		return
	}
	v.now.Store(&f)
}

func (v *Verifier) clock() time.Time {
	if f := v.now.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

func fail(reason string, is *issuer) error {
	e := &Error{Reason: reason}
	if is != nil {
		e.Issuer = is.name
	}
	return e
}

// Verify checks token and returns the user it proves. Every refusal is an
// *Error. A token proven before is answered from memory until it expires
// (or, for a key-set issuer, until its keys change or grow too old; for an
// introspected token, at most the introspection cache duration).
func (v *Verifier) Verify(ctx context.Context, token string) (apikey.Principal, error) {
	if token == "" {
		return apikey.Principal{}, fail(ReasonMissing, nil)
	}
	if len(token) > MaxTokenLen {
		return apikey.Principal{}, fail(ReasonTooLong, nil)
	}
	h := sha256.Sum256([]byte(token))
	now := v.clock()
	if e, ok := v.cache.GetIfPresent(h); ok {
		if v.stillValid(e, now) {
			return clonePrincipal(e.p), nil
		}
		v.cache.Invalidate(h)
	}
	if strings.Count(token, ".") != 2 {
		if v.opaque == nil || !opaqueToken(token) {
			return apikey.Principal{}, fail(ReasonMalformed, nil)
		}
		return v.introspect(ctx, v.opaque, token, h)
	}
	t, reason := parseJWS(token)
	if reason != "" {
		return apikey.Principal{}, fail(reason, nil)
	}
	is, reason := v.issuerOf(t)
	if reason != "" {
		return apikey.Principal{}, fail(reason, nil)
	}
	if is.keys == nil && is.secret == nil {
		return v.introspect(ctx, is, token, h)
	}
	if !slices.Contains(is.algs, t.alg) {
		return apikey.Principal{}, fail(ReasonMethod, is)
	}
	var key any = is.secret
	var print [32]byte
	if is.keys != nil {
		k, st, reason := is.keys.key(ctx, t)
		if reason == ReasonKeysUnavailable {
			return apikey.Principal{}, &Error{Reason: reason, Issuer: is.name, Unavailable: true}
		}
		if reason != "" {
			return apikey.Principal{}, fail(reason, is)
		}
		key, print = k, st.print
	}
	if err := jwt.GetSigningMethod(t.alg).Verify(t.signingInput, t.signature, key); err != nil {
		if errors.Is(err, jwt.ErrInvalidKeyType) {
			return apikey.Principal{}, fail(ReasonKeyMismatch, is)
		}
		return apikey.Principal{}, fail(ReasonSignature, is)
	}
	exp, reason := is.prof.check(t.claims, now)
	if reason != "" {
		return apikey.Principal{}, fail(reason, is)
	}
	p, reason := is.mapping.principal(t.claims)
	if reason != "" {
		return apikey.Principal{}, fail(reason, is)
	}
	v.cache.Set(h, proven{p: p, until: exp.Add(v.leeway), iss: is, keys: print, viaKeys: is.keys != nil})
	return clonePrincipal(p), nil
}

// issuerOf picks the issuer a token claims by its "iss": an identity
// provider's; else the HS256 issuer (which checks iss itself) for a token
// without iss or signed HS256; else none.
func (v *Verifier) issuerOf(t *jws) (*issuer, string) {
	iss, ok, err := t.claims.str("iss")
	if err != nil {
		return nil, ReasonIssuer
	}
	if is := v.byIss[iss]; ok && is != nil {
		return is, ""
	}
	if v.hs != nil && (!ok || t.alg == hs256) {
		return v.hs, ""
	}
	return nil, ReasonUnknownIssuer
}

// stillValid reports whether a remembered token may be answered at now.
func (v *Verifier) stillValid(e proven, now time.Time) bool {
	if !now.Before(e.until) {
		return false
	}
	if e.viaKeys {
		st := e.iss.keys.usable(now)
		return st != nil && st.print == e.keys
	}
	return true
}

// introspect asks is's introspection endpoint about token, once for all
// concurrent callers presenting it, and remembers an active answer.
func (v *Verifier) introspect(ctx context.Context, is *issuer, token string, h [32]byte) (apikey.Principal, error) {
	res, err, _ := v.group.Do(string(h[:]), func() (any, error) {
		c, err := is.intro.introspect(context.WithoutCancel(ctx), token)
		if errors.Is(err, errInactive) {
			return nil, fail(ReasonInactive, is)
		}
		if err != nil {
			v.log.Warn("token introspection failed", slog.String("issuer", is.name), slog.String("error", redactToken(err.Error(), token)))
			return nil, &Error{Reason: ReasonIntrospection, Issuer: is.name, Unavailable: true}
		}
		now := v.clock()
		exp, reason := is.introP.check(c, now)
		if reason != "" {
			return nil, fail(reason, is)
		}
		p, reason := is.mapping.principal(c)
		if reason != "" {
			return nil, fail(reason, is)
		}
		until := now.Add(v.introCache)
		if exp.Before(until) {
			until = exp
		}
		if now.Before(until) {
			v.cache.Set(h, proven{p: p, until: until, iss: is})
		}
		return p, nil
	})
	if err != nil {
		return apikey.Principal{}, err
	}
	return clonePrincipal(res.(apikey.Principal)), nil
}

func clonePrincipal(p apikey.Principal) apikey.Principal {
	p.Organizations = slices.Clone(p.Organizations)
	return p
}

// Health states of an identity provider's keys.
const (
	StateOK            = "ok"            // keys fetched, last fetch succeeded
	StateStale         = "stale"         // last fetch failed; keys younger than jwks_max_stale still verify
	StateExpired       = "expired"       // keys older than jwks_max_stale: tokens answered 503
	StatePending       = "pending"       // first fetch under way
	StateUnavailable   = "unavailable"   // never fetched: tokens answered 503
	StateIntrospection = "introspection" // tokens checked by introspection only
)

// IssuerHealth is the state of one identity provider, for /readyz.
type IssuerHealth struct {
	Name        string     `json:"name"`
	Issuer      string     `json:"issuer"`
	State       string     `json:"state"`
	Keys        int        `json:"keys"`
	LastRefresh *time.Time `json:"last_refresh,omitempty"`
}

// Health reports every identity provider's state, in configuration order.
// A provider that is down does not make the service unready: API keys
// still verify, and its tokens are answered 503 until it is back.
func (v *Verifier) Health() []IssuerHealth {
	now := v.clock()
	out := make([]IssuerHealth, 0, len(v.idps))
	for _, is := range v.idps {
		if is.keys == nil {
			out = append(out, IssuerHealth{Name: is.name, Issuer: is.iss, State: StateIntrospection})
			continue
		}
		out = append(out, is.keys.health(now))
	}
	return out
}

// Mint returns an HS256 token for sub and orgs, issued at now and expiring
// ttl later, with the configured issuer and audience. It refuses what
// Verify would refuse: no HS256 issuer, an invalid subject or organization
// id, a subject taking an identity provider's name as prefix, and a ttl
// that is not positive or exceeds the maximum lifetime.
func (v *Verifier) Mint(sub string, orgs []string, ttl time.Duration, now time.Time) (string, error) {
	if v.hs == nil {
		return "", errors.New("jwtauth: the HS256 issuer is off (no secret)")
	}
	switch {
	case !apikey.ValidSubject(sub):
		return "", fmt.Errorf("jwtauth: sub must be 1-%d characters without control or invisible characters", MaxSubjectLen)
	case ttl <= 0:
		return "", fmt.Errorf("jwtauth: ttl must be positive, got %s", ttl)
	case v.maxTTL > 0 && ttl > v.maxTTL:
		return "", fmt.Errorf("jwtauth: ttl %s exceeds the maximum token lifetime %s", ttl, v.maxTTL)
	}
	if pre, _, found := strings.Cut(sub, SubjectSeparator); found && slices.Contains(v.hs.mapping.reserved, pre) {
		return "", fmt.Errorf("jwtauth: sub must not start with %q: that names the identity provider's users", pre+SubjectSeparator)
	}
	for i, o := range orgs {
		if !apikey.ValidOrganizationID(o) {
			return "", fmt.Errorf("jwtauth: orgs[%d] %q is not an organization id (%s)", i, o, apikey.OrganizationIDPattern)
		}
	}
	c := jwt.MapClaims{
		"sub":  sub,
		"iat":  now.Unix(),
		"exp":  now.Add(ttl).Unix(),
		"orgs": append([]string{}, orgs...),
	}
	if v.hs.iss != "" {
		c["iss"] = v.hs.iss
	}
	if len(v.hs.prof.audiences) > 0 {
		c["aud"] = v.hs.prof.audiences[0]
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(v.hs.secret)
	if err != nil {
		return "", fmt.Errorf("jwtauth: sign token: %w", err)
	}
	return s, nil
}
