package app

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentauri/apikeys/adapters/argon2id"
	"github.com/agentauri/apikeys/adapters/auditqueue"
	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/adapters/jwtauth"
	"github.com/agentauri/apikeys/adapters/pepper"
	"github.com/agentauri/apikeys/adapters/ratelimit"
	"github.com/agentauri/apikeys/adapters/telemetry"
	"github.com/agentauri/apikeys/adapters/verifycache"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/keys"
	"github.com/agentauri/apikeys/ports"
	"github.com/agentauri/apikeys/test/dbtest"
)

// discardExporter accepts spans and drops them: the cost of tracing
// without the cost of a network.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// discardAudit stands in for the audit store: the queue's background
// writes would otherwise compete with the measured requests for the CPU
// and swamp the figures with SQLite's cost.
type discardAudit struct{ ports.AuditStore }

func (discardAudit) AppendUsage(context.Context, []audit.Event) error { return nil }

// benchStack is the verification path of Serve, wired the same way
// (telemetry decorators included), served in-process without a socket.
type benchStack struct {
	handler http.Handler
	secret  string
	close   func()
}

func newBenchStack(b *testing.B, tc TelemetryConfig, opts ...telemetry.Option) *benchStack {
	b.Helper()
	cfg := Defaults()
	cfg.Telemetry = tc
	telemetryOptions = opts
	defer func() { telemetryOptions = nil }()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	tel, err := startTelemetry(ctx, cfg, logger)
	if err != nil {
		b.Fatal(err)
	}
	store, err := gormstore.Open(ctx, gormstore.Config{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "bench.db"), ChainKey: []byte(dbtest.ChainKey)})
	if err != nil {
		b.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := tel.instrumentStore(store); err != nil {
		b.Fatal(err)
	}
	hasher, err := argon2id.New(argon2id.Params{Memory: 8192, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)
	if err != nil {
		b.Fatal(err)
	}
	digester, _ := pepper.New([]byte(strings.Repeat("p", 32)))
	cache, _ := verifycache.New(1000, time.Hour)
	queue, err := auditqueue.New(tel.auditStore(discardAudit{}), auditqueue.Config{Capacity: 100_000, BatchSize: 500, FlushInterval: 50 * time.Millisecond}, logger)
	if err != nil {
		b.Fatal(err)
	}
	queue.Start()
	if err := tel.observe(cache, queue); err != nil {
		b.Fatal(err)
	}
	limiter, err := ratelimit.New(ratelimit.DefaultConfig(), logger)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = limiter.Close() })
	svc, err := keys.New(keys.Deps{
		Store: tel.keyStore(store), Policies: store, Usage: queue, Hasher: tel.hasher(hasher), Digester: digester,
		Cache: cache, Clock: systemClock{}, Entropy: rand.Reader,
		KeyLimits: limiter, FailedAuth: limiter, ManagementLimits: limiter,
	})
	if err != nil {
		b.Fatal(err)
	}
	tokens, _ := jwtauth.New(jwtauth.Config{Secret: []byte(strings.Repeat("j", 32))})
	api, err := httpapi.New(httpapi.Options{
		Keys: tel.keyService(svc), Tokens: tokens, Logger: logger,
		Trace: tel.trace(), Middleware: tel.middleware("127.0.0.1:8080", ""), Extra: tel.routes(),
	})
	if err != nil {
		b.Fatal(err)
	}
	issued, err := svc.Create(ctx, apikey.Principal{Subject: "bench", Organizations: []string{"org_1"}},
		ports.CreateInput{Name: "bench", OrganizationID: "org_1", Scopes: []string{"events:read"}})
	if err != nil {
		b.Fatal(err)
	}
	return &benchStack{handler: api.Handler(), secret: issued.Secret, close: func() {
		_ = queue.Close(ctx)
		_ = tel.shutdown(5 * time.Second)
		cache.Close()
		_ = store.Close()
	}}
}

// BenchmarkVerifyTelemetry measures GET /api/v1/auth/verify (a cached key:
// the hot path, where telemetry's share is largest) through gin, httpapi,
// the core, the cache and the audit queue (writing to a discarding store),
// with telemetry off, tracing to a
// discarding exporter, metrics on (Prometheus reader, spans unrecorded) and
// both. Run with:
//
//	go test -run '^$' -bench BenchmarkVerifyTelemetry -benchtime 2s -count 5 ./app/
func BenchmarkVerifyTelemetry(b *testing.B) {
	cases := []struct {
		name string
		tc   TelemetryConfig
		opts []telemetry.Option
	}{
		{"off", defaultTelemetry(), nil},
		{"tracing", func() TelemetryConfig { t := defaultTelemetry(); t.Enabled = true; return t }(),
			[]telemetry.Option{telemetry.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(discardExporter{}))}},
		{"metrics", func() TelemetryConfig { t := defaultTelemetry(); t.Enabled, t.Prometheus = true, true; return t }(), nil},
		{"tracing+metrics", func() TelemetryConfig { t := defaultTelemetry(); t.Enabled, t.Prometheus = true, true; return t }(),
			[]telemetry.Option{telemetry.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(discardExporter{}))}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := newBenchStack(b, c.tc, c.opts...)
			defer s.close()
			req := httptest.NewRequest("GET", "/api/v1/auth/verify?scope=events:read", nil)
			req.Header.Set("X-API-Key", s.secret)
			req.RemoteAddr = "127.0.0.1:40000"
			serve := func() {
				w := httptest.NewRecorder()
				s.handler.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("verify: %d %s", w.Code, w.Body)
				}
				_, _ = io.Copy(io.Discard, w.Body)
			}
			serve() // prove the key once: every later call is a cache hit
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serve()
			}
		})
	}
}
