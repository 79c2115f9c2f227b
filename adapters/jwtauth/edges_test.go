package jwtauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/agentauri/apikeys/test/oidcprovider"
)

// The tests of this file put each bound exactly at its edge: the last value
// accepted and the first refused.

// hsPayload signs a raw JSON payload for the HS256 issuer of newVerifier.
func hsPayload(payload string) string {
	return hmacToken(`{"alg":"HS256"}`, payload, secret)
}

func TestNumericDateEdges(t *testing.T) {
	v := newVerifier(t, Config{})
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	accept(t, v, hsPayload(`{"sub":"u","exp":`+exp+`,"nbf":0,"iat":0}`)) // the epoch itself is a date
	accept(t, v, hsPayload(`{"sub":"u","exp":9999999999}`))              // a date starting with 9 (year 2286)
	accept(t, v, hsPayload(`{"sub":"u","exp":`+strconv.Itoa(maxNumericDate)+`}`))
	for _, bad := range []string{strconv.Itoa(maxNumericDate + 1), "-1", "-0.5", `"` + exp + `"`, "true", "[1]"} {
		refuse(t, v, hsPayload(`{"sub":"u","exp":`+bad+`}`), ReasonDateType)
		refuse(t, v, hsPayload(`{"sub":"u","exp":`+exp+`,"nbf":`+bad+`}`), ReasonDateType)
	}

	// A fraction of a second counts: exp half a second after now is valid
	// now and expired half a second later; nbf half a second ahead is not
	// valid yet.
	half := strconv.FormatInt(now.Unix(), 10) + ".5"
	tok := hsPayload(`{"sub":"u","exp":` + half + `}`)
	accept(t, v, tok)
	v.setNow(func() time.Time { return now.Add(500 * time.Millisecond) })
	refuse(t, v, tok, ReasonExpired)
	v.setNow(func() time.Time { return now })
	refuse(t, v, hsPayload(`{"sub":"u","exp":`+exp+`,"nbf":`+half+`}`), ReasonNotYetValid)
}

func TestLeewayEdges(t *testing.T) {
	const leeway = 30 * time.Second
	v := newVerifier(t, Config{Leeway: leeway})
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	accept(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "exp", at(-leeway+time.Second))))
	refuse(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "exp", at(-leeway))), ReasonExpired)
	accept(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "nbf", at(leeway))))
	refuse(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "nbf", at(leeway+time.Second))), ReasonNotYetValid)
	accept(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "iat", at(leeway))))
	refuse(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "iat", at(leeway+time.Second))), ReasonIssuedInFuture)

	// max_ttl: a lifetime of exactly max_ttl is allowed.
	capped := newVerifier(t, Config{MaxTTL: time.Hour})
	accept(t, capped, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "iat", at(-time.Minute), "exp", at(time.Hour-time.Minute))))
	refuse(t, capped, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "iat", at(-time.Minute), "exp", at(time.Hour-time.Minute+time.Second))), ReasonLifetime)
}

func TestNestingDepthEdge(t *testing.T) {
	v := newVerifier(t, Config{})
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	// The claims object is at depth 0, so x's innermost value is at depth n.
	arrays := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	objects := func(n int) string { return strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1) }
	for name, nest := range map[string]func(int) string{"arrays": arrays, "objects": objects} {
		t.Run(name, func(t *testing.T) {
			accept(t, v, hsPayload(`{"sub":"u","exp":`+exp+`,"x":`+nest(maxDepth)+`}`))
			refuse(t, v, hsPayload(`{"sub":"u","exp":`+exp+`,"x":`+nest(maxDepth+1)+`}`), ReasonMalformed)
			// In the header too.
			refuse(t, v, hmacToken(`{"alg":"HS256","x":`+nest(maxDepth+1)+`}`, `{"sub":"u","exp":`+exp+`}`, secret), ReasonMalformed)
		})
	}
}

func TestTokenLengthEdge(t *testing.T) {
	v := newVerifier(t, Config{})
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	// Base64 skips some lengths; one of two headers reaches MaxTokenLen.
	var tok string
	for n := MaxTokenLen / 2; tok == "" && n < MaxTokenLen; n++ {
		for _, header := range []string{`{"alg":"HS256"}`, `{"alg":"HS256","typ":"JWT"}`} {
			if s := hmacToken(header, `{"sub":"u","exp":`+exp+`,"pad":"`+strings.Repeat("p", n)+`"}`, secret); len(s) == MaxTokenLen {
				tok = s
				break
			}
		}
	}
	if tok == "" {
		t.Fatal("no token of MaxTokenLen bytes")
	}
	accept(t, v, tok)
	refuse(t, v, tok+"A", ReasonTooLong)
}

