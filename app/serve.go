package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/agentauri/apikeys/adapters/argon2id"
	"github.com/agentauri/apikeys/adapters/auditqueue"
	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/adapters/pepper"
	"github.com/agentauri/apikeys/adapters/ratelimit"
	"github.com/agentauri/apikeys/adapters/verifycache"
	"github.com/agentauri/apikeys/core/auditlog"
	"github.com/agentauri/apikeys/core/keys"
	"github.com/agentauri/apikeys/core/orgs"
)

// systemClock is the real clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// storeConfig turns the storage settings into the store's configuration,
// placing the default SQLite file under data_dir.
func storeConfig(cfg Config, logger *slog.Logger) gormstore.Config {
	dsn := cfg.Storage.DSN
	if cfg.Storage.Driver == "sqlite" && dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "apikeys.db")
	}
	return gormstore.Config{
		Driver: cfg.Storage.Driver, DSN: dsn,
		MaxOpenConns: cfg.Storage.MaxOpenConns, MaxIdleConns: cfg.Storage.MaxIdleConns,
		ConnMaxLifetime: cfg.Storage.ConnMaxLifetime, ConnMaxIdleTime: cfg.Storage.ConnMaxIdleTime,
		QueryTimeout: cfg.Storage.QueryTimeout, Logger: logger,
		ChainKey: []byte(cfg.Audit.ChainKey), PreviousChainKeys: secretBytes(cfg.Audit.PreviousChainKeys),
	}
}

// OpenStore opens the configured database.
func OpenStore(ctx context.Context, cfg Config, logger *slog.Logger) (*gormstore.Store, error) {
	st, err := gormstore.Open(ctx, storeConfig(cfg, logger))
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", cfg.Storage.Driver, err)
	}
	return st, nil
}

// service is the object graph of `apikeys serve`, built by build and run
// by run.
type service struct {
	cfg     Config
	log     *slog.Logger
	closers closers
	devHint bool // development secrets are in use: say how to mint a token

	store    *gormstore.Store
	listener net.Listener
	keys     *keys.Service
	auditLog *auditlog.Service
	api      *httpapi.Server
	extAuthz *extAuthz     // nil unless grpc.addr is set
	polls    atomic.Uint64 // invalidation polls run, for the debug counters
}

// Serve runs the HTTP service until ctx is cancelled, then stops accepting
// requests, lets those in flight finish, flushes the audit queue and closes
// the database. If ready is not nil it receives the listening address.
func Serve(ctx context.Context, cfg Config, logger *slog.Logger, ready chan<- string) error {
	s, err := build(ctx, cfg, logger)
	if err != nil {
		return err
	}
	return s.run(ctx, ready)
}

