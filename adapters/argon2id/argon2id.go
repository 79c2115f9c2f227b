// Package argon2id implements ports.Hasher with Argon2id (RFC 9106) and
// stores hashes as PHC strings:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// where salt and hash are unpadded standard base64, as in the reference
// implementation. Every computation, hashing or verifying, runs in a bounded
// pool so that a burst of requests never holds more than maxConcurrent
// Argon2 memory blocks at once.
package argon2id

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/agentauri/apikeys/ports"
)

var _ ports.Hasher = (*Hasher)(nil)

// Bounds of the parameters of new hashes, checked by Params.Validate. The
// minimums are a floor against misconfiguration, not a recommendation
// (DefaultParams follows the OWASP recommendation).
const (
	MinMemory  = 8192    // KiB (8 MiB)
	MaxMemory  = 4 << 20 // KiB (4 GiB)
	MinTime    = 1
	MaxTime    = 20
	MinThreads = 1
	MinSaltLen = 8
	MaxSaltLen = 1024
	MinKeyLen  = 16
	MaxKeyLen  = 1024
)

// maxStoredTime bounds the passes of a stored hash that Compare accepts.
// A stored hash may come from another Argon2id implementation (a migration)
// with parameters below the bounds of new hashes, so Compare accepts any
// memory from 8 KiB per thread; the maximums bound the cost of a poisoned
// row, which cannot make Compare allocate gigabytes or spin for minutes.
const maxStoredTime = 100

// ErrMalformed is wrapped by the error Compare returns for an encoded hash it
// cannot parse or whose parameters are out of bounds.
var ErrMalformed = errors.New("malformed argon2id hash")

// Params are the Argon2id cost parameters and output sizes.
type Params struct {
	Memory  uint32 // memory in KiB
	Time    uint32 // number of passes
	Threads uint8  // degree of parallelism
	SaltLen uint32 // salt length in bytes
	KeyLen  uint32 // hash length in bytes
}

// DefaultParams returns the OWASP-recommended parameters: 19 MiB of memory,
// two passes, one thread, a 16-byte salt and a 32-byte hash.
func DefaultParams() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// ParamError names a parameter out of its bounds.
type ParamError struct {
	Param  string // Memory, Time, Threads, SaltLen or KeyLen
	Reason string // e.g. "must be between 8192 and 4194304 KiB, got 10"
}

func (e *ParamError) Error() string { return "argon2id: " + e.Param + " " + e.Reason }

// Validate checks the parameters of new hashes against the bounds above
// and returns a *ParamError naming the first bad one: Memory in
// [MinMemory, MaxMemory] KiB, Time in [MinTime, MaxTime], Threads at
// least MinThreads (and at most Memory/8), SaltLen in [MinSaltLen,
// MaxSaltLen] and KeyLen in [MinKeyLen, MaxKeyLen].
func (p Params) Validate() error {
	bad := func(param, format string, args ...any) error {
		return &ParamError{Param: param, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case p.Memory < MinMemory || p.Memory > MaxMemory:
		return bad("Memory", "must be between %d and %d KiB, got %d", MinMemory, MaxMemory, p.Memory)
	case p.Threads < MinThreads:
		return bad("Threads", "must be at least %d, got %d", MinThreads, p.Threads)
	case p.Memory < 8*uint32(p.Threads):
		return bad("Threads", "must be at most Memory/8 (%d), got %d", p.Memory/8, p.Threads)
	case p.Time < MinTime || p.Time > MaxTime:
		return bad("Time", "must be between %d and %d, got %d", MinTime, MaxTime, p.Time)
	case p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen:
		return bad("SaltLen", "must be between %d and %d bytes, got %d", MinSaltLen, MaxSaltLen, p.SaltLen)
	case p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen:
		return bad("KeyLen", "must be between %d and %d bytes, got %d", MinKeyLen, MaxKeyLen, p.KeyLen)
	}
	return nil
}

// Observer is told about every Argon2 computation, for metrics. op is "hash"
// or "verify", wait is how long the call waited for a slot in the pool and
// dur how long the computation took. It is not called when the caller gave
// up while waiting. It must be safe for concurrent use and fast.
type Observer interface {
	ObserveHash(op string, wait, dur time.Duration)
}

// Operation names passed to Observer.ObserveHash.
const (
	OpHash   = "hash"
	OpVerify = "verify"
)

// Hasher hashes and verifies secrets with Argon2id. It is safe for
// concurrent use.
type Hasher struct {
	params   Params
	pool     *pool
	observer Observer
	testHook func() // called while holding a pool slot; tests only
}

// pool is the state that copies made by WithObserver share.
type pool struct {
	sem          chan struct{}
	inFlight     atomic.Int64
	peak         atomic.Int64 // highest inFlight ever reached
	computations atomic.Uint64
}

// New returns a Hasher that hashes with p and runs at most maxConcurrent
// Argon2 computations at a time; maxConcurrent ≤ 0 means runtime.NumCPU().
func New(p Params, maxConcurrent int) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.NumCPU()
	}
	return &Hasher{params: p, pool: &pool{sem: make(chan struct{}, maxConcurrent)}}, nil
}

