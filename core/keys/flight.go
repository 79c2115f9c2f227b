package keys

import (
	"sync"

	"github.com/agentauri/apikeys/core/apikey"
)

// flight makes concurrent verifications of the same secret share one
// computation of T: one store read (T the lookup), one Argon2id (T the
// proof).
type flight[T any] struct {
	mu    sync.Mutex
	calls map[string]*call[T]
}

type call[T any] struct {
	wg  sync.WaitGroup
	p   T
	err error
}

func (f *flight[T]) do(key string, fn func() (T, error)) (T, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = make(map[string]*call[T])
	}
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		c.wg.Wait()
		return c.p, c.err
	}
	// Until fn returns, a follower that wakes (say, after a panic) sees a
	// failure, never a zero value taken for success.
	c := &call[T]{err: apikey.ErrUnavailable}
	c.wg.Add(1)
	f.calls[key] = c
	f.mu.Unlock()

	defer func() {
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		c.wg.Done()
	}()
	c.p, c.err = fn()
	return c.p, c.err
}