// build resolves the secrets and builds every component, registering each
// one's closer as it starts. On failure it closes what it started.
func build(ctx context.Context, cfg Config, logger *slog.Logger) (_ *service, err error) {
	s := &service{cfg: cfg, log: logger}
	s.closers.log = logger
	defer func() {
		if err != nil {
			_ = s.closers.close(context.Background())
		}
	}()
	generated, secretsPath, err := ResolveSecrets(&s.cfg)
	if err != nil {
		return nil, err
	}
	cfg = s.cfg
	if generated {
		logger.Warn("generated development secrets (JWT secret, pepper, audit chain key); keep them out of production",
			slog.String("file", secretsPath))
	} else if secretsPath != "" {
		logger.Info("using development secrets", slog.String("file", secretsPath))
	}
	s.devHint = secretsPath != ""

	tel, err := startTelemetry(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	s.closers.add("telemetry", func(context.Context) error { return tel.shutdown(5 * time.Second) })
	s.log = tel.logger(logger)
	s.closers.log = s.log

	if s.store, err = openMigrated(ctx, cfg, s.log); err != nil {
		return nil, err
	}
	s.closers.add("database", func(context.Context) error { return s.store.Close() })
	if err := tel.instrumentStore(s.store); err != nil {
		return nil, err
	}

	hasher, err := argon2id.New(cfg.Security.Argon2.params(), cfg.Security.Argon2.MaxConcurrent)
	if err != nil {
		return nil, fmt.Errorf("security.argon2: %w", err)
	}
	digester, err := pepper.New([]byte(cfg.Security.Pepper))
	if err != nil {
		return nil, fmt.Errorf("security.pepper: %w", err)
	}
	cache, err := verifycache.New(cfg.Security.CacheSize, cfg.Security.CacheTTL)
	if err != nil {
		return nil, fmt.Errorf("security.cache_size: %w", err)
	}
	s.closers.add("verification cache", func(context.Context) error { cache.Close(); return nil })
	queue, err := auditqueue.New(tel.auditStore(s.store), cfg.Audit.queue(), s.log)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	queue.Start()
	s.closers.add("audit queue", queue.Close)
	if err := tel.observe(cache, queue); err != nil {
		return nil, err
	}

	limitOpts, err := tel.limitObserver()
	if err != nil {
		return nil, err
	}
	limiter, err := ratelimit.New(cfg.limiterConfig(), s.log, limitOpts...)
	if err != nil {
		return nil, err
	}
	s.closers.add("rate limiter", func(context.Context) error { return limiter.Close() })
	keyService, err := keys.New(keys.Deps{
		Store: tel.keyStore(s.store), Policies: s.store, Usage: queue, Hasher: tel.hasher(hasher), Digester: digester, Cache: cache,
		Clock: systemClock{}, Entropy: rand.Reader,
		KeyLimits: tel.keyLimiter(limiter), FailedAuth: limiter, ManagementLimits: limiter,
	}, cfg.keyOptions())
	if err != nil {
		return nil, err
	}
	s.keys = keyService
	orgService, err := orgs.New(orgs.Deps{Store: s.store, Clock: systemClock{}, Entropy: rand.Reader})
	if err != nil {
		return nil, err
	}
	if s.auditLog, err = newAuditLog(cfg.Audit, s.store); err != nil {
		return nil, err
	}
	tokens, err := newTokenVerifier(cfg, s.log)
	if err != nil {
		return nil, err
	}
	tokens.Start()
	s.closers.add("token verifier", func(context.Context) error { tokens.Close(); return nil })
	// Listening before the API is built lets telemetry name the server by
	// the port it got (http.addr may ask for :0); nothing is accepted
	// before run serves.
	if s.listener, err = new(net.ListenConfig).Listen(ctx, "tcp", cfg.HTTP.Addr); err != nil {
		return nil, fmt.Errorf("http.addr: %w", err)
	}
	s.closers.add("listener", func(context.Context) error {
		if err := s.listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil // the HTTP server's shutdown closed it
	})
	// The web console (adapters/console): the same use cases as the API.
	web, webErr := newConsole(cfg, tel.keyService(keyService), s.auditLog, tel, s.log)
	s.api, err = newHTTPAPI(httpapi.Options{
		Keys: tel.keyService(keyService), Orgs: orgService, Audit: s.auditLog, Tokens: tokens, Logger: s.log, TrustedProxies: cfg.HTTP.TrustedProxies,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes, Trace: tel.trace(), Middleware: tel.middleware(cfg.HTTP.Addr, s.listener.Addr().String()), Extra: withConsole(tel.routes(), web),
		VerifyLogLevel: verifyLogLevel(cfg.Log),
		ThrottleDelay:  cfg.Security.FailedAuth.Delay, MaxThrottled: cfg.Security.FailedAuth.MaxDelayed, ReadyDetails: readyDetails(authReadyDetails(tokens), limiterReadyDetails(limiter)), Ready: s.ready,
		Routes: cfg.Routes, AcceptBearer: cfg.Edge.AcceptBearer, ForwardPrefix: cfg.Edge.ForwardPrefix, Gateway: cfg.gatewayOptions(tel.propagate()),
	})
	if err = errors.Join(webErr, err); err != nil {
		return nil, err
	}
	if err := s.listenExtAuthz(ctx, tel.keyService(keyService), tel); err != nil {
		return nil, err
	}
	if err := s.startDebugListener(ctx, &debugSources{
		hasher: hasher, store: s.store, cache: cache, queue: queue, polls: &s.polls,
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// startDebugListener starts the debug listener when debug.addr is set, and
// closes it with the service.
func (s *service) startDebugListener(ctx context.Context, src *debugSources) error {
	if s.cfg.Debug.Addr == "" {
		return nil
	}
	stop, err := startDebug(ctx, s.cfg.Debug.Addr, src, s.log)
	if err != nil {
		return err
	}
	s.closers.add("debug listener", func(ctx context.Context) error { stop(ctx); return nil })
	return nil
}

// openMigrated opens the database and applies the migrations, or refuses
// to go on with migrations pending when storage.auto_migrate is off.
func openMigrated(ctx context.Context, cfg Config, logger *slog.Logger) (*gormstore.Store, error) {
	store, err := OpenStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrateOn() {
		err = store.Migrate(ctx)
		if err != nil {
			err = fmt.Errorf("migrate: %w", err)
		}
	} else if n, perr := store.Pending(ctx); perr != nil {
		err = fmt.Errorf("check migrations: %w", perr)
	} else if n > 0 {
		err = fmt.Errorf("%d database migrations are pending: run `apikeys migrate up` (or set storage.auto_migrate: true)", n)
	}
	if err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// ready reports whether the service can serve: the database answers and
// its schema is current.
func (s *service) ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return err
	}
	n, err := s.store.Pending(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return httpapi.ErrMigrationsPending
	}
	return nil
}

// run starts the background jobs and the HTTP server, serves until ctx is
// cancelled or the server fails, then closes everything in reverse order
// of start: the HTTP server drains its requests first, the audit queue
// flushes before the database closes.
func (s *service) run(ctx context.Context, ready chan<- string) error {
	cfg := s.cfg
	s.closers.add("invalidation poll", s.startInvalidationPoll())
	s.closers.add("audit purge job", startPurgeJob(cfg, s.auditLog, s.log))
	s.closers.add("failure summaries", s.startFailureSummaries())

	ln := s.listener
	srv := &http.Server{
		Handler:           s.api.Handler(),
		ReadHeaderTimeout: cfg.HTTP.ReadTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	s.closers.add("http server", srv.Shutdown)
	if s.extAuthz != nil {
		s.closers.add("grpc server", s.extAuthz.serve(s.log))
	}

	addr := ln.Addr().String()
	s.log.Info("apikeys listening", slog.String("addr", addr), slog.String("storage", cfg.Storage.Driver),
		slog.String("env", cfg.Env), slog.String("version", Version))
	if s.devHint {
		s.log.Info("mint a development token with: " + selfCommand() + " token --sub user_1 --org org_123")
	}
	if ready != nil {
		ready <- addr
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("http server: %w", err)
		}
	}
	s.log.Info("shutting down: draining requests and flushing the audit queue")
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := s.closers.close(shutCtx); err != nil && runErr == nil {
		runErr = err
	}
	s.log.Info("stopped")
	return runErr
}

// startFailureSummaries records, every audit.failure_summary_interval, the
// summaries of failed verifications that named no key; its closer records
// the last ones, before the audit queue (closed after it) flushes.
func (s *service) startFailureSummaries() func(context.Context) error {
	flush := func(ctx context.Context) {
		if err := s.keys.FlushFailureSummaries(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("record failure summaries", slog.String("error", err.Error()))
		}
	}
	stop := every(s.cfg.Audit.FailureSummaryInterval, flush)
	return func(ctx context.Context) error {
		_ = stop(ctx)
		return s.keys.FlushFailureSummaries(ctx)
	}
}

// startInvalidationPoll applies, every security.invalidation_poll, the
// rotations and revocations other instances made, until the returned
// closer stops it.
func (s *service) startInvalidationPoll() func(context.Context) error {
	return every(s.cfg.Security.InvalidationPoll, func(ctx context.Context) {
		err := s.keys.SyncInvalidations(ctx)
		s.polls.Add(1)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("poll key invalidations", slog.String("error", err.Error()))
		}
	})
}

// NewLogger builds the structured logger the configuration asks for.
func NewLogger(cfg LogConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
