package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/quota"
	"github.com/agentauri/apikeys/test/redistest"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

// closedPort returns a URL of 127.0.0.1 where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "redis://" + addr + "/0"
}

func unreachableLimiter(t *testing.T, policy string, opts ...Option) (*Limiter, *syncBuffer) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Backend.RedisURL = closedPortURL(t)
	cfg.Backend.OnRedisError = policy
	cfg.FailedAuth = FailedAuthConfig{Limit: 2, Window: time.Minute}
	cfg.Management = ManagementConfig{Rate: 1, Period: time.Minute, Burst: 2}
	logs := &syncBuffer{}
	l, err := New(cfg, slog.New(slog.NewJSONHandler(logs, nil)), opts...)
	if err != nil {
		t.Fatalf("New with an unreachable Redis must start (degraded): %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, logs
}

// TestUnreachableRedisPolicies checks what each ratelimit.on_redis_error
// policy does to per-key limits, and that failed-auth and management
// limits fall back to this instance's memory whatever the policy.
func TestUnreachableRedisPolicies(t *testing.T) {
	ctx := context.Background()
	r := apikey.RateLimit{Limit: 2, Window: time.Minute}
	for _, policy := range []string{FailOpen, FailClosed, Local} {
		t.Run(policy, func(t *testing.T) {
			rec := &recorder{}
			l, logs := unreachableLimiter(t, policy, WithObserver(rec))
			if h := l.Health(); h.Backend != BackendRedis || h.RedisUp || !h.Degraded() || h.LastError == "" || h.DownSince.IsZero() || h.OnRedisError != policy {
				t.Fatalf("Health after a failed start-up ping = %+v, want Redis down with its error", h)
			}
			for i := 1; i <= 3; i++ {
				d, err := l.TakeKey(ctx, "key_u", r)
				switch policy {
				case FailOpen:
					if err != nil || d != (quota.Decision{Allowed: true, Limit: 2, FailedOpen: true}) {
						t.Fatalf("take %d failing open = %+v, %v; want allowed, FailedOpen", i, d, err)
					}
				case FailClosed:
					if !errors.Is(err, quota.ErrUnavailable) || !errors.Is(err, apikey.ErrUnavailable) {
						t.Fatalf("take %d failing closed = %+v, %v; want quota.ErrUnavailable", i, d, err)
					}
				case Local:
					if err != nil || d.FailedOpen || d.Allowed != (i <= 2) {
						t.Fatalf("take %d of 2/1m locally = %+v, %v; want the memory budget", i, d, err)
					}
				}
			}
			c := quota.ParseClient("203.0.113.9")
			for i := 1; i <= 3; i++ {
				if d, err := l.RecordFailure(ctx, c); err != nil || d.Allowed != (i <= 2) || d.FailedOpen {
					t.Fatalf("failure %d of 2 = %+v, %v; want counted in memory", i, d, err)
				}
			}
			if d, err := l.CheckFailures(ctx, c); err != nil || d.Allowed {
				t.Fatalf("check after 2 of 2 failures = %+v, %v; want throttled from memory", d, err)
			}
			for i := 1; i <= 3; i++ {
				if d, err := l.TakeManagement(ctx, "user:m"); err != nil || d.Allowed != (i <= 2) {
					t.Fatalf("management call %d of burst 2 = %+v, %v; want the memory budget", i, d, err)
				}
			}

			s := l.Stats()
			if s.RedisErrors != 1+3+4+3 { // the start-up ping, then every call
				t.Errorf("RedisErrors = %d, want 11", s.RedisErrors)
			}
			wantOpen, wantClosed, wantLocal := uint64(0), uint64(0), uint64(7)
			switch policy {
			case FailOpen:
				wantOpen = 3
			case FailClosed:
				wantClosed = 3
			case Local:
				wantLocal = 10
			}
			if s.FailedOpen != wantOpen || s.FailedClosed != wantClosed || s.LocalFallbacks != wantLocal {
				t.Errorf("Stats = %+v, want %d failed open, %d failed closed, %d local fallbacks", s, wantOpen, wantClosed, wantLocal)
			}
			for _, o := range rec.all() {
				if o.RedisErr == nil {
					t.Errorf("observation without the Redis error: %+v", o)
				}
				if o.Kind == KindKey && policy != Local && o.Backend != "" {
					t.Errorf("per-key observation names a backend although none decided: %+v", o)
				}
			}
			if n := logs.count("Redis unreachable"); n != 1 {
				t.Errorf("the outage was logged %d times, want once", n)
			}
		})
	}
}

// TestCallerCancellationIsNotARedisError: a request that gives up is not
// counted against Redis and does not fail open.
func TestCallerCancellationIsNotARedisError(t *testing.T) {
	l, _ := unreachableLimiter(t, FailOpen)
	before := l.Stats().RedisErrors
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := l.TakeKey(ctx, "key_gone", apikey.RateLimit{Limit: 1, Window: time.Second})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("TakeKey with a canceled context = %+v, %v; want context.Canceled", d, err)
	}
	if got := l.Stats().RedisErrors; got != before {
		t.Errorf("RedisErrors went from %d to %d for a canceled request", before, got)
	}
}

