// Package auditqueue implements ports.UsageRecorder with a bounded
// in-memory queue that one writer goroutine drains into
// ports.AuditStore.AppendUsage in batches.
//
// Events are never lost while the process lives: a failed write keeps its
// batch and retries it with exponential backoff until it succeeds, and the
// queue refuses (or, in drop mode, counts and logs) events it has no room
// for instead of growing. Close drains what is queued.
//
// A retried batch may have been committed by an attempt whose result was
// lost (a timeout, a dropped connection), so AppendUsage should be
// idempotent on event ID for a retry never to duplicate an event.
package auditqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

var _ ports.UsageRecorder = (*Queue)(nil)

// What Record does when the queue is full.
const (
	OnFullBlock = "block" // wait up to BlockTimeout for room, then fail with ErrUnavailable
	OnFullDrop  = "drop"  // drop the event, count it and log a warning (at most once a second)
)

// Config tunes a Queue. A zero field takes its default.
type Config struct {
	Capacity      int           // events accepted but not yet stored, at most (default 10000)
	BatchSize     int           // events per AppendUsage call, at most (default 2000); ≤ Capacity
	FlushInterval time.Duration // longest an event waits for its batch to fill (default 200ms)
	OnFull        string        // OnFullBlock (default) or OnFullDrop
	BlockTimeout  time.Duration // how long a blocked Record waits for room (default 2s)
	RetryMin      time.Duration // wait after the first failed write (default 100ms)
	RetryMax      time.Duration // cap of the doubling wait between retries (default 5s)
	WriteTimeout  time.Duration // deadline of one AppendUsage call (default 10s)
}

// DefaultConfig returns the defaults that zero fields take.
func DefaultConfig() Config {
	return Config{
		Capacity: 10000,
		// Per-batch index pages and last_used_at updates amortize over
		// more events in bigger batches: 2000 cost the SQLite writer
		// 11-13 µs less per verification than 500 (BENCHMARKS.md).
		BatchSize:     2000,
		FlushInterval: 200 * time.Millisecond,
		OnFull:        OnFullBlock,
		BlockTimeout:  2 * time.Second,
		RetryMin:      100 * time.Millisecond,
		RetryMax:      5 * time.Second,
		WriteTimeout:  10 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Capacity == 0 {
		c.Capacity = d.Capacity
	}
	if c.BatchSize == 0 {
		c.BatchSize = min(d.BatchSize, c.Capacity)
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = d.FlushInterval
	}
	if c.OnFull == "" {
		c.OnFull = d.OnFull
	}
	if c.BlockTimeout == 0 {
		c.BlockTimeout = d.BlockTimeout
	}
	if c.RetryMin == 0 {
		c.RetryMin = d.RetryMin
		if c.RetryMax > 0 && c.RetryMax < c.RetryMin {
			c.RetryMin = c.RetryMax // stay within an explicit, smaller RetryMax
		}
	}
	if c.RetryMax == 0 {
		c.RetryMax = max(d.RetryMax, c.RetryMin)
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	return c
}

// Validate reports the first bad field of c, after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.Capacity < 1:
		return bad("Capacity", "must be at least 1, got %d", c.Capacity)
	case c.BatchSize < 1 || c.BatchSize > c.Capacity:
		return bad("BatchSize", "must be between 1 and the capacity (%d), got %d", c.Capacity, c.BatchSize)
	case c.FlushInterval < 0:
		return bad("FlushInterval", "must be a positive duration, got %s", c.FlushInterval)
	case c.OnFull != OnFullBlock && c.OnFull != OnFullDrop:
		return bad("OnFull", "must be %s or %s, got %q", OnFullBlock, OnFullDrop, c.OnFull)
	case c.BlockTimeout < 0:
		return bad("BlockTimeout", "must be a positive duration, got %s", c.BlockTimeout)
	case c.RetryMin < 0:
		return bad("RetryMin", "must be a positive duration, got %s", c.RetryMin)
	case c.RetryMax < c.RetryMin:
		return bad("RetryMax", "must be at least RetryMin (%s), got %s", c.RetryMin, c.RetryMax)
	case c.WriteTimeout < 0:
		return bad("WriteTimeout", "must be a positive duration, got %s", c.WriteTimeout)
	}
	return nil
}

// ConfigError names a Config field out of its bounds.
type ConfigError struct {
	Field  string // e.g. BatchSize
	Reason string // e.g. "must be between 1 and the capacity (10), got 11"
}

func (e *ConfigError) Error() string { return "auditqueue: " + e.Field + " " + e.Reason }

