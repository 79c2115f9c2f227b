package keys

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
)

// invalidationOverlap is how far back each poll for invalidations looks
// before the previous poll, so that a change committed late, or stamped by
// an instance whose clock is slightly behind, is still seen.
const invalidationOverlap = 5 * time.Second

// maxTracked bounds the keys whose last invalidation is remembered for
// the cache race check; past it the record starts over (see forget).
const maxTracked = 10_000

// invalidations is the service's bookkeeping of cache invalidations: which
// keys were invalidated when (so that a verification that read a key
// before its rotation or revocation never caches it afterwards, while
// other keys' invalidations stop nothing), which changes the poll already
// applied, and when the poll last succeeded.
type invalidations struct {
	seq atomic.Uint64 // counts invalidations

	mu    sync.Mutex
	last  map[string]uint64 // key id -> seq of its last invalidation
	floor uint64            // proofs that started before floor never cache

	syncMu    sync.Mutex
	watermark time.Time            // start of the last successful poll
	applied   map[string]time.Time // changes already applied, by key id

	lastSync atomic.Int64 // watermark in Unix nanoseconds, read on the hot path
}

func (iv *invalidations) init(now time.Time) {
	iv.last = map[string]uint64{}
	iv.applied = map[string]time.Time{}
	iv.watermark = now
	iv.lastSync.Store(now.UnixNano())
}

// mark records an invalidation of ids and returns its sequence number.
func (iv *invalidations) mark(ids ...string) uint64 {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	seq := iv.seq.Add(1)
	if len(iv.last)+len(ids) > maxTracked {
		// Forget: every proof under way now refrains from caching.
		clear(iv.last)
		iv.floor = seq
	}
	for _, id := range ids {
		iv.last[id] = seq
	}
	return seq
}

// unchangedSince reports whether key id has not been invalidated since
// sequence number start was read.
func (iv *invalidations) unchangedSince(id string, start uint64) bool {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	return start >= iv.floor && iv.last[id] <= start
}

// invalidate drops ids from the cache and records it, so that proofs under
// way do not cache them again.
func (s *Service) invalidate(ids ...string) uint64 {
	seq := s.inval.mark(ids...)
	s.d.Cache.InvalidateKeys(ids...)
	return seq
}

// prime caches the facts of a key this instance has just written under the
// digest of its new secret, unless the key was invalidated again since seq
// (a concurrent rotation or revocation): its first uses then cost no
// Argon2id here.
func (s *Service) prime(digest string, v apikey.Verified, seq uint64) {
	if s.inval.unchangedSince(v.KeyID, seq) {
		s.d.Cache.Prime(digest, v)
		if !s.inval.unchangedSince(v.KeyID, seq) {
			s.d.Cache.InvalidateKeys(v.KeyID)
		}
	}
}

// noteOwnChange notes a change this instance made itself, so that the
// poll, which will see it, does not invalidate the entry primed for it.
func (s *Service) noteOwnChange(keyID string, at time.Time) {
	s.inval.syncMu.Lock()
	defer s.inval.syncMu.Unlock()
	if prev, ok := s.inval.applied[keyID]; !ok || at.After(prev) {
		s.inval.applied[keyID] = at.UTC()
	}
}

// SyncInvalidations applies rotations and revocations made by other
// instances sharing the store: their keys leave this instance's cache.
// The app calls it on a short interval; while it keeps failing for longer
// than Options.MaxStaleness, the cache answers nothing (see fresh).
func (s *Service) SyncInvalidations(ctx context.Context) error {
	iv := &s.inval
	iv.syncMu.Lock()
	defer iv.syncMu.Unlock()
	start := s.now()
	changes, err := s.d.Store.InvalidatedSince(ctx, iv.watermark.Add(-invalidationOverlap))
	if err != nil {
		return fmt.Errorf("poll invalidations: %w", err)
	}
	var ids []string
	for _, c := range changes {
		if at, ok := iv.applied[c.KeyID]; ok && !c.At.After(at) {
			continue
		}
		iv.applied[c.KeyID] = c.At
		ids = append(ids, c.KeyID)
	}
	if len(ids) > 0 {
		s.invalidate(ids...)
	}
	iv.watermark = start
	iv.lastSync.Store(start.UnixNano())
	for id, at := range iv.applied {
		if at.Before(start.Add(-2 * invalidationOverlap)) {
			delete(iv.applied, id)
		}
	}
	return nil
}

// ErrStale is wrapped by the error of a verification the cache would have
// answered while the invalidation poll has not succeeded for longer than
// Options.MaxStaleness. It wraps apikey.ErrUnavailable.
var ErrStale = fmt.Errorf("invalidations not polled within the maximum staleness: %w", apikey.ErrUnavailable)

// fresh reports whether the cache may answer at now: the last successful
// poll started at most Options.MaxStaleness ago (always, when it is 0).
func (s *Service) fresh(now time.Time) bool {
	return s.opt.MaxStaleness <= 0 || now.UnixNano()-s.inval.lastSync.Load() <= int64(s.opt.MaxStaleness)
}

// Staleness returns how long ago the last successful invalidation poll
// started (since the service started, before the first).
func (s *Service) Staleness() time.Duration {
	return time.Duration(s.d.Clock.Now().UnixNano() - s.inval.lastSync.Load())
}
