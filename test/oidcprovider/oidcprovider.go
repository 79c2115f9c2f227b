// Package oidcprovider is an OpenID provider for tests: an httptest server
// publishing a discovery document, a JWKS with RSA, EC P-256 and Ed25519
// keys, and an RFC 7662 introspection endpoint. Tests sign tokens with its
// keys, rotate and remove keys, and take it down and up again.
package oidcprovider

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Client credentials the introspection endpoint expects.
const (
	ClientID     = "apikeys-introspector"
	ClientSecret = "introspection-secret-0123456789"
)

// Audience is the audience Claims puts in tokens.
const Audience = "apikeys"

// Key is a signing key of the provider.
type Key struct {
	Kid     string
	Alg     string
	Private crypto.Signer
}

// PKCS8PEM returns the private key in PKCS #8 PEM form (for other JOSE
// implementations).
func (k *Key) PKCS8PEM() string {
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// PublicPEM returns the public key in PKIX PEM form.
func (k *Key) PublicPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(k.Private.Public())
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Provider is a running test OpenID provider.
type Provider struct {
	srv *httptest.Server

	mu        sync.Mutex
	published []*Key
	opaque    map[string]map[string]any
	down      bool
	n         int

	jwksHits, discoveryHits, introspectionHits atomic.Int64
}

// New starts a provider publishing one key per algorithm RS256, ES256 and
// EdDSA.
func New() *Provider {
	p := &Provider{opaque: map[string]map[string]any{}}
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		p.published = append(p.published, p.newKey(alg))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("POST /introspect", p.introspect)
	p.srv = httptest.NewServer(p.gate(mux))
	return p
}

// Close stops the provider.
func (p *Provider) Close() { p.srv.Close() }

// Issuer is the provider's issuer identifier (its base URL).
func (p *Provider) Issuer() string { return p.srv.URL }

// JWKSURL is where the key set is published.
func (p *Provider) JWKSURL() string { return p.srv.URL + "/jwks" }

// IntrospectionURL is the RFC 7662 endpoint.
func (p *Provider) IntrospectionURL() string { return p.srv.URL + "/introspect" }

// JWKSHits, DiscoveryHits and IntrospectionHits count the requests served
// (not those refused while down).
func (p *Provider) JWKSHits() int64          { return p.jwksHits.Load() }
func (p *Provider) DiscoveryHits() int64     { return p.discoveryHits.Load() }
func (p *Provider) IntrospectionHits() int64 { return p.introspectionHits.Load() }

// SetDown makes the provider drop every connection (true) or serve again.
func (p *Provider) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

func (p *Provider) gate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (p *Provider) newKey(alg string) *Key {
	p.n++
	k := &Key{Kid: fmt.Sprintf("%s-%d", alg, p.n), Alg: alg}
	var err error
	switch alg {
	case "RS256", "PS256":
		k.Private, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		k.Private, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, k.Private, err = ed25519.GenerateKey(rand.Reader)
	default:
		panic("oidcprovider: no key type for " + alg)
	}
	if err != nil {
		panic(err)
	}
	return k
}

// Key returns the newest published key for alg.
func (p *Provider) Key(alg string) *Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.published) - 1; i >= 0; i-- {
		if p.published[i].Alg == alg {
			return p.published[i]
		}
	}
	panic("oidcprovider: no published key for " + alg)
}

// AddKey makes and publishes a new key for alg.
func (p *Provider) AddKey(alg string) *Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.newKey(alg)
	p.published = append(p.published, k)
	return k
}

// NewUnpublishedKey makes a key for alg that the set does not hold.
func (p *Provider) NewUnpublishedKey(alg string) *Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.newKey(alg)
}

// RemoveKey stops publishing the key kid.
func (p *Provider) RemoveKey(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.published[:0]
	for _, k := range p.published {
		if k.Kid != kid {
			out = append(out, k)
		}
	}
	p.published = out
}

// SetKeys publishes exactly keys.
func (p *Provider) SetKeys(keys ...*Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = append([]*Key(nil), keys...)
}

// Claims returns a valid claims set for sub and orgs: this issuer, the
// Audience, issued a minute ago and expiring in an hour.
func (p *Provider) Claims(sub string, orgs ...string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": p.Issuer(), "aud": Audience, "sub": sub, "orgs": orgs,
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// Sign signs claims with the newest key for alg, naming its kid.
func (p *Provider) Sign(alg string, claims map[string]any) string {
	return SignWith(p.Key(alg), claims, nil)
}

// SignWith signs claims with k. header entries are added to the JOSE
// header (a nil value removes one, e.g. "kid").
func SignWith(k *Key, claims map[string]any, header map[string]any) string {
	m := jwt.GetSigningMethod(k.Alg)
	t := jwt.NewWithClaims(m, jwt.MapClaims(claims))
	t.Header["kid"] = k.Kid
	for name, v := range header {
		if v == nil {
			delete(t.Header, name)
		} else {
			t.Header[name] = v
		}
	}
	s, err := t.SignedString(k.Private)
	if err != nil {
		panic(err)
	}
	return s
}

// AddOpaque registers an opaque token and the introspection answer it gets
// (active true is added; omit the token to have it answered inactive).
func (p *Provider) AddOpaque(token string, answer map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := maps.Clone(answer)
	a["active"] = true
	p.opaque[token] = a
}

// RevokeOpaque makes token inactive.
func (p *Provider) RevokeOpaque(token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.opaque, token)
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	p.discoveryHits.Add(1)
	writeJSON(w, map[string]any{
		"issuer": p.Issuer(), "jwks_uri": p.JWKSURL(), "introspection_endpoint": p.IntrospectionURL(),
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256", "EdDSA"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	p.jwksHits.Add(1)
	p.mu.Lock()
	keys := append([]*Key(nil), p.published...)
	p.mu.Unlock()
	set := jwkset.NewMemoryStorage()
	for _, k := range keys {
		j, err := jwkset.NewJWKFromKey(k.Private.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.Kid, ALG: jwkset.ALG(k.Alg), USE: jwkset.UseSig},
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := set.KeyWrite(r.Context(), j); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	b, err := set.JSONPublic(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != ClientID || secret != ClientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	p.introspectionHits.Add(1)
	tok := r.PostFormValue("token")
	p.mu.Lock()
	answer, found := p.opaque[tok]
	p.mu.Unlock()
	if !found {
		writeJSON(w, map[string]any{"active": false})
		return
	}
	writeJSON(w, answer)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
