package keys

import (
	"sync"

	"github.com/agentauri/apikeys/core/apikey"
)

// flight makes concurrent verifications of the same secret share one store
// read and one Argon2id computation.
type flight struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	wg  sync.WaitGroup
	p   proof
	err error
}

func (f *flight) do(key string, fn func() (proof, error)) (proof, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = make(map[string]*call)
	}
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		c.wg.Wait()
		return c.p, c.err
	}
	// Until fn returns, a follower that wakes (say, after a panic) sees a
	// failure, never a zero value taken for success.
	c := &call{err: apikey.ErrUnavailable}
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
