// Package bench holds the in-process benchmarks of the verification path
// (go test -bench . ./test/bench); the load benchmarks against the real
// binary live in test/bench/load and run with `make bench`.
package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/argon2id"
	"github.com/agentauri/apikeys/adapters/auditqueue"
	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/adapters/jwtauth"
	"github.com/agentauri/apikeys/adapters/pepper"
	"github.com/agentauri/apikeys/adapters/ratelimit"
	"github.com/agentauri/apikeys/adapters/verifycache"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/keys"
	"github.com/agentauri/apikeys/ports"
	"github.com/agentauri/apikeys/test/bench/ceiling"
	"github.com/agentauri/apikeys/test/dbtest"
)

const (
	benchPepper = "bench-pepper-0123456789abcdef0123456789abcdef"
	benchJWT    = "bench-jwt-secret-0123456789abcdef0123456789"
	org         = "org_bench"
)

type clock struct{}

func (clock) Now() time.Time { return time.Now() }

// noCache remembers nothing, so that every verification pays the store
// read and the Argon2id computation.
type noCache struct{}

func (noCache) Get(string) (apikey.Verified, bool) { return apikey.Verified{}, false }
func (noCache) Put(string, apikey.Verified)        {}
func (noCache) Prime(string, apikey.Verified)      {}
func (noCache) InvalidateKeys(...string)           {}

// fixture is the service wired as app.Serve wires it, on a SQLite file,
// with the default Argon2id parameters and the usage audit on.
type fixture struct {
	svc    *keys.Service
	secret string // a valid key holding triggers:read
	queue  *auditqueue.Queue
}

func newFixture(b *testing.B, cache ports.VerifyCache) *fixture {
	b.Helper()
	ctx := context.Background()
	store, err := gormstore.Open(ctx, gormstore.Config{Driver: gormstore.DriverSQLite, DSN: filepath.Join(b.TempDir(), "bench.db"), ChainKey: []byte(dbtest.ChainKey)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	hasher, err := argon2id.New(argon2id.DefaultParams(), 0)
	if err != nil {
		b.Fatal(err)
	}
	dig, err := pepper.New([]byte(benchPepper))
	if err != nil {
		b.Fatal(err)
	}
	if cache == nil {
		c, err := verifycache.New(100_000, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		cache = c
	}
	queue, err := auditqueue.New(store, auditqueue.DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	queue.Start()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := queue.Close(ctx); err != nil {
			b.Error(err)
		}
	})
	// The failed-authentication throttle is off: the unknown-key and
	// bad-checksum benchmarks measure what each such request costs, not
	// the (cheaper) 429 an address that keeps failing gets.
	limits := ratelimit.DefaultConfig()
	limits.FailedAuth.Limit = 0
	limiter, err := ratelimit.New(limits, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = limiter.Close() })
	svc, err := keys.New(keys.Deps{Store: store, Policies: store, Usage: queue, Hasher: hasher, Digester: dig, Cache: cache,
		Clock: clock{}, Entropy: rand.Reader, KeyLimits: limiter, FailedAuth: limiter, ManagementLimits: limiter})
	if err != nil {
		b.Fatal(err)
	}
	iss, err := svc.Create(ctx, apikey.Principal{Subject: "bench", Organizations: []string{org}},
		ports.CreateInput{Name: "bench", OrganizationID: org, Scopes: []string{"triggers:read", "events:read"}})
	if err != nil {
		b.Fatal(err)
	}
	return &fixture{svc: svc, secret: iss.Secret, queue: queue}
}

// limitedKey creates a key with the largest rate limit a key may have,
// so that every verification takes from its budget but none is refused.
func (f *fixture) limitedKey(b *testing.B) string {
	b.Helper()
	iss, err := f.svc.Create(context.Background(), apikey.Principal{Subject: "bench", Organizations: []string{org}},
		ports.CreateInput{Name: "bench limited", OrganizationID: org, Scopes: []string{"triggers:read", "events:read"},
			RateLimit: &apikey.RateLimit{Limit: apikey.MaxRateLimit, Window: apikey.WindowSecond}})
	if err != nil {
		b.Fatal(err)
	}
	return iss.Secret
}

// fenced creates a key like the fixture's with a full IP allowlist
// (apikey.MaxIPAllowlist networks, the one holding the benchmark's
// 127.0.0.1 last, so that every check scans them all) and
// apikey.MaxMetadataBytes of metadata, and returns its secret.
func (f *fixture) fenced(b *testing.B) string {
	b.Helper()
	allow := make([]string, 0, apikey.MaxIPAllowlist)
	for i := range apikey.MaxIPAllowlist - 1 {
		allow = append(allow, fmt.Sprintf("10.%d.%d.0/24", i/256, i%256))
	}
	allow = append(allow, "127.0.0.0/8")
	head := `{"customer":"cus_0123456789","plan":"enterprise","pad":"`
	meta := head + strings.Repeat("x", apikey.MaxMetadataBytes-len(head)-2) + `"}`
	iss, err := f.svc.Create(context.Background(), apikey.Principal{Subject: "bench", Organizations: []string{org}},
		ports.CreateInput{Name: "bench fenced", OrganizationID: org, Scopes: []string{"triggers:read", "events:read"},
			IPAllowlist: allow, Metadata: []byte(meta)})
	if err != nil {
		b.Fatal(err)
	}
	if len(iss.Key.Metadata) != apikey.MaxMetadataBytes || len(iss.Key.IPAllowlist) != apikey.MaxIPAllowlist {
		b.Fatalf("fenced key: %d bytes of metadata, %d networks", len(iss.Key.Metadata), len(iss.Key.IPAllowlist))
	}
	return iss.Secret
}

// drain waits, within the timed region, until every usage event is
// stored: the audit writer's work belongs to each verification, and
// without it the queue would absorb the first runs and skew b.N.
func (f *fixture) drain(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.queue.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

var req = audit.Request{Method: "GET", Path: "/api/v1/auth/verify", ClientIP: "127.0.0.1", UserAgent: "bench", RequestID: "req_bench"}

// unknownKeys returns n distinct well-formed keys that match nothing.
func unknownKeys(b *testing.B, n int) []string {
	out := make([]string, n)
	for i := range out {
		s, err := apikey.Generate(rand.Reader, apikey.EnvTest)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = s
	}
	return out
}

// badChecksum returns a well-formed key whose checksum fails.
func badChecksum(b *testing.B) string {
	for {
		s := unknownKeys(b, 1)[0]
		c := []byte(s[len(s)-apikey.ChecksumLen:])
		c = append(c[1:], c[0])
		bad := s[:len(s)-apikey.ChecksumLen] + string(c)
		if _, err := apikey.Parse(bad); errors.Is(err, apikey.ErrChecksum) {
			return bad
		}
	}
}

// use verifies secret for triggers:read and records the verification, as
// the HTTP adapter does, and returns its outcome.
func (f *fixture) use(ctx context.Context, secret string) (apikey.Outcome, error) {
	v, err := f.svc.Verify(ctx, ports.VerifyInput{Secret: secret, Scopes: []string{"triggers:read"}, Request: req})
	if err != nil {
		return "", err
	}
	return v.Outcome, f.svc.Record(ctx, v, 200)
}

// BenchmarkVerify measures keys.Service.Verify and Record, usage audit
// included.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	b.Run("cache_hit", func(b *testing.B) {
		f := newFixture(b, nil)
		if o, err := f.use(ctx, f.secret); err != nil || o != apikey.OutcomeOK {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if o, err := f.use(ctx, f.secret); err != nil || o != apikey.OutcomeOK {
					b.Error(err)
					return
				}
			}
		})
		f.drain(b)
	})
	b.Run("cache_hit_fenced", func(b *testing.B) {
		// cache_hit with a 100-entry IP allowlist and 1 KiB of metadata.
		f := newFixture(b, nil)
		secret := f.fenced(b)
		if o, err := f.use(ctx, secret); err != nil || o != apikey.OutcomeOK {
			b.Fatal(o, err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if o, err := f.use(ctx, secret); err != nil || o != apikey.OutcomeOK {
					b.Error(o, err)
					return
				}
			}
		})
		f.drain(b)
	})
	b.Run("cache_miss", func(b *testing.B) {
		// One indexed read and one Argon2id computation each time.
		f := newFixture(b, noCache{})
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if o, err := f.use(ctx, f.secret); err != nil || o != apikey.OutcomeOK {
				b.Fatal(err)
			}
		}
		f.drain(b)
	})
	b.Run("unknown_key", func(b *testing.B) {
		f := newFixture(b, nil)
		ks := unknownKeys(b, 4096)
		var i atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := ks[i.Add(1)%uint64(len(ks))]
				if o, err := f.use(ctx, k); err != nil || o != apikey.OutcomeUnknown {
					b.Errorf("Verify(unknown) = %s, %v", o, err)
					return
				}
			}
		})
		f.drain(b)
	})
	b.Run("bad_checksum", func(b *testing.B) {
		f := newFixture(b, nil)
		bad := badChecksum(b)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if o, err := f.use(ctx, bad); err != nil || o != apikey.OutcomeChecksum {
					b.Errorf("Verify(bad checksum) = %s, %v", o, err)
					return
				}
			}
		})
		f.drain(b)
	})
}

