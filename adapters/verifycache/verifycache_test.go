package verifycache

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
)

// fakeClock is a manual otter.Clock; it never ticks, so expiry happens
// during cache operations and CleanUp only.
type fakeClock struct{ ns atomic.Int64 }

// ctx is the context of every Get in these tests; the cache ignores it.

func (f *fakeClock) NowNano() int64                      { return f.ns.Load() }
func (f *fakeClock) Tick(time.Duration) <-chan time.Time { return nil }
func (f *fakeClock) Advance(d time.Duration)             { f.ns.Add(int64(d)) }

func withClock(c *fakeClock) Option { return func(cfg *config) { cfg.clock = c } }

func newCache(t testing.TB, max int, ttl time.Duration, opts ...Option) *Cache {
	t.Helper()
	c, err := New(max, ttl, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func verified(keyID string) apikey.Verified {
	return apikey.Verified{
		KeyID: keyID, OrganizationID: "org_1", Name: "ci", Environment: apikey.EnvTest,
		Scopes: apikey.Scopes{apikey.ScopeEventsRead}, Version: 1,
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		max  int
		ttl  time.Duration
		opts []Option
	}{
		{0, time.Minute, nil},
		{-1, time.Minute, nil},
		{10, -time.Second, nil},
		{10, time.Minute, []Option{WithInvalidationGrace(-1)}},
	} {
		if _, err := New(tc.max, tc.ttl, tc.opts...); err == nil {
			t.Errorf("New(%d, %s) succeeded", tc.max, tc.ttl)
		}
	}
	newCache(t, 1, 0) // no expiry is allowed
}

func TestPutGet(t *testing.T) {
	c := newCache(t, 100, time.Minute)
	if _, ok := c.Get("d1"); ok {
		t.Fatal("Get on empty cache found an entry")
	}
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	v := verified("key_1")
	v.ExpiresAt = &exp
	c.Put("d1", v)
	got, ok := c.Get("d1")
	if !ok || got.KeyID != "key_1" || got.Name != "ci" || !got.Scopes.Has(apikey.ScopeEventsRead) ||
		got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("Get = %+v, %v", got, ok)
	}
	if _, ok := c.Get("d2"); ok {
		t.Fatal("Get(other digest) found an entry")
	}
	// The cache keeps its own copy of the caller's slices and pointers.
	v.Scopes[0] = apikey.ScopeAPIKeysManage
	exp = exp.Add(time.Hour)
	got, _ = c.Get("d1")
	if got.Scopes[0] != apikey.ScopeEventsRead || !got.ExpiresAt.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("caller's change leaked into the cache: %+v", got)
	}
	// Put replaces.
	v2 := verified("key_1")
	v2.Version = 2
	c.Put("d1", v2)
	if got, _ := c.Get("d1"); got.Version != 2 {
		t.Fatalf("after replacement Version = %d", got.Version)
	}
	if c.Len() != 1 {
		t.Fatalf("Len() = %d, want 1", c.Len())
	}
	if c.Hits() != 3 || c.Misses() != 2 {
		t.Fatalf("Hits, Misses = %d, %d; want 3, 2", c.Hits(), c.Misses())
	}
}

func TestInvalidateKeys(t *testing.T) {
	clock := &fakeClock{}
	c := newCache(t, 100, time.Hour, withClock(clock))
	// key_1 has had three secrets (rotations); key_2 two; key_3 one.
	for _, e := range []struct{ digest, key string }{
		{"a1", "key_1"}, {"a2", "key_1"}, {"a3", "key_1"},
		{"b1", "key_2"}, {"b2", "key_2"},
		{"c1", "key_3"},
	} {
		c.Put(e.digest, verified(e.key))
	}
	c.InvalidateKeys("key_1", "key_3", "key_unknown")
	for _, d := range []string{"a1", "a2", "a3", "c1"} {
		if _, ok := c.Get(d); ok {
			t.Errorf("entry %s survived the invalidation of its key", d)
		}
	}
	for _, d := range []string{"b1", "b2"} {
		if _, ok := c.Get(d); !ok {
			t.Errorf("entry %s of another key was dropped", d)
		}
	}
	c.InvalidateKeys() // no ids: no-op
	if _, ok := c.Get("b1"); !ok {
		t.Fatal("InvalidateKeys() dropped an entry")
	}
}

func TestInvalidationGrace(t *testing.T) {
	clock := &fakeClock{}
	c := newCache(t, 100, time.Hour, withClock(clock))
	c.InvalidateKeys("key_1")
	c.Put("late", verified("key_1")) // a verification that raced the invalidation
	if _, ok := c.Get("late"); ok {
		t.Fatal("Put right after InvalidateKeys was cached")
	}
	c.Put("other", verified("key_2"))
	if _, ok := c.Get("other"); !ok {
		t.Fatal("grace period blocked another key")
	}
	clock.Advance(DefaultInvalidationGrace)
	c.Put("fresh", verified("key_1"))
	if _, ok := c.Get("fresh"); !ok {
		t.Fatal("Put after the grace period was not cached")
	}
	c.InvalidateKeys("key_9") // prunes the expired tombstone of key_1
	c.mu.RLock()
	_, kept := c.tombs["key_1"]
	n := len(c.tombs)
	c.mu.RUnlock()
	if kept || n != 1 {
		t.Fatalf("tombstones not pruned: %d left, key_1 kept = %v", n, kept)
	}

	nograce := newCache(t, 100, time.Hour, WithInvalidationGrace(0))
	nograce.InvalidateKeys("key_1")
	nograce.Put("d", verified("key_1"))
	if _, ok := nograce.Get("d"); !ok {
		t.Fatal("with grace 0, Put after InvalidateKeys was not cached")
	}
}

