// Package ratelimit implements the limiter ports (ports.KeyLimiter,
// ports.FailedAuthLimiter, ports.ManagementLimiter) over two backends: this
// process's memory (golang.org/x/time/rate token buckets in bounded otter
// tables), correct for one instance, and Redis (go-redis with redis_rate's
// GCRA script), which every instance shares. Both run the same budget
// model (see budget.go), so one contract suite passes on both. With
// Redis, busy keys take their budget in leases of several units per round
// trip (see leases).
//
// While Redis cannot be reached, per-key limits follow
// BackendConfig.OnRedisError (fail open by default), and failed-
// authentication and management limits fall back to memory; every call
// tries Redis again, so the limiter recovers by itself when Redis answers.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/quota"
	"github.com/agentauri/apikeys/ports"
)

var (
	_ ports.KeyLimiter        = (*Limiter)(nil)
	_ ports.FailedAuthLimiter = (*Limiter)(nil)
	_ ports.ManagementLimiter = (*Limiter)(nil)
)

// Limiter decides rate limits. It is safe for concurrent use.
type Limiter struct {
	cfg      Config
	failAuth budget // zero rate: off
	mgmt     budget // zero rate: off
	local    *memory
	remote   *remote // nil without Redis
	leases   *leases // nil without Redis or with leases off
	log      *slog.Logger
	obs      Observer
	now      func() time.Time

	stats counters

	redisUp atomic.Bool
	mu      sync.Mutex // guards the fields below
	down    time.Time
	lastErr string
	lastAt  time.Time
}

// Option configures a Limiter.
type Option func(*options)

type options struct {
	obs   Observer
	now   func() time.Time
	clock otter.Clock
}

// WithClock makes the in-memory budgets read the time from now instead of
// the system clock, for the callers' tests (Redis keeps its own time).
func WithClock(now func() time.Time) Option {
	return func(c *options) { c.now = now }
}

// WithObserver has o told about every decision.
func WithObserver(o Observer) Option {
	return func(c *options) { c.obs = o }
}

