package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/agentauri/apikeys/core/quota"
)

// redisClockSlack absorbs the floating-point error of the GCRA script's
// arithmetic (its clock is Redis's TIME, in microseconds, held as a double
// near 3e8 seconds) when the level of a bucket is derived from the
// script's ResetAfter: without it a fresh budget of 5 sometimes reads 3
// remaining after its first take. It is below the script's clock
// resolution, so it changes no decision.
const redisClockSlack = 500 * time.Nanosecond

// redisLogOnce routes go-redis's own log (dial failures and the like,
// printed to stderr by default) into the first Limiter's structured log at
// debug level: the Limiter itself logs each outage and recovery once.
var redisLogOnce sync.Once

type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	if r.l.Enabled(ctx, slog.LevelDebug) {
		r.l.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
	}
}

// remote keeps budgets in Redis with redis_rate's GCRA script: one
// EVALSHA per decision, atomic on the server, so every instance using the
// same Redis and prefix shares each budget exactly.
type remote struct {
	rdb    *redis.Client
	lim    *redis_rate.Limiter
	prefix string
	addr   string // host:port or socket path, for logs (never the URL: it may hold a password)
	calls  atomic.Uint64
}

// newRemote connects lazily to the Redis at cfg.RedisURL; it fails only
// on a URL it cannot use.
func newRemote(cfg BackendConfig, logger *slog.Logger) (*remote, error) {
	redisLogOnce.Do(func() { redis.SetLogger(redisLog{logger}) })
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: ratelimit.redis_url: %w", checkRedisURL(cfg.RedisURL))
	}
	// One attempt per call, each bounded by RedisTimeout, unless the URL
	// says otherwise: a decision that cannot be made quickly falls back
	// rather than holding the request. go-redis's pool stops dialling after
	// PoolSize consecutive dial failures and probes once a second in the
	// background, so an unreachable Redis costs a request almost nothing
	// and is noticed again within about a second of its return.
	for _, d := range []*time.Duration{&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout} {
		if *d == 0 {
			*d = cfg.RedisTimeout
		}
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = -1 // no retry: the next request tries again
	}
	opt.DialerRetries = 1
	opt.ContextTimeoutEnabled = true // a request's own, earlier deadline wins
	rdb := redis.NewClient(opt)
	return &remote{rdb: rdb, lim: redis_rate.NewLimiter(rdb), prefix: cfg.RedisPrefix, addr: opt.Addr}, nil
}

// key names the Redis key of a budget (redis_rate prepends "rate:").
func (r *remote) key(k kind, name string) string {
	return r.prefix + k.String() + ":" + name
}

// allow takes n units (0: peeks) of budget b named name in one round trip.
func (r *remote) allow(ctx context.Context, k kind, name string, b budget, n int) (quota.Decision, error) {
	r.calls.Add(1)
	res, err := r.lim.AllowN(ctx, r.key(k, name), redis_rate.Limit{Rate: b.rate, Period: b.period, Burst: b.burst}, n)
	if err != nil {
		return quota.Decision{}, err
	}
	// ResetAfter is how far the bucket is from full, in time; the level
	// follows from it exactly as in memory.
	used := (res.ResetAfter - redisClockSlack).Seconds() / b.interval().Seconds()
	tokens := float64(b.burst) - max(used, 0)
	allowed := res.Allowed > 0
	if n == 0 {
		allowed = tokens >= 1
	}
	return b.decision(allowed, tokens), nil
}

// ping asks Redis whether it answers.
func (r *remote) ping(ctx context.Context) error { return r.rdb.Ping(ctx).Err() }

func (r *remote) close() error { return r.rdb.Close() }