// WithObserver returns a Hasher that reports its computations to o. It
// shares h's pool and counters, so the concurrency bound holds across both.
func (h *Hasher) WithObserver(o Observer) *Hasher {
	c := *h
	c.observer = o
	return &c
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// MaxConcurrent returns how many computations may run at once.
func (h *Hasher) MaxConcurrent() int { return cap(h.pool.sem) }

// Computations returns how many Argon2 computations have completed.
func (h *Hasher) Computations() uint64 { return h.pool.computations.Load() }

// InFlight returns how many Argon2 computations are running now.
func (h *Hasher) InFlight() int { return int(h.pool.inFlight.Load()) }

// PeakInFlight returns the most Argon2 computations that ever ran at once;
// times Params().Memory it bounds the Argon2 memory the process has held.
func (h *Hasher) PeakInFlight() int { return int(h.pool.peak.Load()) }

// Hash returns the PHC string of secret under a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, secret string) (string, error) {
	p := h.params
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("argon2id: read salt: %w", err)
	}
	key, err := h.compute(ctx, OpHash, []byte(secret), salt, p)
	if err != nil {
		return "", err
	}
	return encode(p, salt, key), nil
}

// Compare reports whether secret matches encoded. It uses the parameters
// recorded in encoded, so hashes made before a parameter change still
// verify. It returns an error wrapping ErrMalformed, never false, for an
// encoding it cannot parse or whose parameters exceed the package limits,
// and ctx.Err() if ctx ends while it waits for a slot in the pool.
func (h *Hasher) Compare(ctx context.Context, secret, encoded string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got, err := h.compute(ctx, OpVerify, []byte(secret), salt, p)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// the current ones (or cannot be parsed), so that it should be replaced the
// next time its secret is known.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, _, err := decode(encoded)
	return err != nil || p != h.params
}

// compute runs one Argon2id computation in the pool.
func (h *Hasher) compute(ctx context.Context, op string, secret, salt []byte, p Params) ([]byte, error) {
	start := time.Now()
	if err := h.pool.acquire(ctx); err != nil {
		return nil, err
	}
	began := time.Now()
	key := h.derive(secret, salt, p)
	dur := time.Since(began)
	if h.observer != nil {
		h.observer.ObserveHash(op, began.Sub(start), dur)
	}
	return key, nil
}

// derive runs Argon2id in a slot the caller holds, and frees the slot.
func (h *Hasher) derive(secret, salt []byte, p Params) []byte {
	defer h.pool.release()
	if h.testHook != nil {
		h.testHook()
	}
	return argon2.IDKey(secret, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

func (p *pool) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.sem <- struct{}{}:
	default:
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	n := p.inFlight.Add(1)
	for {
		old := p.peak.Load()
		if p.peak.CompareAndSwap(old, max(old, n)) {
			return nil
		}
	}
}

func (p *pool) release() {
	p.computations.Add(1)
	p.inFlight.Add(-1)
	<-p.sem
}

var b64 = base64.RawStdEncoding.Strict()

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses a PHC string. Error messages describe the defect but never
// quote the input, which is secret-adjacent material.
func decode(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, fmt.Errorf("%w: want 5 $-separated fields", ErrMalformed)
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: algorithm is not argon2id", ErrMalformed)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version", ErrMalformed)
	}
	ps := strings.Split(parts[3], ",")
	if len(ps) != 3 {
		return p, nil, nil, fmt.Errorf("%w: want parameters m,t,p", ErrMalformed)
	}
	m, err1 := param(ps[0], "m=", 32)
	t, err2 := param(ps[1], "t=", 32)
	th, err3 := param(ps[2], "p=", 8)
	if err := errors.Join(err1, err2, err3); err != nil {
		return p, nil, nil, fmt.Errorf("%w: bad parameters", ErrMalformed)
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(th)}
	switch {
	case p.Threads < MinThreads:
		return p, nil, nil, fmt.Errorf("%w: p must be at least %d", ErrMalformed, MinThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > MaxMemory:
		return p, nil, nil, fmt.Errorf("%w: m out of range", ErrMalformed)
	case p.Time < MinTime || p.Time > maxStoredTime:
		return p, nil, nil, fmt.Errorf("%w: t out of range", ErrMalformed)
	}
	if b64.DecodedLen(len(parts[4])) > MaxSaltLen || b64.DecodedLen(len(parts[5])) > MaxKeyLen {
		return p, nil, nil, fmt.Errorf("%w: salt or hash too long", ErrMalformed)
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: salt is not base64", ErrMalformed)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: hash is not base64", ErrMalformed)
	}
	if len(salt) < MinSaltLen {
		return p, nil, nil, fmt.Errorf("%w: salt shorter than %d bytes", ErrMalformed, MinSaltLen)
	}
	if len(key) < MinKeyLen {
		return p, nil, nil, fmt.Errorf("%w: hash shorter than %d bytes", ErrMalformed, MinKeyLen)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// param parses "<prefix><decimal>" strictly: the canonical decimal only
// (no sign, no leading zeros).
func param(s, prefix string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, prefix)
	n, err := strconv.ParseUint(v, 10, bits)
	if !ok || err != nil || strconv.FormatUint(n, 10) != v {
		return 0, ErrMalformed
	}
	return n, nil
}
