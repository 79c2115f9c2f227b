package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
)

// MinChainKeyLen is the shortest chain key accepted, in bytes.
const MinChainKeyLen = 32

// ChainKeyIDPrefix starts every chain key id, e.g. "ck_1f0c3a9b5e7d2468".
const ChainKeyIDPrefix = "ck_"

// keyIDTag is the message whose HMAC under a key is the key's id.
const keyIDTag = "apikeys-audit-key-id"

// ChainKey is a secret that keys audit chains: the HMAC-SHA-256 key of
// their v2 links and of their registry seals. It never enters the
// database; its ID, which reveals nothing of it, is stored with each chain
// it keys. It formats as its ID, so it cannot be logged by mistake.
type ChainKey struct {
	id   string
	macs *sync.Pool // of *macState under the key
}

// macState is an HMAC-SHA-256 under one key with buffers for its message
// and sum, reused from one computation to the next: a reused HMAC keeps
// the key's padded states, so only the message is hashed again.
type macState struct {
	h   hash.Hash
	msg []byte
	sum [sha256.Size]byte
}

// NewChainKey returns the chain key made of secret, which must be at
// least MinChainKeyLen bytes.
func NewChainKey(secret []byte) (ChainKey, error) {
	if len(secret) < MinChainKeyLen {
		return ChainKey{}, fmt.Errorf("a chain key must be at least %d bytes, got %d", MinChainKeyLen, len(secret))
	}
	secret = bytes.Clone(secret)
	k := ChainKey{macs: &sync.Pool{New: func() any {
		return &macState{h: hmac.New(sha256.New, secret), msg: make([]byte, 0, 1024)}
	}}}
	k.id = ChainKeyIDPrefix + k.mac(keyIDTag)[:16]
	return k, nil
}

// ID returns the key's public identifier: "ck_" and the first 16 hex
// digits of the HMAC-SHA-256 of the netstring of "apikeys-audit-key-id"
// under the key. Empty for the zero ChainKey.
func (k ChainKey) ID() string { return k.id }

// IsZero reports whether k is the zero ChainKey, which keys nothing.
func (k ChainKey) IsZero() bool { return k.id == "" }

// String returns the key's ID, never the key.
func (k ChainKey) String() string { return k.id }

// GoString returns the key's ID, never the key.
func (k ChainKey) GoString() string { return "audit.ChainKey(" + k.id + ")" }

// LogValue logs the key's ID, never the key.
func (k ChainKey) LogValue() slog.Value { return slog.StringValue(k.id) }

// mac returns the lowercase hex HMAC-SHA-256 under k of the netstrings of
// fields.
func (k ChainKey) mac(fields ...string) string {
	return k.sum(func(dst []byte) []byte { return appendNetstrings(dst, fields...) })
}

// sum returns the lowercase hex HMAC-SHA-256 under k of the message
// appendMsg appends to the buffer it is given.
func (k ChainKey) sum(appendMsg func(dst []byte) []byte) string {
	if k.macs == nil {
		panic("audit: the zero ChainKey keys nothing")
	}
	st := k.macs.Get().(*macState)
	defer k.macs.Put(st)
	st.msg = appendMsg(st.msg[:0])
	st.h.Reset()
	st.h.Write(st.msg)
	return hex.EncodeToString(st.h.Sum(st.sum[:0]))
}

// ChainKeys are the chain keys a process knows: the current one, which
// keys the chains it writes, and previous ones, which keyed chains written
// before a rotation and still verify them.
type ChainKeys struct {
	current  ChainKey
	previous []ChainKey
}

// NewChainKeys returns the keys made of current and previous secrets.
// current is required; no two secrets may be the same.
func NewChainKeys(current []byte, previous ...[]byte) (ChainKeys, error) {
	if len(current) == 0 {
		return ChainKeys{}, errors.New("no current chain key")
	}
	cur, err := NewChainKey(current)
	if err != nil {
		return ChainKeys{}, err
	}
	ks := ChainKeys{current: cur}
	seen := map[string]bool{cur.id: true}
	for i, p := range previous {
		k, err := NewChainKey(p)
		if err != nil {
			return ChainKeys{}, fmt.Errorf("previous chain key %d: %w", i+1, err)
		}
		if seen[k.id] {
			return ChainKeys{}, fmt.Errorf("previous chain key %d repeats another key (%s)", i+1, k.id)
		}
		seen[k.id] = true
		ks.previous = append(ks.previous, k)
	}
	return ks, nil
}

// Current returns the key new chains are written with; the zero ChainKey
// for the zero ChainKeys.
func (ks ChainKeys) Current() ChainKey { return ks.current }

// IsZero reports whether ks holds no key.
func (ks ChainKeys) IsZero() bool { return ks.current.IsZero() }

// Lookup returns the key whose ID is id, current or previous.
func (ks ChainKeys) Lookup(id string) (ChainKey, bool) {
	if id == "" {
		return ChainKey{}, false
	}
	if ks.current.id == id {
		return ks.current, true
	}
	for _, k := range ks.previous {
		if k.id == id {
			return k, true
		}
	}
	return ChainKey{}, false
}

// IDs returns the ids of the keys, the current one first.
func (ks ChainKeys) IDs() []string {
	if ks.IsZero() {
		return nil
	}
	out := []string{ks.current.id}
	for _, k := range ks.previous {
		out = append(out, k.id)
	}
	return out
}

// String lists the keys' IDs, never the keys.
func (ks ChainKeys) String() string {
	if ks.IsZero() {
		return "no chain keys"
	}
	return "chain keys " + strings.Join(ks.IDs(), ", ")
}

// GoString lists the keys' IDs, never the keys.
func (ks ChainKeys) GoString() string { return "audit.ChainKeys(" + strings.Join(ks.IDs(), ", ") + ")" }

// LogValue logs the keys' IDs, never the keys.
func (ks ChainKeys) LogValue() slog.Value { return slog.StringValue(ks.String()) }