// Queue buffers usage events and writes them in batches. It is safe for
// concurrent use.
type Queue struct {
	store ports.AuditStore
	cfg   Config
	log   *slog.Logger

	startOnce sync.Once
	runCtx    context.Context // cancelled when Close gives up
	cancelRun context.CancelFunc
	wake      chan struct{} // capacity 1: the writer should look at the queue again
	done      chan struct{} // closed when the writer has returned

	mu       sync.Mutex
	ring     []item // queued events not yet taken by the writer: ring[head], ... (n of them)
	head, n  int
	accepted uint64 // events ever accepted; each takes the next sequence number
	taken    uint64 // events handed to the writer, a prefix of accepted
	written  uint64 // events stored, a prefix of taken
	flushTo  uint64 // the writer does not wait for a batch to fill while taken < flushTo
	closed   bool   // Record refuses; the writer drains and returns
	stopped  bool   // the writer has returned
	changed  chan struct{}
	batches  uint64
	last     int
	dropped  uint64
	dropLog  dropLog
}

type item struct {
	ev audit.Event
	at time.Time // when it was accepted
}

// dropLog limits drop warnings to one a second.
type dropLog struct {
	logged uint64 // dropped count at the last warning
	at     time.Time
}

// New returns a Queue writing to store; call Start to begin writing. A nil
// logger discards log output.
func New(store ports.AuditStore, cfg Config, logger *slog.Logger) (*Queue, error) {
	if store == nil {
		return nil, errors.New("auditqueue: store is nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Queue{
		store: store, cfg: cfg, log: logger,
		runCtx: ctx, cancelRun: cancel,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
		ring: make([]item, cfg.Capacity),
	}, nil
}

// Start launches the writer goroutine. Calls after the first do nothing;
// Flush and Close start the writer if Start was not called.
func (q *Queue) Start() {
	q.startOnce.Do(func() { go q.run() })
}

// Record accepts ev for writing. When the queue is full it waits, in block
// mode, up to BlockTimeout or until ctx ends and then returns an error
// wrapping apikey.ErrUnavailable; in drop mode it drops ev, counts it and
// returns nil. After Close it returns an error wrapping ErrUnavailable.
func (q *Queue) Record(ctx context.Context, ev audit.Event) error {
	q.mu.Lock()
	if err := q.tryPushLocked(ev); !errors.Is(err, errFull) {
		q.mu.Unlock()
		return err
	}
	if q.cfg.OnFull == OnFullDrop {
		q.dropped++
		q.logDropsLocked(time.Now())
		q.mu.Unlock()
		return nil
	}
	timer := time.NewTimer(q.cfg.BlockTimeout)
	defer timer.Stop()
	for {
		ch := q.changedLocked()
		q.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return fmt.Errorf("audit queue full: %w", apikey.ErrUnavailable)
		case <-ctx.Done():
			return fmt.Errorf("audit queue full: %w: %w", apikey.ErrUnavailable, ctx.Err())
		}
		q.mu.Lock()
		if err := q.tryPushLocked(ev); !errors.Is(err, errFull) {
			q.mu.Unlock()
			return err
		}
	}
}

var (
	errFull   = errors.New("full")
	errClosed = fmt.Errorf("audit queue closed: %w", apikey.ErrUnavailable)
)

func (q *Queue) tryPushLocked(ev audit.Event) error {
	if q.closed {
		return errClosed
	}
	if q.accepted-q.written >= uint64(q.cfg.Capacity) {
		return errFull
	}
	q.ring[(q.head+q.n)%len(q.ring)] = item{ev: ev, at: time.Now()}
	q.n++
	q.accepted++
	if q.n == 1 || q.n == q.cfg.BatchSize {
		q.poke()
	}
	return nil
}

// changedLocked returns a channel closed at the next change that may let
// a waiter proceed: a write, Close, or the writer stopping.
func (q *Queue) changedLocked() <-chan struct{} {
	if q.changed == nil {
		q.changed = make(chan struct{})
	}
	return q.changed
}

func (q *Queue) broadcastLocked() {
	if q.changed != nil {
		close(q.changed)
		q.changed = nil
	}
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// logDropsLocked warns about drops not yet reported, at most once a second.
func (q *Queue) logDropsLocked(now time.Time) {
	if q.dropped == q.dropLog.logged || now.Sub(q.dropLog.at) < time.Second {
		return
	}
	n := q.dropped - q.dropLog.logged
	q.dropLog = dropLog{logged: q.dropped, at: now}
	// slog handlers must not call back into the queue, so logging under
	// the lock is safe; it happens at most once a second.
	q.log.Warn("audit queue full: usage events dropped",
		"dropped", n, "dropped_total", q.dropped, "capacity", q.cfg.Capacity)
}

// Flush waits until every event accepted before the call is stored, asking
// the writer not to wait for batches to fill. It returns ctx's error if ctx
// ends first, and an error if the writer stopped (Close gave up) first.
func (q *Queue) Flush(ctx context.Context) error {
	q.Start()
	q.mu.Lock()
	target := q.accepted
	q.flushTo = max(q.flushTo, target)
	q.mu.Unlock()
	q.poke()
	for {
		q.mu.Lock()
		if q.written >= target {
			q.mu.Unlock()
			return nil
		}
		if q.stopped {
			n := target - q.written
			q.mu.Unlock()
			return fmt.Errorf("flush audit queue: writer stopped with %d events not written: %w", n, apikey.ErrUnavailable)
		}
		ch := q.changedLocked()
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("flush audit queue: %w", ctx.Err())
		}
	}
}

