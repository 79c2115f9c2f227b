package contract_test

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/ratelimit"
	"github.com/agentauri/apikeys/test/contract"
	"github.com/agentauri/apikeys/test/redistest"
)

// TestRateLimiter runs the rate-limit contract on the in-memory backend
// (TestRateLimiter/memory/<case>) and on Redis (TestRateLimiter/redis/<case>,
// with APIKEYS_TEST_REDIS_URL).
func TestRateLimiter(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		contract.RateLimiter(contract.RateLimiterBackend{
			New: func(t *testing.T, _ string, s contract.RateLimitSettings) contract.Limiter {
				return newLimiter(t, rateLimitConfig(s))
			},
		})(t)
	})
	t.Run("redis", func(t *testing.T) {
		url := redistest.URL(t)
		var prefixes sync.Map // namespace -> prefix, one per deployment
		contract.RateLimiter(contract.RateLimiterBackend{
			New: func(t *testing.T, namespace string, s contract.RateLimitSettings) contract.Limiter {
				p, ok := prefixes.Load(namespace)
				if !ok {
					p, _ = prefixes.LoadOrStore(namespace, redistest.Prefix(t, url))
				}
				cfg := rateLimitConfig(s)
				cfg.Backend.RedisURL = url
				cfg.Backend.RedisPrefix = p.(string)
				cfg.Backend.OnRedisError = ratelimit.FailClosed // a Redis failure must fail the test, not pass it open
				// The suite runs its cases in parallel on a small machine: a
				// first dial can take longer than the production default.
				cfg.Backend.RedisTimeout = 2 * time.Second
				return newLimiter(t, cfg)
			},
			Shared: true,
		})(t)
	})
}

func rateLimitConfig(s contract.RateLimitSettings) ratelimit.Config {
	cfg := ratelimit.DefaultConfig()
	cfg.FailedAuth = ratelimit.FailedAuthConfig{Limit: s.FailedAuthLimit, Window: s.FailedAuthWindow}
	cfg.Management = ratelimit.ManagementConfig{Rate: s.ManagementRate, Period: s.ManagementPeriod, Burst: s.ManagementBurst}
	return cfg
}

func newLimiter(t *testing.T, cfg ratelimit.Config) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("ratelimit.New: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close limiter: %v", err)
		}
		if h := l.Health(); h.Degraded() {
			t.Errorf("limiter degraded during the test: %+v", h)
		}
	})
	return l
}