// New returns a Limiter for cfg, which it validates. With a Redis URL it
// pings Redis once (bounded by the Redis timeout) to report its state in
// the log and Health, but starts whether Redis answers or not. Close
// releases the Redis connections.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Limiter, error) {
	if logger == nil {
		return nil, errors.New("ratelimit: logger is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	cfg = cfg.withDefaults()
	local, err := newMemory(cfg.Backend.MaxEntries, o.now, o.clock)
	if err != nil {
		return nil, err
	}
	l := &Limiter{cfg: cfg, local: local, log: logger, obs: o.obs, now: o.now}
	if cfg.FailedAuth.Limit > 0 {
		l.failAuth = failedAuthBudget(cfg.FailedAuth)
	}
	if cfg.Management.Rate > 0 {
		l.mgmt = managementBudget(cfg.Management)
	}
	l.redisUp.Store(true)
	if cfg.Backend.RedisURL == "" {
		return l, nil
	}
	if l.remote, err = newRemote(cfg.Backend, logger); err != nil {
		return nil, err
	}
	if cfg.Backend.RedisLeasePercent > 0 {
		if l.leases, err = newLeases(l.remote, cfg.Backend.RedisLeasePercent, cfg.Backend.MaxEntries, func() { l.stats.leased.Add(1) }); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Backend.RedisTimeout)
	defer cancel()
	if err := l.remote.ping(ctx); err != nil {
		l.redisFailed(err)
	} else {
		logger.Info("rate limiter: budgets in Redis, shared by every instance", slog.String("redis", l.remote.addr))
	}
	return l, nil
}

// Close stops the memory tables' background work and closes the Redis
// client, if any. The Limiter must not be used afterwards.
func (l *Limiter) Close() error {
	l.local.close()
	if l.leases != nil {
		l.leases.close()
	}
	if l.remote == nil {
		return nil
	}
	return l.remote.close()
}

// TakeKey spends one unit of key keyID's budget of limit r.
func (l *Limiter) TakeKey(ctx context.Context, keyID string, r apikey.RateLimit) (quota.Decision, error) {
	if err := r.Validate(); err != nil {
		return quota.Decision{}, fmt.Errorf("rate limit of %s: %w", keyID, err)
	}
	return l.decide(ctx, kindKey, keyID, keyBudget(r), 1)
}

// PeekKey reports key keyID's budget of limit r without spending.
func (l *Limiter) PeekKey(ctx context.Context, keyID string, r apikey.RateLimit) (quota.Decision, error) {
	if err := r.Validate(); err != nil {
		return quota.Decision{}, fmt.Errorf("rate limit of %s: %w", keyID, err)
	}
	return l.decide(ctx, kindKey, keyID, keyBudget(r), 0)
}

// CheckFailures reports whether client may attempt an authentication,
// counting nothing. With failed-authentication throttling off it always
// allows, with Limit 0.
func (l *Limiter) CheckFailures(ctx context.Context, client quota.Client) (quota.Decision, error) {
	if l.failAuth.rate == 0 {
		return quota.Decision{Allowed: true}, nil
	}
	return l.decide(ctx, kindFailedAuth, client.String(), l.failAuth, 0)
}

// RecordFailure counts one failed authentication of client.
func (l *Limiter) RecordFailure(ctx context.Context, client quota.Client) (quota.Decision, error) {
	if l.failAuth.rate == 0 {
		return quota.Decision{Allowed: true}, nil
	}
	return l.decide(ctx, kindFailedAuth, client.String(), l.failAuth, 1)
}

// TakeManagement spends one unit of principal's management budget. With
// management limits off it always allows, with Limit 0.
func (l *Limiter) TakeManagement(ctx context.Context, principal string) (quota.Decision, error) {
	if l.mgmt.rate == 0 {
		return quota.Decision{Allowed: true}, nil
	}
	return l.decide(ctx, kindManagement, principal, l.mgmt, 1)
}

// decide takes n units (0: peeks) of budget b named name: in Redis when
// there is one, else (or when Redis fails and the kind's policy says so)
// in memory.
func (l *Limiter) decide(ctx context.Context, k kind, name string, b budget, n int) (quota.Decision, error) {
	var start time.Time
	if l.obs != nil { // reading the clock is not free on every machine
		start = time.Now()
	}
	obs := Observation{Kind: k.String(), Peek: n == 0}
	if l.remote != nil {
		var d quota.Decision
		var err error
		if k == kindKey && n == 1 && l.leases != nil {
			d, err = l.leases.take(ctx, name, b, l.now())
		} else {
			d, err = l.remote.allow(ctx, k, name, b, n)
		}
		if err == nil {
			l.redisAnswered()
			obs.Backend = BackendRedis
			return l.done(k, d, obs, start), nil
		}
		if cerr := ctx.Err(); cerr != nil {
			// The caller gave up (client gone, deadline): not Redis's fault.
			return quota.Decision{}, cerr
		}
		l.redisFailed(err)
		obs.RedisErr = err
		if k == kindKey {
			switch l.cfg.Backend.OnRedisError {
			case FailOpen:
				l.stats.failedOpen.Add(1)
				obs.Result = ResultFailedOpen
				l.observe(obs, start)
				return quota.Decision{Allowed: true, Limit: b.burst, FailedOpen: true}, nil
			case FailClosed:
				l.stats.failedClosed.Add(1)
				obs.Result = ResultFailedClosed
				l.observe(obs, start)
				return quota.Decision{}, quota.ErrUnavailable
			}
		}
		l.stats.localFallbacks.Add(1)
	}
	obs.Backend = BackendMemory
	return l.done(k, l.local.allow(k, name, b, n), obs, start), nil
}

// done counts and reports decision d.
func (l *Limiter) done(k kind, d quota.Decision, obs Observation, start time.Time) quota.Decision {
	obs.Result = ResultAllowed
	if d.Allowed {
		l.stats.allowed[k].Add(1)
	} else {
		l.stats.refused[k].Add(1)
		obs.Result = ResultRefused
	}
	l.observe(obs, start)
	return d
}

func (l *Limiter) observe(obs Observation, start time.Time) {
	if l.obs != nil {
		obs.Duration = time.Since(start)
		l.obs.Observe(obs)
	}
}

// redisFailed records a failed Redis call; the first after a success is
// logged as the start of an outage.
func (l *Limiter) redisFailed(err error) {
	l.stats.redisErrors.Add(1)
	now := l.now()
	l.mu.Lock()
	l.lastErr, l.lastAt = err.Error(), now
	first := l.redisUp.Load()
	if first {
		l.down = now
		l.redisUp.Store(false)
	}
	l.mu.Unlock()
	if first {
		l.log.Warn("rate limiter: Redis unreachable; per-key limits "+policyText(l.cfg.Backend.OnRedisError)+
			", failed-authentication and management limits per instance until it answers",
			slog.String("redis", l.remote.addr), slog.String("error", err.Error()))
	}
}

// redisAnswered records a successful Redis call; the first after a
// failure is logged as the end of the outage.
func (l *Limiter) redisAnswered() {
	if l.redisUp.Load() {
		return
	}
	l.mu.Lock()
	if l.redisUp.Load() {
		l.mu.Unlock()
		return
	}
	l.redisUp.Store(true)
	down := l.down
	l.down = time.Time{}
	l.mu.Unlock()
	l.log.Info("rate limiter: Redis answers again; budgets shared again",
		slog.String("redis", l.remote.addr), slog.Duration("outage", l.now().Sub(down)),
		slog.Uint64("redis_errors_total", l.stats.redisErrors.Load()))
}

func policyText(p string) string {
	switch p {
	case FailClosed:
		return "refuse limited keys (fail_closed)"
	case Local:
		return "enforced per instance (local)"
	}
	return "not enforced (fail_open)"
}

// Stats returns the counters since New.
func (l *Limiter) Stats() Stats {
	s := l.stats.snapshot()
	if l.remote != nil {
		s.RedisCalls = l.remote.calls.Load()
	}
	return s
}

// Health returns the backend's state as of the latest call; it makes no
// call itself.
func (l *Limiter) Health() Health {
	h := Health{Backend: BackendMemory, OnRedisError: l.cfg.Backend.OnRedisError, RedisUp: true}
	if l.remote == nil {
		return h
	}
	h.Backend = BackendRedis
	l.mu.Lock()
	defer l.mu.Unlock()
	h.RedisUp = l.redisUp.Load()
	h.DownSince, h.LastError, h.LastErrorAt = l.down, l.lastErr, l.lastAt
	return h
}