func TestSecretLengthEdge(t *testing.T) {
	key := []byte(strings.Repeat("k", MinSecretLen))
	v, err := New(Config{Secret: key})
	if err != nil {
		t.Fatalf("New refused a secret of MinSecretLen bytes: %v", err)
	}
	tok, err := v.Mint("alice", nil, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	accept(t, v, tok)
	if _, err := New(Config{Secret: key[1:]}); err == nil {
		t.Fatal("New accepted a secret one byte short")
	}
}

func TestErrorText(t *testing.T) {
	for _, c := range []struct {
		err       *Error
		text      string
		issuerKey bool
	}{
		{&Error{Reason: ReasonExpired}, "unauthenticated: " + ReasonExpired, false},
		{&Error{Reason: ReasonExpired, Issuer: "kc"}, "unauthenticated: " + ReasonExpired + " (issuer kc)", true},
		{&Error{Reason: ReasonKeysUnavailable, Issuer: "kc", Unavailable: true}, "unavailable: " + ReasonKeysUnavailable + " (issuer kc)", true},
	} {
		if got := c.err.Error(); got != c.text {
			t.Errorf("Error() = %q, want %q", got, c.text)
		}
		attrs := c.err.LogValue().Group()
		if attrs[0].Key != "reason" || attrs[0].Value.String() != c.err.Reason {
			t.Errorf("LogValue = %v", attrs)
		}
		if hasIssuer := len(attrs) == 2 && attrs[1].Key == "issuer" && attrs[1].Value.String() == "kc"; hasIssuer != c.issuerKey || len(attrs) > 2 {
			t.Errorf("LogValue of %+v = %v", c.err, attrs)
		}
	}
}

func TestOpaqueTokenShape(t *testing.T) {
	// RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
	for _, s := range []string{"a", "z", "A", "Z", "0", "9", "azAZ09-._~+/", "abc=", "abc==", "x/y+z~"} {
		if !opaqueToken(s) {
			t.Errorf("opaqueToken(%q) = false", s)
		}
	}
	for _, s := range []string{"", "=", "==", "a=b", "=a", "a b", "`", "{", "@", "[", ":", "a\n", "é", "a,b", "a\"", "a\x00"} {
		if opaqueToken(s) {
			t.Errorf("opaqueToken(%q) = true", s)
		}
	}
}

func TestRedactToken(t *testing.T) {
	const msg = `Post "https://idp.example/introspect?t=tok-123": dial tcp: refused`
	if got := redactToken(msg, "tok-123"); strings.Contains(got, "tok-123") || !strings.Contains(got, "[token]") {
		t.Fatalf("redactToken = %q", got)
	}
	if got := redactToken(msg, ""); got != msg {
		t.Fatalf("redactToken with no token = %q", got)
	}
}

func TestProvidersValidateEdges(t *testing.T) {
	for key, set := range map[string]func(*ProvidersConfig){
		"jwks_refresh":        func(pc *ProvidersConfig) { pc.JWKSRefresh = 0 },
		"jwks_min_refresh":    func(pc *ProvidersConfig) { pc.JWKSMinRefresh = 0 },
		"jwks_max_stale":      func(pc *ProvidersConfig) { pc.JWKSMaxStale = 0 },
		"http_timeout":        func(pc *ProvidersConfig) { pc.HTTPTimeout = 0 },
		"introspection_cache": func(pc *ProvidersConfig) { pc.IntrospectionCache = 0 },
		"token_cache_size":    func(pc *ProvidersConfig) { pc.TokenCacheSize = 0 },
	} {
		pc := DefaultProviders()
		set(&pc)
		if err := pc.Validate("auth.", true); err == nil || !strings.Contains(err.Error(), "auth."+key+":") {
			t.Errorf("%s of zero: Validate = %v", key, err)
		}
	}
	// Equal intervals and a one-entry cache are valid.
	pc := DefaultProviders()
	pc.JWKSMinRefresh, pc.JWKSMaxStale, pc.TokenCacheSize = pc.JWKSRefresh, pc.JWKSRefresh, 1
	if err := pc.Validate("auth.", true); err != nil {
		t.Fatalf("min refresh = refresh = max stale, cache of 1: %v", err)
	}
	// Two issuers missing a name or an issuer are reported as missing
	// them, not as duplicates of each other.
	pc = DefaultProviders()
	pc.Issuers = []IssuerConfig{{Discovery: true, Audiences: []string{"a"}}, {Discovery: true, Audiences: []string{"a"}}}
	err := pc.Validate("auth.", true)
	if err == nil || !strings.Contains(err.Error(), "auth.issuers[1].name:") || !strings.Contains(err.Error(), "auth.issuers[1].issuer:") {
		t.Fatalf("Validate = %v", err)
	}
	if strings.Contains(err.Error(), "is also the") {
		t.Fatalf("empty names or issuers reported as duplicates: %v", err)
	}
}

// paddedJWKS serves p's key set padded with spaces to size bytes, with a
// Content-Length or chunked.
func paddedJWKS(t *testing.T, p *oidcprovider.Provider, size int, chunked bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		resp, err := http.Get(p.JWKSURL())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The padding goes inside the object, where a JSON decoder must
		// read through it.
		body = bytes.TrimSpace(body)
		end := len(body) - 1 // the closing brace
		body = append(body[:end:end], append([]byte(strings.Repeat(" ", size-len(body))), '}')...)
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.Write(body[:len(body)/2])
		if chunked {
			w.(http.Flusher).Flush()
		}
		w.Write(body[len(body)/2:])
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestKeySetSizeEdge(t *testing.T) {
	p := newProvider(t)
	tok := p.Sign("ES256", p.Claims("alice", "org_a"))
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) {
			for size, ok := range map[int]bool{MaxResponseBytes: true, MaxResponseBytes + 1: false} {
				cfg := idpConfig(p)
				cfg.JWKSURL = paddedJWKS(t, p, size, chunked).URL
				var log lockedBuffer
				v, err := New(Config{Providers: fastProviders(cfg), Logger: slog.New(slog.NewTextHandler(&log, nil))})
				if err != nil {
					t.Fatal(err)
				}
				// Within a deadline: a reader that never ends the body
				// would hang the fetch.
				c, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				_, err = v.Verify(c, tok)
				var e *Error
				switch {
				case ok && err != nil:
					t.Fatalf("key set of %d bytes: %v", size, err)
				case !ok && (!errors.As(err, &e) || e.Reason != ReasonKeysUnavailable):
					t.Fatalf("key set of %d bytes: Verify = %v, want %q", size, err, ReasonKeysUnavailable)
				case !ok && !strings.Contains(log.String(), errTooLarge.Error()):
					t.Fatalf("key set of %d bytes not refused for its size; log: %s", size, log.String())
				}
			}
		})
	}
}

