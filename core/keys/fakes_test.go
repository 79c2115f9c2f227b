package keys

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// memStore is an in-memory KeyStore that counts its reads.
type memStore struct {
	mu      sync.Mutex
	keys    map[string]apikey.Key
	events  []audit.Event
	lookups atomic.Int64
	fail    error
}

func newMemStore() *memStore { return &memStore{keys: map[string]apikey.Key{}} }

func (m *memStore) CreateKey(_ context.Context, k apikey.Key, ev audit.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, x := range m.keys {
		if x.Lookup == k.Lookup {
			return apikey.ErrConflict
		}
	}
	m.keys[k.ID] = k
	m.events = append(m.events, ev)
	return nil
}

func (m *memStore) GetKey(_ context.Context, id string) (apikey.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return apikey.Key{}, apikey.ErrNotFound
	}
	return k, nil
}

func (m *memStore) FindByLookup(_ context.Context, digest string) (apikey.Key, error) {
	m.lookups.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return apikey.Key{}, m.fail
	}
	for _, k := range m.keys {
		if k.Lookup == digest {
			return k, nil
		}
	}
	return apikey.Key{}, apikey.ErrNotFound
}

func (m *memStore) ListKeys(_ context.Context, q ports.KeyQuery) (ports.KeyPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []apikey.Key
	for _, k := range m.keys {
		for _, o := range q.OrganizationIDs {
			if k.OrganizationID == o && (q.IncludeRevoked || k.RevokedAt == nil) {
				out = append(out, k)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	total := int64(len(out))
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return ports.KeyPage{Keys: out, Total: total}, nil
}

func (m *memStore) RotateKey(_ context.Context, r ports.Rotation, ev audit.Event) (apikey.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[r.KeyID]
	switch {
	case !ok:
		return apikey.Key{}, apikey.ErrNotFound
	case k.RevokedAt != nil:
		return apikey.Key{}, apikey.ErrRevoked
	case k.Version != r.ExpectVersion:
		return apikey.Key{}, apikey.ErrConflict
	}
	at := r.At
	k.Hash, k.Lookup, k.Hint, k.RotatedAt, k.UpdatedAt, k.Version = r.Hash, r.Lookup, r.Hint, &at, at, k.Version+1
	m.keys[k.ID] = k
	m.events = append(m.events, ev)
	return k, nil
}

func (m *memStore) RevokeKey(_ context.Context, id string, at time.Time, ev audit.Event) (apikey.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return apikey.Key{}, apikey.ErrNotFound
	}
	if k.RevokedAt != nil {
		return k, apikey.ErrRevoked
	}
	k.RevokedAt, k.UpdatedAt, k.Version = &at, at, k.Version+1
	m.keys[id] = k
	m.events = append(m.events, ev)
	return k, nil
}

func (m *memStore) InvalidatedSince(_ context.Context, since time.Time) ([]ports.KeyChange, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ports.KeyChange
	for _, k := range m.keys {
		for _, t := range []*time.Time{k.RotatedAt, k.RevokedAt} {
			if t != nil && !t.Before(since) {
				out = append(out, ports.KeyChange{KeyID: k.ID, At: *t})
			}
		}
	}
	return out, nil
}

// set overwrites a key directly, as another instance sharing the store would.
func (m *memStore) set(k apikey.Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[k.ID] = k
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