// Close stops accepting events and writes everything queued, retrying
// failed writes until ctx ends. If ctx ends first, it abandons the events
// not yet stored and returns an error saying how many. A store that
// ignores its context can delay Close by up to WriteTimeout.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	q.closed = true
	q.broadcastLocked() // blocked Records fail now
	q.mu.Unlock()
	q.Start()
	q.poke()
	select {
	case <-q.done:
	case <-ctx.Done():
		q.cancelRun()
		<-q.done
	}
	q.cancelRun()
	q.mu.Lock()
	lost := q.accepted - q.written
	q.mu.Unlock()
	if lost == 0 {
		return nil
	}
	cause := ctx.Err()
	if cause == nil {
		cause = apikey.ErrUnavailable // an earlier Close gave up
	}
	return fmt.Errorf("close audit queue: %d events not written: %w", lost, cause)
}

// Depth returns how many accepted events are not stored yet, including a
// batch being written; it never exceeds Capacity.
func (q *Queue) Depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.accepted - q.written)
}

// Capacity returns the most events the queue holds.
func (q *Queue) Capacity() int { return q.cfg.Capacity }

// Dropped returns how many events drop mode has discarded.
func (q *Queue) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// Written returns how many events have been stored.
func (q *Queue) Written() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.written
}

// Batches returns how many successful AppendUsage calls have been made.
func (q *Queue) Batches() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.batches
}

// LastBatchSize returns the size of the last stored batch.
func (q *Queue) LastBatchSize() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.last
}

// run is the writer goroutine.
func (q *Queue) run() {
	defer func() {
		q.mu.Lock()
		q.stopped = true
		q.broadcastLocked()
		q.mu.Unlock()
		close(q.done)
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		batch, ok := q.next(timer)
		if !ok || !q.write(batch) {
			return
		}
	}
}

// next waits until a batch is due and takes it: when BatchSize events are
// queued, FlushInterval has passed since the oldest was accepted, a flush
// was asked for, or the queue is closing. It returns false when the queue
// is closed and empty, or when Close gave up.
func (q *Queue) next(timer *time.Timer) ([]audit.Event, bool) {
	q.mu.Lock()
	for {
		var wait time.Duration
		if q.n > 0 {
			wait = q.cfg.FlushInterval - time.Since(q.ring[q.head].at)
			if q.n >= q.cfg.BatchSize || q.closed || q.flushTo > q.taken || wait <= 0 {
				batch := q.takeLocked(min(q.n, q.cfg.BatchSize))
				q.mu.Unlock()
				return batch, true
			}
		} else if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		q.mu.Unlock()
		var tick <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-q.wake:
		case <-tick:
		case <-q.runCtx.Done():
			timer.Stop()
			return nil, false
		}
		timer.Stop()
		q.mu.Lock()
	}
}

func (q *Queue) takeLocked(k int) []audit.Event {
	batch := make([]audit.Event, k)
	for i := range batch {
		j := (q.head + i) % len(q.ring)
		batch[i] = q.ring[j].ev
		q.ring[j] = item{}
	}
	q.head = (q.head + k) % len(q.ring)
	q.n -= k
	q.taken += uint64(k)
	return batch
}

// write stores batch, retrying with exponential backoff until it succeeds
// (true) or Close gives up (false).
func (q *Queue) write(batch []audit.Event) bool {
	backoff := q.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(q.runCtx, q.cfg.WriteTimeout)
		err := q.store.AppendUsage(ctx, batch)
		cancel()
		if err == nil {
			q.mu.Lock()
			q.written += uint64(len(batch))
			q.batches++
			q.last = len(batch)
			q.broadcastLocked()
			q.logDropsLocked(time.Now())
			q.mu.Unlock()
			if attempt > 1 {
				q.log.Info("audit queue: write succeeded after retries", "events", len(batch), "attempts", attempt)
			}
			return true
		}
		if q.runCtx.Err() != nil {
			return false
		}
		// Full jitter in [backoff/2, backoff] keeps instances sharing a
		// database from retrying in lockstep.
		sleep := backoff/2 + rand.N(backoff/2+1) //nolint:gosec // jitter of a retry delay: no secret depends on it
		q.log.Warn("audit queue: write failed; will retry",
			"events", len(batch), "attempt", attempt, "retry_in", sleep, "queued", q.Depth(), "err", err)
		t := time.NewTimer(sleep)
		select {
		case <-t.C:
		case <-q.runCtx.Done():
			t.Stop()
			return false
		}
		backoff = min(2*backoff, q.cfg.RetryMax)
	}
}
