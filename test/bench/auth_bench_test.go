package bench

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/adapters/jwtauth"
	"github.com/agentauri/apikeys/test/oidcprovider"
)

// BenchmarkManagementAuth measures a management call (GET
// /api/v1/api-keys through the gin engine, on SQLite) authenticated by an
// HS256 token and by an RS256 token verified against an identity
// provider's JWKS. The key set is fetched once; a proven token is
// remembered until it expires, so the RS256 signature is checked on the
// first call only: the target is RS256 within 10% of HS256.
// rs256_new_token presents a token never seen before on every call, the
// cost of a full verification (RSA-2048 PKCS #1 v1.5), for comparison.
func BenchmarkManagementAuth(b *testing.B) {
	p := oidcprovider.New()
	b.Cleanup(p.Close)
	f := newFixture(b, nil)
	tokens, err := jwtauth.New(jwtauth.Config{
		Secret: []byte(benchJWT), MaxTTL: 24 * time.Hour, Leeway: 30 * time.Second,
		Providers: jwtauth.ProvidersConfig{Issuers: []jwtauth.IssuerConfig{{
			Name: "idp", Issuer: p.Issuer(), JWKSURL: p.JWKSURL(), Audiences: []string{oidcprovider.Audience},
		}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	tokens.Start()
	b.Cleanup(tokens.Close)
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := httpapi.New(httpapi.Options{Keys: f.svc, Tokens: tokens, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	hs, err := tokens.Mint("bench", []string{org}, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	rs := p.Sign("RS256", p.Claims("bench", org))

	call := func(b *testing.B, tok string) {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/api-keys", nil)
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	run := func(name, tok string) {
		b.Run(name, func(b *testing.B) {
			call(b, tok) // the first call proves the token (and fetches the key set)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				call(b, tok)
			}
		})
	}
	b.Run("verify_only", func(b *testing.B) {
		// The authentication step alone, without the call around it.
		for name, tok := range map[string]string{"hs256": hs, "rs256_jwks": rs} {
			b.Run(name, func(b *testing.B) {
				ctx := b.Context()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := tokens.Verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
	run("hs256", hs)
	run("rs256_jwks", rs)
	b.Run("rs256_new_token", func(b *testing.B) {
		k := p.Key("RS256")
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			c := p.Claims("bench", org)
			c["jti"] = fmt.Sprint("t-", i)
			i++
			tok := oidcprovider.SignWith(k, c, nil)
			b.StartTimer()
			call(b, tok)
		}
	})
}