func TestTTL(t *testing.T) {
	clock := &fakeClock{}
	c := newCache(t, 100, time.Minute, withClock(clock))
	c.Put("d1", verified("key_1"))
	clock.Advance(30 * time.Second)
	c.Put("d2", verified("key_2"))
	if _, ok := c.Get("d1"); !ok {
		t.Fatal("entry expired early")
	}
	clock.Advance(30 * time.Second) // d1 is now one TTL old
	if _, ok := c.Get("d1"); ok {
		t.Fatal("entry outlived its TTL")
	}
	if _, ok := c.Get("d2"); !ok {
		t.Fatal("younger entry expired")
	}
	// Reads do not extend the TTL; writes restart it.
	clock.Advance(20 * time.Second)
	c.Put("d2", verified("key_2"))
	clock.Advance(50 * time.Second)
	if _, ok := c.Get("d2"); !ok {
		t.Fatal("rewritten entry expired from its first write")
	}
	clock.Advance(10 * time.Second)
	if _, ok := c.Get("d2"); ok {
		t.Fatal("rewritten entry outlived its TTL")
	}
	c.CleanUp()
	if c.Len() != 0 {
		t.Fatalf("Len() = %d after every entry expired and CleanUp", c.Len())
	}
}

func TestNoTTL(t *testing.T) {
	clock := &fakeClock{}
	c := newCache(t, 100, 0, withClock(clock))
	c.Put("d1", verified("key_1"))
	clock.Advance(1000 * time.Hour)
	if _, ok := c.Get("d1"); !ok {
		t.Fatal("entry expired with ttl 0")
	}
}

func TestRealClockTTL(t *testing.T) {
	c := newCache(t, 100, 50*time.Millisecond)
	c.Put("d1", verified("key_1"))
	if _, ok := c.Get("d1"); !ok {
		t.Fatal("fresh entry missing")
	}
	time.Sleep(120 * time.Millisecond)
	if _, ok := c.Get("d1"); ok {
		t.Fatal("entry outlived its TTL")
	}
}

func TestSizeBound(t *testing.T) {
	const max = 100
	c := newCache(t, max, time.Hour)
	for i := range 10 * max {
		c.Put(fmt.Sprintf("d%04d", i), verified(fmt.Sprintf("key_%d", i)))
	}
	c.CleanUp()
	if n := c.Len(); n > max {
		t.Fatalf("Len() = %d after CleanUp, want ≤ %d", n, max)
	}
	found := 0
	for i := range 10 * max {
		if _, ok := c.Get(fmt.Sprintf("d%04d", i)); ok {
			found++
		}
	}
	if found > max {
		t.Fatalf("%d entries retrievable, want ≤ %d", found, max)
	}
	if c.Evictions() == 0 {
		t.Fatal("Evictions() = 0 after overfilling")
	}
}

func TestConcurrent(t *testing.T) {
	const keys, digestsPerKey, workers, rounds = 20, 3, 8, 2000
	c := newCache(t, 1000, time.Minute, WithInvalidationGrace(0))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				k := (w*7 + i) % keys
				d := fmt.Sprintf("k%d-d%d", k, i%digestsPerKey)
				switch i % 10 {
				case 0:
					c.InvalidateKeys(fmt.Sprintf("key_%d", k))
				case 1, 2, 3:
					c.Put(d, verified(fmt.Sprintf("key_%d", k)))
				default:
					if v, ok := c.Get(d); ok && v.KeyID != fmt.Sprintf("key_%d", k) {
						t.Errorf("digest %s maps to %s", d, v.KeyID)
						return
					}
				}
				_ = c.Len()
			}
		})
	}
	wg.Wait()
	// Once writers are done, an invalidation leaves nothing of its keys.
	all := make([]string, keys)
	for k := range keys {
		all[k] = fmt.Sprintf("key_%d", k)
	}
	c.InvalidateKeys(all...)
	c.CleanUp()
	for k := range keys {
		for i := range digestsPerKey {
			if _, ok := c.Get(fmt.Sprintf("k%d-d%d", k, i)); ok {
				t.Fatalf("entry of key_%d survived the final invalidation", k)
			}
		}
	}
}

// TestInvalidateRacesPut checks the ordering Put and InvalidateKeys promise:
// whatever the interleaving, once both returned, an entry that the
// invalidation should cover is absent.
func TestInvalidateRacesPut(t *testing.T) {
	c := newCache(t, 10000, time.Minute) // default grace
	for i := range 500 {
		digest, key := fmt.Sprintf("d%d", i), fmt.Sprintf("key_%d", i)
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { <-start; c.Put(digest, verified(key)) })
		wg.Go(func() { <-start; c.InvalidateKeys(key) })
		close(start)
		wg.Wait()
		if _, ok := c.Get(digest); ok {
			t.Fatalf("round %d: entry survived a concurrent invalidation", i)
		}
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := newCache(b, 10000, time.Minute)
	c.Put("digest", verified("key_1"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Get("digest")
		}
	})
}