// TestHungRedisIsBoundedByTheTimeout: a server that accepts connections
// and never answers costs a decision the configured timeout, not a hang.
func TestHungRedisIsBoundedByTheTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); <-stop; c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); close(stop); conns.Wait() })

	cfg := DefaultConfig()
	cfg.Backend.RedisURL = "redis://" + ln.Addr().String() + "/0"
	cfg.Backend.RedisTimeout = 50 * time.Millisecond
	l, err := New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	d, err := l.TakeKey(context.Background(), "key_hung", apikey.RateLimit{Limit: 1, Window: time.Second})
	elapsed := time.Since(start)
	if err != nil || !d.FailedOpen {
		t.Fatalf("TakeKey against a silent server = %+v, %v; want failed open", d, err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("TakeKey against a silent server took %s with a 50ms timeout", elapsed)
	}
	t.Logf("decision against a silent server: %s (timeout 50ms)", elapsed)
}

// TestRedisKilledMidTest is the fault test: a Redis of the test's
// own, killed while in use and restarted on the same port. Per-key limits
// fail open (documented default) and the error counter moves while it is
// down; failed-auth throttling goes on per instance; once Redis answers
// again the same Limiter uses it again, without a restart.
func TestRedisKilledMidTest(t *testing.T) {
	srv := redistest.StartServer(t)
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Backend.RedisURL = srv.URL()
	cfg.Backend.RedisTimeout = time.Second // a loaded test machine; the outage is a refused connection anyway
	cfg.FailedAuth = FailedAuthConfig{Limit: 2, Window: time.Minute}
	logs := &syncBuffer{}
	rec := &recorder{}
	l, err := New(cfg, slog.New(slog.NewJSONHandler(logs, nil)), WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := apikey.RateLimit{Limit: 3, Window: time.Minute}

	// Redis up: the budget is Redis's.
	for i := 1; i <= 4; i++ {
		d, err := l.TakeKey(ctx, "key_fault", r)
		if err != nil || d.FailedOpen || d.Allowed != (i <= 3) {
			t.Fatalf("take %d of 3 with Redis up = %+v, %v", i, d, err)
		}
	}
	if h := l.Health(); !h.RedisUp || h.Backend != BackendRedis {
		t.Fatalf("Health with Redis up = %+v", h)
	}

	srv.Kill()
	errorsBefore := l.Stats().RedisErrors
	// More failures than go-redis's pool size, so that its dial breaker
	// opens (it then answers from the last dial error and probes alone).
	const downCalls = 100
	for i := 1; i <= downCalls; i++ {
		d, err := l.TakeKey(ctx, "key_fault", r)
		if err != nil || !d.Allowed || !d.FailedOpen {
			t.Fatalf("take %d with Redis down = %+v, %v; want allowed by the fail-open policy", i, d, err)
		}
	}
	s := l.Stats()
	if s.RedisErrors != errorsBefore+downCalls || s.FailedOpen != downCalls {
		t.Fatalf("Stats with Redis down = %+v, want the error and fail-open counters up by %d", s, downCalls)
	}
	h := l.Health()
	if h.RedisUp || !h.Degraded() || h.LastError == "" || h.DownSince.IsZero() {
		t.Fatalf("Health with Redis down = %+v, want degraded with the error", h)
	}
	c := quota.ParseClient("198.51.100.99")
	for i := 1; i <= 3; i++ {
		if d, err := l.RecordFailure(ctx, c); err != nil || d.Allowed != (i <= 2) {
			t.Fatalf("failure %d of 2 with Redis down = %+v, %v; want counted in memory", i, d, err)
		}
	}
	if n := logs.count("Redis unreachable"); n != 1 {
		t.Errorf("outage logged %d times, want once", n)
	}

	srv.Start()
	// go-redis probes a failed server about once a second; the next
	// decisions after that go to Redis again. Redis kept nothing (no
	// persistence), so the key's budget starts whole.
	restarted := time.Now()
	deadline := restarted.Add(10 * time.Second)
	var d quota.Decision
	for {
		d, err = l.TakeKey(ctx, "key_fault", r)
		if err != nil {
			t.Fatal(err)
		}
		if !d.FailedOpen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing open 10s after Redis came back; Health %+v", l.Health())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("Redis used again %s after its restart", time.Since(restarted).Round(time.Millisecond))
	if !d.Allowed || d.Remaining != 2 {
		t.Fatalf("first decision after recovery = %+v, want a whole budget of 3 in the new Redis (2 remaining)", d)
	}
	for i := 2; i <= 4; i++ {
		if d, err := l.TakeKey(ctx, "key_fault", r); err != nil || d.FailedOpen || d.Allowed != (i <= 3) {
			t.Fatalf("take %d after recovery = %+v, %v; want Redis's budget again", i, d, err)
		}
	}
	if h := l.Health(); !h.RedisUp || h.Degraded() || !h.DownSince.IsZero() {
		t.Fatalf("Health after recovery = %+v, want Redis up", h)
	}
	if n := logs.count("Redis answers again"); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
	// Failed-auth counting is Redis's again: its memory count is not carried over.
	if d, err := l.CheckFailures(ctx, c); err != nil || !d.Allowed || d.Remaining != 2 {
		t.Fatalf("failures of %s after recovery = %+v, %v; want Redis's fresh count", c, d, err)
	}
	last := rec.all()[len(rec.all())-1]
	if last.Backend != BackendRedis || last.RedisErr != nil {
		t.Errorf("last observation = %+v, want decided by Redis", last)
	}
}

// TestRedisKilledFailClosed: with fail_closed, a limited key is refused
// (503) while Redis is down and served again once it answers.
func TestRedisKilledFailClosed(t *testing.T) {
	srv := redistest.StartServer(t)
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Backend.RedisURL = srv.URL()
	cfg.Backend.RedisTimeout = time.Second
	cfg.Backend.OnRedisError = FailClosed
	l, err := New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := apikey.RateLimit{Limit: 10, Window: time.Second}
	if _, err := l.TakeKey(ctx, "key_fc", r); err != nil {
		t.Fatalf("take with Redis up: %v", err)
	}
	srv.Kill()
	if _, err := l.TakeKey(ctx, "key_fc", r); !errors.Is(err, quota.ErrUnavailable) {
		t.Fatalf("take with Redis down, failing closed: %v; want quota.ErrUnavailable", err)
	}
	srv.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := l.TakeKey(ctx, "key_fc", r)
		if err == nil && d.Allowed {
			break
		}
		if !errors.Is(err, quota.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after Redis came back: %+v, %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := l.Stats(); s.FailedClosed == 0 {
		t.Errorf("Stats = %+v, want failed-closed decisions counted", s)
	}
}

// commandCounter counts the commands a go-redis client sends.
type commandCounter struct {
	mu   sync.Mutex
	cmds []string
}

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.mu.Lock()
		c.cmds = append(c.cmds, "pipeline")
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.mu.Lock()
		c.cmds = append(c.cmds, cmd.Name())
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (c *commandCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.cmds
	c.cmds = nil
	return out
}

// TestOneRoundTripPerDecision: every decision is one EVALSHA (and, once
// after Redis lost its script cache, the EVAL that loads it again).
func TestOneRoundTripPerDecision(t *testing.T) {
	url := redistest.URL(t)
	cfg := DefaultConfig()
	cfg.Backend.RedisURL = url
	cfg.Backend.RedisPrefix = redistest.Prefix(t, url)
	cfg.Backend.RedisTimeout = 2 * time.Second
	l := newTestLimiter(t, cfg)
	counter := &commandCounter{}
	l.remote.rdb.AddHook(counter)
	ctx := context.Background()
	r := apikey.RateLimit{Limit: 100, Window: time.Minute}

	if _, err := l.TakeKey(ctx, "key_rt", r); err != nil { // loads the script if this server lacks it
		t.Fatal(err)
	}
	counter.take()
	calls := []func() error{
		func() error { _, err := l.TakeKey(ctx, "key_rt", r); return err },
		func() error { _, err := l.PeekKey(ctx, "key_rt", r); return err },
		func() error { _, err := l.CheckFailures(ctx, quota.ParseClient("192.0.2.1")); return err },
		func() error { _, err := l.RecordFailure(ctx, quota.ParseClient("192.0.2.1")); return err },
		func() error { _, err := l.TakeManagement(ctx, "user:rt"); return err },
	}
	for i, call := range calls {
		if err := call(); err != nil {
			t.Fatal(err)
		}
		if got := counter.take(); len(got) != 1 || got[0] != "evalsha" {
			t.Errorf("call %d sent %v, want one evalsha", i, got)
		}
	}
}
