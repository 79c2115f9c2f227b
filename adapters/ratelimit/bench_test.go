package ratelimit

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/quota"
	"github.com/agentauri/apikeys/test/redistest"
)

// The benchmarks measure the cost of one decision: in memory, over Redis
// (one EVALSHA round trip; APIKEYS_TEST_REDIS_URL), and while Redis is
// unreachable (failing open). Keys carry a limit high enough that most
// takes are granted, as on a healthy key.

var benchLimit = apikey.RateLimit{Limit: apikey.MaxRateLimit, Window: time.Second}

func benchLimiter(b *testing.B, redisURL string) *Limiter {
	b.Helper()
	cfg := DefaultConfig()
	if redisURL != "" {
		cfg.Backend.RedisURL = redisURL
		cfg.Backend.RedisPrefix = redistest.Prefix(b, redisURL)
		cfg.Backend.RedisTimeout = 2 * time.Second
	}
	l, err := New(cfg, discard())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	return l
}

func benchRedisURL(b *testing.B) string {
	u := os.Getenv(redistest.URLEnv)
	if u == "" {
		b.Skipf("set %s to benchmark the Redis backend", redistest.URLEnv)
	}
	return u
}

// benchTake runs TakeKey on one key per goroutine out of keys keys.
func benchTake(b *testing.B, l *Limiter, keys int) {
	ctx := context.Background()
	ids := make([]string, keys)
	for i := range ids {
		ids[i] = "key_bench" + strconv.Itoa(i)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := ids[int(next.Add(1)-1)%keys]
		for pb.Next() {
			if _, err := l.TakeKey(ctx, id, benchLimit); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkTakeKey(b *testing.B) {
	b.Run("memory/one-key", func(b *testing.B) { benchTake(b, benchLimiter(b, ""), 1) })
	b.Run("memory/key-per-goroutine", func(b *testing.B) { benchTake(b, benchLimiter(b, ""), 1024) })
	b.Run("redis/one-key", func(b *testing.B) { benchTake(b, benchLimiter(b, benchRedisURL(b)), 1) })
	b.Run("redis/key-per-goroutine", func(b *testing.B) { benchTake(b, benchLimiter(b, benchRedisURL(b)), 1024) })
	b.Run("redis/64-callers", func(b *testing.B) {
		// As many decisions in flight as the load benchmarks' clients.
		b.SetParallelism(64 / runtime.GOMAXPROCS(0))
		benchTake(b, benchLimiter(b, benchRedisURL(b)), 1024)
	})
	b.Run("redis-down/fail-open", func(b *testing.B) {
		cfg := DefaultConfig()
		cfg.Backend.RedisURL = "redis://127.0.0.1:1/0" // nothing listens on port 1
		l, err := New(cfg, discard())
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		benchTake(b, l, 1024)
	})
}

// BenchmarkTakeKeySerial is one decision at a time: over Redis, the
// latency of one round trip.
func BenchmarkTakeKeySerial(b *testing.B) {
	for _, bc := range []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"memory", func(*testing.B) string { return "" }},
		{"redis", benchRedisURL},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := benchLimiter(b, bc.url(b))
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := l.TakeKey(ctx, "key_serial", benchLimit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckFailures is the check an unproven key pays before its
// lookup.
func BenchmarkCheckFailures(b *testing.B) {
	for _, bc := range []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"memory", func(*testing.B) string { return "" }},
		{"redis", benchRedisURL},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := benchLimiter(b, bc.url(b))
			ctx := context.Background()
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := quota.ParseClient("10.1.0." + strconv.Itoa(int(next.Add(1))%250))
				for pb.Next() {
					if _, err := l.CheckFailures(ctx, c); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRedisPingSerial is the floor of BenchmarkTakeKeySerial/redis:
// one PING round trip over the limiter's own client, to tell the network
// and the server's load from the cost of the GCRA script.
func BenchmarkRedisPingSerial(b *testing.B) {
	l := benchLimiter(b, benchRedisURL(b))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := l.remote.ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
