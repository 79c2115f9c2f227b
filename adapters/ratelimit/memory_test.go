package ratelimit

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/quota"
)

// fakeClock is a manual clock for the limiter and its otter tables; it
// never ticks, so entries expire when read after their time.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (f *fakeClock) NowNano() int64                      { return f.ns.Load() }
func (f *fakeClock) Tick(time.Duration) <-chan time.Time { return nil }
func (f *fakeClock) Now() time.Time                      { return time.Unix(0, f.ns.Load()) }
func (f *fakeClock) Advance(d time.Duration)             { f.ns.Add(int64(d)) }

func withClock(c *fakeClock) Option {
	return func(o *options) { o.now, o.clock = c.Now, c }
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestLimiter(t *testing.T, cfg Config, opts ...Option) *Limiter {
	t.Helper()
	l, err := New(cfg, discard(), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func rl(n int, w time.Duration) apikey.RateLimit { return apikey.RateLimit{Limit: n, Window: w} }

func mustTake(t *testing.T, l *Limiter, id string, r apikey.RateLimit) quota.Decision {
	t.Helper()
	d, err := l.TakeKey(context.Background(), id, r)
	if err != nil {
		t.Fatalf("TakeKey: %v", err)
	}
	return d
}

func mustPeek(t *testing.T, l *Limiter, id string, r apikey.RateLimit) quota.Decision {
	t.Helper()
	d, err := l.PeekKey(context.Background(), id, r)
	if err != nil {
		t.Fatalf("PeekKey: %v", err)
	}
	return d
}

func TestMemoryExactDecisions(t *testing.T) {
	clock := newFakeClock()
	l := newTestLimiter(t, DefaultConfig(), withClock(clock))
	r := rl(5, time.Second)
	for i := 1; i <= 5; i++ {
		want := quota.Decision{Allowed: true, Limit: 5, Remaining: 5 - i, Reset: time.Duration(i) * 200 * time.Millisecond}
		if d := mustTake(t, l, "key_a", r); d != want {
			t.Fatalf("take %d = %+v, want %+v", i, d, want)
		}
	}
	refused := quota.Decision{Limit: 5, Reset: time.Second, RetryAfter: 200 * time.Millisecond}
	if d := mustTake(t, l, "key_a", r); d != refused {
		t.Fatalf("take 6 = %+v, want %+v", d, refused)
	}
	if d := mustPeek(t, l, "key_a", r); d != refused {
		t.Fatalf("peek of the spent budget = %+v, want %+v", d, refused)
	}

	clock.Advance(150 * time.Millisecond)
	if d := mustTake(t, l, "key_a", r); d.Allowed || d.RetryAfter != 50*time.Millisecond || d.Reset != 850*time.Millisecond {
		t.Fatalf("take 150ms later = %+v, want refused, RetryAfter 50ms, Reset 850ms", d)
	}
	clock.Advance(50 * time.Millisecond)
	if d := mustTake(t, l, "key_a", r); !d.Allowed || d.Remaining != 0 || d.Reset != time.Second {
		t.Fatalf("take one interval later = %+v, want allowed with 0 remaining", d)
	}
	clock.Advance(time.Second)
	if d := mustPeek(t, l, "key_a", r); d != (quota.Decision{Allowed: true, Limit: 5, Remaining: 5}) {
		t.Fatalf("peek a window later = %+v, want the whole budget", d)
	}
}

func TestMemoryEntryKeptWhileItHoldsADebt(t *testing.T) {
	clock := newFakeClock()
	l := newTestLimiter(t, DefaultConfig(), withClock(clock))
	r := rl(5, time.Minute)
	for range 5 {
		mustTake(t, l, "key_debt", r)
	}
	table := l.local.tables[kindKey]
	clock.Advance(59 * time.Second)
	if _, ok := table.GetEntryQuietly("key_debt"); !ok {
		t.Fatal("entry forgotten 59s into a 1m refill: its debt would be forgiven")
	}
	if d := mustPeek(t, l, "key_debt", r); d.Remaining != 4 {
		t.Fatalf("peek 59s after spending 5/1m = %+v, want 4 remaining (4.9 refilled)", d)
	}
	// The peek touched the entry: it now lives one refill plus the slack.
	clock.Advance(time.Minute + expirySlack + time.Second)
	if _, ok := table.GetEntryQuietly("key_debt"); ok {
		t.Fatal("entry of a whole budget still held after its expiry")
	}
	if d := mustPeek(t, l, "key_debt", r); d.Remaining != 5 {
		t.Fatalf("peek after expiry = %+v, want the whole budget", d)
	}
}

func TestMemoryTablesAreBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Backend.MaxEntries = 100
	l := newTestLimiter(t, cfg)
	for i := range 5000 {
		mustTake(t, l, "key_"+strconv.Itoa(i), rl(10, time.Hour))
		if _, err := l.RecordFailure(context.Background(), quota.ParseClient("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256))); err != nil {
			t.Fatal(err)
		}
	}
	for k, table := range l.local.tables {
		table.CleanUp()
		if n := table.EstimatedSize(); n > 100 {
			t.Errorf("%s table holds %d entries, want at most MaxEntries (100)", kind(k), n)
		}
	}
}

func TestMemoryLimitChangeKeepsLevel(t *testing.T) {
	clock := newFakeClock()
	l := newTestLimiter(t, DefaultConfig(), withClock(clock))
	mustTake(t, l, "key_c", rl(5, time.Minute))
	if d := mustTake(t, l, "key_c", rl(5, time.Minute)); d.Remaining != 3 {
		t.Fatalf("second take of 5/1m = %+v, want 3 remaining", d)
	}
	if d := mustTake(t, l, "key_c", rl(10, time.Minute)); !d.Allowed || d.Remaining != 2 || d.Limit != 10 {
		t.Fatalf("take after raising the limit to 10/1m = %+v, want 2 of 10 remaining (3 carried over, 1 spent)", d)
	}
	if d := mustTake(t, l, "key_c", rl(1, time.Minute)); !d.Allowed || d.Remaining != 0 || d.Limit != 1 {
		t.Fatalf("take after lowering the limit to 1/1m = %+v, want allowed with 0 of 1 remaining", d)
	}
	if d := mustTake(t, l, "key_c", rl(1, time.Minute)); d.Allowed || d.RetryAfter != time.Minute {
		t.Fatalf("second take at 1/1m = %+v, want refused for 1m", d)
	}
}

type recorder struct {
	mu  sync.Mutex
	obs []Observation
}

func (r *recorder) Observe(o Observation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.obs = append(r.obs, o)
}

func (r *recorder) all() []Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Observation(nil), r.obs...)
}

func TestObserverAndStats(t *testing.T) {
	rec := &recorder{}
	cfg := DefaultConfig()
	cfg.FailedAuth = FailedAuthConfig{Limit: 1, Window: time.Minute}
	cfg.Management = ManagementConfig{Rate: 1, Period: time.Minute, Burst: 1}
	l := newTestLimiter(t, cfg, WithObserver(rec))
	ctx := context.Background()
	c := quota.ParseClient("192.0.2.1")

	mustTake(t, l, "key_o", rl(1, time.Minute))
	mustTake(t, l, "key_o", rl(1, time.Minute))
	mustPeek(t, l, "key_o", rl(1, time.Minute))
	_, _ = l.CheckFailures(ctx, c)
	_, _ = l.RecordFailure(ctx, c)
	_, _ = l.RecordFailure(ctx, c)
	_, _ = l.TakeManagement(ctx, "user:u")
	_, _ = l.TakeManagement(ctx, "user:u")

	want := []Observation{
		{Kind: KindKey, Result: ResultAllowed, Backend: BackendMemory},
		{Kind: KindKey, Result: ResultRefused, Backend: BackendMemory},
		{Kind: KindKey, Peek: true, Result: ResultRefused, Backend: BackendMemory},
		{Kind: KindFailedAuth, Peek: true, Result: ResultAllowed, Backend: BackendMemory},
		{Kind: KindFailedAuth, Result: ResultAllowed, Backend: BackendMemory},
		{Kind: KindFailedAuth, Result: ResultRefused, Backend: BackendMemory},
		{Kind: KindManagement, Result: ResultAllowed, Backend: BackendMemory},
		{Kind: KindManagement, Result: ResultRefused, Backend: BackendMemory},
	}
	got := rec.all()
	if len(got) != len(want) {
		t.Fatalf("%d observations, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Duration <= 0 {
			t.Errorf("observation %d has no duration: %+v", i, got[i])
		}
		got[i].Duration = 0
		if got[i] != want[i] {
			t.Errorf("observation %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	s := l.Stats()
	wantAllowed := map[string]uint64{KindKey: 1, KindFailedAuth: 2, KindManagement: 1}
	wantRefused := map[string]uint64{KindKey: 2, KindFailedAuth: 1, KindManagement: 1}
	for k := range wantAllowed {
		if s.Allowed[k] != wantAllowed[k] || s.Refused[k] != wantRefused[k] {
			t.Errorf("Stats for %s: %d allowed, %d refused; want %d, %d", k, s.Allowed[k], s.Refused[k], wantAllowed[k], wantRefused[k])
		}
	}
	if s.RedisErrors != 0 || s.FailedOpen != 0 || s.FailedClosed != 0 || s.LocalFallbacks != 0 {
		t.Errorf("memory backend Stats show Redis activity: %+v", s)
	}
	if h := l.Health(); h.Backend != BackendMemory || !h.RedisUp || h.Degraded() || h.LastError != "" {
		t.Errorf("memory Health = %+v, want healthy memory backend", h)
	}
}

func TestNewRefusesMissingLogger(t *testing.T) {
	if _, err := New(DefaultConfig(), nil); err == nil {
		t.Fatal("New without a logger succeeded")
	}
}

func TestMemoryLogsNothing(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(DefaultConfig(), slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 10 {
		mustTake(t, l, "key_quiet", rl(1, time.Minute))
	}
	if buf.Len() != 0 {
		t.Errorf("memory limiter logged on the request path: %s", buf.String())
	}
}
