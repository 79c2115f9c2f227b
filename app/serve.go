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
	"github.com/agentauri/apikeys/adapters/jwtauth"
	"github.com/agentauri/apikeys/adapters/pepper"
	"github.com/agentauri/apikeys/adapters/verifycache"
	"github.com/agentauri/apikeys/core/keys"
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

// Serve runs the HTTP service until ctx is cancelled, then stops accepting
// requests, lets those in flight finish, flushes the audit queue and closes
// the database. If ready is not nil it receives the listening address.
func Serve(ctx context.Context, cfg Config, logger *slog.Logger, ready chan<- string) error {
	generated, secretsPath, err := ResolveSecrets(&cfg)
	if err != nil {
		return err
	}
	if generated {
		logger.Warn("generated development secrets (JWT secret, pepper, audit chain key); keep them out of production",
			slog.String("file", secretsPath))
	} else if secretsPath != "" {
		logger.Info("using development secrets", slog.String("file", secretsPath))
	}
	tel, err := startTelemetry(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer tel.shutdown(5 * time.Second) // on early returns; a no-op after the flush below
	logger = tel.logger(logger)

	store, err := OpenStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := tel.instrumentStore(store); err != nil {
		return err
	}
	if cfg.AutoMigrateOn() {
		if err := store.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	} else if n, err := store.Pending(ctx); err != nil {
		return fmt.Errorf("check migrations: %w", err)
	} else if n > 0 {
		return fmt.Errorf("%d database migrations are pending: run `apikeys migrate up` (or set storage.auto_migrate: true)", n)
	}

	a := cfg.Security.Argon2
	hasher, err := argon2id.New(argon2id.Params{
		Memory: a.MemoryKiB, Time: a.Iterations, Threads: a.Parallelism,
		SaltLen: argon2id.DefaultParams().SaltLen, KeyLen: argon2id.DefaultParams().KeyLen,
	}, a.MaxConcurrent)
	if err != nil {
		return fmt.Errorf("security.argon2: %w", err)
	}
	digester, err := pepper.New([]byte(cfg.Security.Pepper))
	if err != nil {
		return fmt.Errorf("security.pepper: %w", err)
	}
	cache, err := verifycache.New(cfg.Security.CacheSize, cfg.Security.CacheTTL)
	if err != nil {
		return fmt.Errorf("security.cache_size: %w", err)
	}
	defer cache.Close()
	queue, err := auditqueue.New(tel.auditStore(store), auditqueue.Config{
		Capacity: cfg.Audit.QueueCapacity, BatchSize: cfg.Audit.BatchSize, FlushInterval: cfg.Audit.FlushInterval,
		OnFull: cfg.Audit.OnFull, BlockTimeout: cfg.Audit.BlockTimeout,
	}, logger)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	queue.Start()
	if err := tel.observe(cache, queue); err != nil {
		return err
	}
	svc, err := keys.New(keys.Deps{
		Store: tel.keyStore(store), Usage: tel.usage(queue), Hasher: tel.hasher(hasher), Digester: digester, Cache: tel.cache(cache),
		Clock: systemClock{}, Entropy: rand.Reader,
	})
	if err != nil {
		return err
	}
	auditLog, err := newAuditLog(cfg.Audit, store, tel.auditStore(store), tel.keyStore(store))
	if err != nil {
		return err
	}
	tokens, err := jwtauth.New(jwtauth.Config{
		Secret: []byte(cfg.JWT.Secret), Issuer: cfg.JWT.Issuer, Audience: cfg.JWT.Audience, Leeway: cfg.JWT.Leeway,
	})
	if err != nil {
		return fmt.Errorf("jwt: %w", err)
	}
	api, err := httpapi.New(httpapi.Options{
		Keys: tel.keyService(svc), Audit: auditLog, Tokens: tokens, Logger: logger, TrustedProxies: cfg.HTTP.TrustedProxies,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes, TraceID: tel.traceID(), Middleware: tel.middleware(), Extra: tel.routes(),
		VerifyLogLevel: verifyLogLevel(cfg.Log),
		Ready: func(ctx context.Context) error {
			if err := store.Ping(ctx); err != nil {
				return err
			}
			n, err := store.Pending(ctx)
			if err != nil {
				return err
			}
			if n > 0 {
				return httpapi.ErrMigrationsPending
			}
			return nil
		},
	})
	if err != nil {
		return err
	}

	var polls atomic.Uint64 // invalidation polls run, for the debug counters
	if cfg.Debug.Addr != "" {
		stopDebug, err := startDebug(cfg.Debug.Addr, &debugSources{
			hasher: hasher, store: store, cache: cache, queue: queue, polls: &polls,
		}, logger)
		if err != nil {
			return err
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			stopDebug(ctx)
		}()
	}

	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr: %w", err)
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: cfg.HTTP.ReadTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	pollCtx, stopPoll := context.WithCancel(context.Background())
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		t := time.NewTicker(cfg.Security.InvalidationPoll)
		defer t.Stop()
		for {
			select {
			case <-pollCtx.Done():
				return
			case <-t.C:
				err := svc.SyncInvalidations(pollCtx)
				polls.Add(1)
				if err != nil && pollCtx.Err() == nil {
					logger.Warn("poll key invalidations", slog.String("error", err.Error()))
				}
			}
		}
	}()

	stopPurge := startPurgeJob(cfg, auditLog, logger)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	logger.Info("apikeys listening", slog.String("addr", addr), slog.String("storage", cfg.Storage.Driver),
		slog.String("env", cfg.Env), slog.String("version", Version))
	if secretsPath != "" {
		logger.Info("mint a development token with: go run . token --sub user_1 --org org_123")
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
	logger.Info("shutting down: draining requests and flushing the audit queue")
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		logger.Error("http shutdown", slog.String("error", err.Error()))
	}
	stopPoll()
	<-pollDone
	stopPurge()
	if err := queue.Close(shutCtx); err != nil {
		logger.Error("audit queue flush", slog.String("error", err.Error()))
		if runErr == nil {
			runErr = fmt.Errorf("flush audit queue: %w", err)
		}
	}
	if err := tel.shutdown(cfg.HTTP.ShutdownTimeout); err != nil {
		logger.Error("telemetry flush", slog.String("error", err.Error()))
	}
	logger.Info("stopped")
	return runErr
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