// lockedBuffer is a log destination safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// countingTransport counts the requests it carries.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestHTTPClientTransportUsed(t *testing.T) {
	p := newProvider(t)
	rt := &countingTransport{}
	v, err := New(Config{Providers: fastProviders(idpConfig(p)), HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	accept(t, v, p.Sign("ES256", p.Claims("alice", "org_a")))
	if rt.n.Load() == 0 {
		t.Fatal("the configured HTTP client's transport carried no request")
	}
}

// fakeClockVerifier is a verifier that fetches on demand
// only (never started), on the returned clock.
func fakeClockVerifier(t *testing.T, pc ProvidersConfig) (*Verifier, *atomic.Pointer[time.Time]) {
	t.Helper()
	v, err := New(Config{Providers: pc})
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Pointer[time.Time]
	start := time.Now()
	clock.Store(&start)
	v.setNow(func() time.Time { return *clock.Load() })
	return v, &clock
}

func TestKeySetRefetchEdge(t *testing.T) {
	p := newProvider(t)
	pc := fastProviders(idpConfig(p))
	pc.JWKSMinRefresh = time.Minute
	v, clock := fakeClockVerifier(t, pc)
	t0 := *clock.Load()
	accept(t, v, p.Sign("ES256", p.Claims("alice", "org_a"))) // first fetch, at t0
	if p.JWKSHits() != 1 {
		t.Fatalf("%d fetches", p.JWKSHits())
	}
	fresh := p.AddKey("EdDSA")
	tok := oidcprovider.SignWith(fresh, p.Claims("bob", "org_a"), nil)
	set := func(d time.Duration) { t := t0.Add(d); clock.Store(&t) }

	set(pc.JWKSMinRefresh - time.Nanosecond) // too soon after the last fetch
	refuse(t, v, tok, ReasonUnknownKid)
	if p.JWKSHits() != 1 {
		t.Fatalf("an unknown kid fetched within the minimum interval (%d fetches)", p.JWKSHits())
	}
	set(pc.JWKSMinRefresh) // exactly the minimum interval later
	accept(t, v, tok)
	if p.JWKSHits() != 2 {
		t.Fatalf("%d fetches, want 2", p.JWKSHits())
	}
}

func TestMaxStaleEdge(t *testing.T) {
	p := newProvider(t)
	pc := fastProviders(idpConfig(p))
	pc.JWKSMaxStale = 2 * pc.JWKSRefresh
	v, clock := fakeClockVerifier(t, pc)
	t0 := *clock.Load()
	accept(t, v, p.Sign("ES256", p.Claims("alice", "org_a"))) // keys fetched at t0
	p.SetDown(true)
	set := func(d time.Duration) { t := t0.Add(d); clock.Store(&t) }
	claims := func(sub string) map[string]any {
		return claimsWith(p.Claims(sub, "org_a"), "iat", t0.Add(pc.JWKSMaxStale).Unix(), "exp", t0.Add(pc.JWKSMaxStale+time.Hour).Unix())
	}
	set(pc.JWKSMaxStale) // keys exactly max stale old still verify
	accept(t, v, p.Sign("ES256", claims("bob")))
	set(pc.JWKSMaxStale + time.Nanosecond)
	refuse(t, v, p.Sign("ES256", claims("carol")), ReasonKeysUnavailable)
}

// TestKeySetSkipsNonSigningKeys checks encryption and symmetric keys of a
// key set are dropped: they neither verify nor count as keys, so a token
// without kid still finds the one signing key.
func TestKeySetSkipsNonSigningKeys(t *testing.T) {
	p := newProvider(t)
	k := p.Key("ES256")
	p.SetKeys(k)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		resp, err := http.Get(p.JWKSURL())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		err = json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
		if err != nil || len(set.Keys) != 1 {
			http.Error(w, "bad key set", http.StatusBadGateway)
			return
		}
		enc := map[string]any{}
		for name, val := range set.Keys[0] {
			enc[name] = val
		}
		enc["use"], enc["kid"] = "enc", "enc-1"
		oct := map[string]any{"kty": "oct", "kid": "oct-1", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}
		set.Keys = append(set.Keys, enc, oct)
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	cfg := idpConfig(p)
	cfg.JWKSURL = srv.URL
	v, err := New(Config{Providers: fastProviders(cfg), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	accept(t, v, oidcprovider.SignWith(k, p.Claims("alice", "org_a"), map[string]any{"kid": nil}))
	if h := v.Health()[0]; h.Keys != 1 {
		t.Fatalf("health counts %d keys, want the one signing key", h.Keys)
	}
	refuse(t, v, oidcprovider.SignWith(k, p.Claims("alice", "org_a"), map[string]any{"kid": "enc-1"}), ReasonUnknownKid)
}

// TestStartClose checks Close stops the background refresh, is a no-op on a
// verifier never started, and that a Start after Close starts nothing.
func TestStartClose(t *testing.T) {
	p := newProvider(t)
	pc := fastProviders(idpConfig(p))
	pc.JWKSRefresh = 20 * time.Millisecond
	v, err := New(Config{Providers: pc})
	if err != nil {
		t.Fatal(err)
	}
	v.Start()
	eventually(t, "background refreshes", func() bool { return p.JWKSHits() >= 2 })
	v.Close()
	hits := p.JWKSHits()
	time.Sleep(10 * pc.JWKSRefresh)
	if p.JWKSHits() != hits {
		t.Fatalf("%d fetches after Close", p.JWKSHits()-hits)
	}

	idle, err := New(Config{Providers: pc})
	if err != nil {
		t.Fatal(err)
	}
	idle.Close() // never started: nothing to stop
	idle.Start() // after Close: starts nothing
	hits = p.JWKSHits()
	time.Sleep(10 * pc.JWKSRefresh)
	if p.JWKSHits() != hits {
		t.Fatalf("a Start after Close fetched %d times", p.JWKSHits()-hits)
	}
}

func TestHS256IssuerDistinctFromProviders(t *testing.T) {
	p := newProvider(t)
	if _, err := New(Config{Secret: secret, Issuer: p.Issuer(), Providers: fastProviders(idpConfig(p))}); err == nil {
		t.Fatal("New accepted an HS256 issuer that is also an identity provider's issuer")
	}
	if _, err := New(Config{Secret: secret, Issuer: "apikeys-cli", Providers: fastProviders(idpConfig(p))}); err != nil {
		t.Fatalf("distinct issuers: %v", err)
	}
}

func TestIssuerClaimType(t *testing.T) {
	v := newVerifier(t, Config{})
	for _, iss := range []any{7, true, []any{"a"}, map[string]any{"a": 1}} {
		refuse(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "iss", iss)), ReasonIssuer)
	}
}
