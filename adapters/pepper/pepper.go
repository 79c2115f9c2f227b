// Package pepper implements ports.Digester: the lookup digest of a secret is
// HMAC-SHA256 keyed with a pepper that lives in configuration, never in the
// database, so a stolen table of digests cannot be tested against guesses.
package pepper

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"

	"github.com/agentauri/apikeys/ports"
)

var _ ports.Digester = (*Digester)(nil)

// MinLen is the shortest pepper New accepts, in bytes.
const MinLen = 32

// maxPooledInput bounds the input buffer a pooled state keeps between uses.
const maxPooledInput = 1024

// Digester computes lowercase hex HMAC-SHA256 digests. It is safe for
// concurrent use.
type Digester struct {
	pool sync.Pool // of *state
}

// state is one reusable HMAC with scratch space, so that a digest costs a
// single allocation: the returned string.
type state struct {
	mac hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// New returns a Digester keyed with pepper, which must be at least MinLen
// bytes. New copies pepper; the caller may clear its slice afterwards.
func New(pepper []byte) (*Digester, error) {
	if len(pepper) < MinLen {
		return nil, fmt.Errorf("pepper: must be at least %d bytes, got %d", MinLen, len(pepper))
	}
	key := append([]byte(nil), pepper...)
	d := &Digester{}
	d.pool.New = func() any {
		return &state{mac: hmac.New(sha256.New, key), in: make([]byte, 0, 64)}
	}
	return d, nil
}

// Digest returns the 64-character lowercase hex HMAC-SHA256 of secret.
func (d *Digester) Digest(secret string) string {
	s := d.pool.Get().(*state)
	s.in = append(s.in[:0], secret...)
	s.mac.Write(s.in)
	sum := s.mac.Sum(s.sum[:0])
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum)
	s.mac.Reset()
	clear(s.in)
	if cap(s.in) > maxPooledInput {
		s.in = make([]byte, 0, 64)
	}
	d.pool.Put(s)
	return string(out[:])
}
