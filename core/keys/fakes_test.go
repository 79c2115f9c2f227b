package keys

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/memstore"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// memStore is the in-memory store, which passes the store contract suites,
// counting its lookups and able to fail the calls of a verification.
type memStore struct {
	*memstore.Store
	lookups atomic.Int64
	mu      sync.Mutex
	fail    error
}

func newMemStore() *memStore { return &memStore{Store: memstore.New()} }

func (m *memStore) failure() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fail
}

func (m *memStore) CreateKey(ctx context.Context, k apikey.Key, ev audit.Event) error {
	if err := m.failure(); err != nil {
		return err
	}
	return m.Store.CreateKey(ctx, k, ev)
}

func (m *memStore) FindByLookup(ctx context.Context, digest string) (apikey.Key, error) {
	m.lookups.Add(1)
	if err := m.failure(); err != nil {
		return apikey.Key{}, err
	}
	return m.Store.FindByLookup(ctx, digest)
}

// events returns the audit events of org, oldest first.
func (m *memStore) events(t *testing.T, org string) []audit.Event {
	t.Helper()
	page, err := m.ListEvents(context.Background(), ports.AuditQuery{OrganizationIDs: []string{org}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(page.Events)
	return page.Events
}

// fakeHasher is a fast stand-in for Argon2id that counts computations.
type fakeHasher struct {
	hashes, verifies atomic.Int64
	delay            time.Duration
}

func (h *fakeHasher) Hash(_ context.Context, s string) (string, error) {
	h.hashes.Add(1)
	return "fake$" + s, nil
}

func (h *fakeHasher) Compare(_ context.Context, s, enc string) (bool, error) {
	h.verifies.Add(1)
	time.Sleep(h.delay)
	return enc == "fake$"+s, nil
}

type hmacDigester struct{}

func (hmacDigester) Digest(s string) string {
	m := hmac.New(sha256.New, []byte("test-pepper-test-pepper-test-pepper"))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// mapCache is a plain VerifyCache.
type mapCache struct {
	mu sync.Mutex
	m  map[string]apikey.Verified
}

func newMapCache() *mapCache { return &mapCache{m: map[string]apikey.Verified{}} }

func (c *mapCache) Get(d string) (apikey.Verified, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[d]
	return v, ok
}

func (c *mapCache) Put(d string, v apikey.Verified) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[d] = v
}

func (c *mapCache) InvalidateKeys(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for d, v := range c.m {
		for _, id := range ids {
			if v.KeyID == id {
				delete(c.m, d)
			}
		}
	}
}

// recorder collects usage events.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
	fail   error
}

func (r *recorder) Record(_ context.Context, ev audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.events = append(r.events, ev)
	return nil
}

func (r *recorder) all() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]audit.Event(nil), r.events...)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
