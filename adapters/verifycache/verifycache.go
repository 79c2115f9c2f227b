// Package verifycache implements ports.VerifyCache on otter: a bounded,
// concurrent map from lookup digest to the facts a successful verification
// established, so that Argon2id runs once per key per process.
package verifycache

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

var _ ports.VerifyCache = (*Cache)(nil)

// DefaultInvalidationGrace is how long, by default, Put ignores entries of a
// key after InvalidateKeys dropped it; see WithInvalidationGrace.
const DefaultInvalidationGrace = time.Second

// Cache maps lookup digests to apikey.Verified. It is safe for concurrent
// use. Values returned by Get are shared: callers must not modify them.
type Cache struct {
	c     *otter.Cache[string, apikey.Verified]
	stats *stats.Counter
	grace time.Duration
	now   func() int64 // nanoseconds

	// mu orders Put against InvalidateKeys: a Put either lands before an
	// invalidation's scan, which then sees it, or after, when it sees the
	// invalidation's tombstone. Get does not take it.
	mu    sync.RWMutex
	tombs map[string]int64 // key id -> end of its grace period (now units)
}

// Option configures a Cache.
type Option func(*config)

type config struct {
	grace time.Duration
	clock otter.Clock // tests only
}

// WithInvalidationGrace sets how long after InvalidateKeys a Put of an entry
// of the same key is ignored (default DefaultInvalidationGrace; 0 disables).
// It closes the race in which a verification that read a key before its
// rotation or revocation caches it just after the invalidation: without
// it, the stale entry would live until the TTL. A fresh verification of the
// key during the grace period still succeeds; it is just not cached.
func WithInvalidationGrace(d time.Duration) Option {
	return func(c *config) { c.grace = d }
}

// New returns a Cache holding at most maxEntries entries, each expiring ttl
// after it was written; ttl 0 means entries never expire.
func New(maxEntries int, ttl time.Duration, opts ...Option) (*Cache, error) {
	cfg := config{grace: DefaultInvalidationGrace}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case maxEntries <= 0:
		return nil, fmt.Errorf("verifycache: maxEntries must be positive, got %d", maxEntries)
	case ttl < 0:
		return nil, fmt.Errorf("verifycache: ttl must not be negative, got %s", ttl)
	case cfg.grace < 0:
		return nil, fmt.Errorf("verifycache: invalidation grace must not be negative, got %s", cfg.grace)
	}
	counter := stats.NewCounter()
	o := &otter.Options[string, apikey.Verified]{
		MaximumSize:     maxEntries,
		InitialCapacity: min(maxEntries, 1024),
		StatsRecorder:   counter,
		Clock:           cfg.clock,
	}
	if ttl != 0 { // negative refused above
		o.ExpiryCalculator = otter.ExpiryWriting[string, apikey.Verified](ttl)
	}
	c, err := otter.New(o)
	if err != nil {
		return nil, fmt.Errorf("verifycache: %w", err)
	}
	now := func() int64 { return time.Now().UnixNano() }
	if cfg.clock != nil {
		now = cfg.clock.NowNano
	}
	return &Cache{c: c, stats: counter, grace: cfg.grace, now: now, tombs: make(map[string]int64)}, nil
}

// Get returns the entry for digest, if present and not expired. ctx is not
// used; it is part of ports.VerifyCache for decorators.
func (c *Cache) Get(digest string) (apikey.Verified, bool) {
	return c.c.GetIfPresent(digest)
}

// Put stores v under digest, replacing any entry and restarting its TTL,
// unless v's key was invalidated less than the grace period ago.
func (c *Cache) Put(digest string, v apikey.Verified) {
	v = detached(v)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if until, ok := c.tombs[v.KeyID]; ok && c.now() < until {
		return
	}
	c.c.Set(digest, v)
}

// Prime stores v under digest like Put, ignoring the grace period of v's
// key: the caller has just written the key (created or rotated it), so v
// is current; only stale entries of the key are what the grace keeps out.
func (c *Cache) Prime(digest string, v apikey.Verified) {
	v = detached(v)
	c.mu.RLock()
	defer c.mu.RUnlock()
	c.c.Set(digest, v)
}

// detached returns v sharing no memory with the caller's copy, so that the
// cache's entry cannot be changed from outside.
func detached(v apikey.Verified) apikey.Verified {
	v.Scopes = slices.Clone(v.Scopes)
	v.IPAllowlist = slices.Clone(v.IPAllowlist)
	if v.ExpiresAt != nil {
		t := *v.ExpiresAt
		v.ExpiresAt = &t
	}
	return v
}

// InvalidateKeys drops every entry whose KeyID is among ids. It scans the
// whole cache, which is fine because invalidations are rare.
func (c *Cache) InvalidateKeys(ids ...string) {
	if len(ids) == 0 {
		return
	}
	drop := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		drop[id] = struct{}{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for id, until := range c.tombs {
		if now >= until {
			delete(c.tombs, id)
		}
	}
	if c.grace != 0 {
		for id := range drop {
			c.tombs[id] = now + int64(c.grace)
		}
	}
	var digests []string
	for digest, v := range c.c.All() {
		if _, ok := drop[v.KeyID]; ok {
			digests = append(digests, digest)
		}
	}
	for _, d := range digests {
		c.c.Invalidate(d)
	}
}

// Len returns the approximate number of entries; entries past their TTL
// or beyond the size bound may count until the cache's next maintenance.
func (c *Cache) Len() int { return c.c.EstimatedSize() }

// Hits returns how many Get calls found an entry.
func (c *Cache) Hits() uint64 { return c.stats.Snapshot().Hits }

// Misses returns how many Get calls found none.
func (c *Cache) Misses() uint64 { return c.stats.Snapshot().Misses }

// Evictions returns how many entries left because of the size bound or TTL.
func (c *Cache) Evictions() uint64 { return c.stats.Snapshot().Evictions }

// CleanUp performs pending maintenance now: evictions past the size bound
// and removal of expired entries.
func (c *Cache) CleanUp() { c.c.CleanUp() }

// Close stops the cache's background expiry goroutine. The cache remains
// usable; expired entries are then removed during later operations.
func (c *Cache) Close() { c.c.StopAllGoroutines() }