// BenchmarkHTTP measures GET /api/v1/auth/verify through the gin engine
// (no sockets), next to the ceiling's bare handler.
func BenchmarkHTTP(b *testing.B) {
	serve := func(b *testing.B, h http.Handler, key string, want int, f *fixture) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/auth/verify?scope=triggers:read", nil)
			r.RemoteAddr = "127.0.0.1:40000"
			r.Header.Set("X-API-Key", key)
			for pb.Next() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != want {
					b.Errorf("status %d, want %d: %s", w.Code, want, w.Body)
					return
				}
			}
		})
		if f != nil {
			f.drain(b)
		}
	}
	api := func(b *testing.B, f *fixture) http.Handler {
		tokens, err := jwtauth.New(jwtauth.Config{Secret: []byte(benchJWT)})
		if err != nil {
			b.Fatal(err)
		}
		// The default log: JSON at info, one access line per request.
		logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
		s, err := httpapi.New(httpapi.Options{Keys: f.svc, Tokens: tokens, Logger: logger})
		if err != nil {
			b.Fatal(err)
		}
		return s.Handler()
	}
	b.Run("ceiling", func(b *testing.B) {
		serve(b, ceiling.Handler(), "sk_test_any", http.StatusOK, nil)
	})
	b.Run("verify", func(b *testing.B) {
		f := newFixture(b, nil)
		serve(b, api(b, f), f.secret, http.StatusOK, f)
	})
	b.Run("verify_rate_limited", func(b *testing.B) {
		f := newFixture(b, nil)
		serve(b, api(b, f), f.limitedKey(b), http.StatusOK, f)
	})
	b.Run("verify_fenced", func(b *testing.B) {
		// verify with a 100-entry IP allowlist and 1 KiB of metadata in
		// the answer.
		f := newFixture(b, nil)
		serve(b, api(b, f), f.fenced(b), http.StatusOK, f)
	})
	b.Run("bad_checksum", func(b *testing.B) {
		f := newFixture(b, nil)
		serve(b, api(b, f), badChecksum(b), http.StatusUnauthorized, f)
	})
}
