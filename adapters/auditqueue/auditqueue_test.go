package auditqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// fakeStore keeps the events of successful AppendUsage calls only, like a
// transaction that commits or rolls back as a whole.
type fakeStore struct {
	mu       sync.Mutex
	events   []audit.Event
	sizes    []int       // sizes of accepted batches
	attempts []time.Time // every call, failed or not
	fail     func(call int) error
	stuck    chan struct{} // while open, calls block until it closes or ctx ends
}

func (f *fakeStore) AppendUsage(ctx context.Context, events []audit.Event) error {
	f.mu.Lock()
	f.attempts = append(f.attempts, time.Now())
	call := len(f.attempts)
	fail, stuck := f.fail, f.stuck
	f.mu.Unlock()
	if stuck != nil {
		select {
		case <-stuck:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		if err := fail(call); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, events...)
	f.sizes = append(f.sizes, len(events))
	return nil
}

func (f *fakeStore) ListEvents(context.Context, ports.AuditQuery) (ports.AuditPage, error) {
	return ports.AuditPage{}, errors.New("fake store: the queue never lists events")
}

func (f *fakeStore) stored() []audit.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]audit.Event(nil), f.events...)
}

func (f *fakeStore) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.sizes...)
}

func (f *fakeStore) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.attempts)
}

func (f *fakeStore) setStuck() {
	f.mu.Lock()
	f.stuck = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeStore) unstick() {
	f.mu.Lock()
	if f.stuck != nil {
		close(f.stuck)
		f.stuck = nil
	}
	f.mu.Unlock()
}

func event(i int) audit.Event {
	return audit.Event{ID: fmt.Sprintf("evt_%06d", i), Action: audit.ActionKeyUsed, KeyID: "key_1", Outcome: "ok"}
}

func newQueue(t *testing.T, store ports.AuditStore, cfg Config, logger *slog.Logger) *Queue {
	t.Helper()
	q, err := New(store, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		q.Close(ctx)
	})
	return q
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkExactlyOnce asserts events evt_000000 .. evt_(n-1) are stored once each.
func checkExactlyOnce(t *testing.T, got []audit.Event, n int) {
	t.Helper()
	seen := make(map[string]int, n)
	for _, e := range got {
		seen[e.ID]++
	}
	for i := range n {
		id := event(i).ID
		if seen[id] != 1 {
			t.Fatalf("event %s stored %d times", id, seen[id])
		}
	}
	if len(got) != n {
		t.Fatalf("stored %d events, want %d", len(got), n)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConfig(t *testing.T) {
	d := Config{}.withDefaults()
	if d != DefaultConfig() {
		t.Fatalf("zero Config with defaults = %+v, want %+v", d, DefaultConfig())
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	if c := (Config{Capacity: 100}).withDefaults(); c.BatchSize != 100 {
		t.Fatalf("BatchSize default with Capacity 100 = %d, want 100", c.BatchSize)
	}
	if c := (Config{RetryMax: 10 * time.Millisecond}).withDefaults(); c.RetryMin != 10*time.Millisecond {
		t.Fatalf("RetryMin default with RetryMax 10ms = %s", c.RetryMin)
	}
	if c := (Config{RetryMin: 10 * time.Second}).withDefaults(); c.RetryMax != 10*time.Second {
		t.Fatalf("RetryMax default with RetryMin 10s = %s", c.RetryMax)
	}
	bad := []struct {
		cfg   Config
		field string
	}{
		{Config{Capacity: -1}, "Capacity"},
		{Config{BatchSize: -1}, "BatchSize"},
		{Config{Capacity: 10, BatchSize: 11}, "BatchSize"},
		{Config{FlushInterval: -time.Second}, "FlushInterval"},
		{Config{OnFull: "wait"}, "OnFull"},
		{Config{BlockTimeout: -time.Second}, "BlockTimeout"},
		{Config{RetryMin: -time.Second}, "RetryMin"},
		{Config{RetryMin: time.Second, RetryMax: time.Millisecond}, "RetryMax"},
		{Config{WriteTimeout: -time.Second}, "WriteTimeout"},
	}
	for _, b := range bad {
		err := b.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), b.field) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", b.cfg, err, b.field)
		}
		if _, err := New(&fakeStore{}, b.cfg, nil); err == nil {
			t.Errorf("New accepted %+v", b.cfg)
		}
	}
	if _, err := New(nil, Config{}, nil); err == nil {
		t.Error("New accepted a nil store")
	}
}

func TestConcurrentRecordsStoredOnce(t *testing.T) {
	const workers, perWorker = 16, 500
	const n = workers * perWorker
	store := &fakeStore{}
	q := newQueue(t, store, Config{Capacity: 1000, BatchSize: 100, FlushInterval: 5 * time.Millisecond, BlockTimeout: 10 * time.Second}, nil)
	q.Start()
	var maxDepth atomic.Int64
	stop := make(chan struct{})
	var mon sync.WaitGroup
	mon.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if d := int64(q.Depth()); d > maxDepth.Load() {
				maxDepth.Store(d)
			}
			time.Sleep(50 * time.Microsecond)
		}
	})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if err := q.Record(context.Background(), event(w*perWorker+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := q.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	close(stop)
	mon.Wait()
	checkExactlyOnce(t, store.stored(), n)
	if d := maxDepth.Load(); d > int64(q.Capacity()) {
		t.Fatalf("Depth reached %d > Capacity %d", d, q.Capacity())
	}
	if q.Written() != n || q.Depth() != 0 || q.Dropped() != 0 {
		t.Fatalf("Written %d, Depth %d, Dropped %d", q.Written(), q.Depth(), q.Dropped())
	}
	calls := store.calls()
	if calls >= n/10 || uint64(calls) != q.Batches() {
		t.Fatalf("%d AppendUsage calls for %d events (Batches %d); want batching", calls, n, q.Batches())
	}
	for _, s := range store.batchSizes() {
		if s > 100 || s < 1 {
			t.Fatalf("batch of %d events, BatchSize is 100", s)
		}
	}
}

func TestBatchingFullBatchesGoImmediately(t *testing.T) {
	store := &fakeStore{}
	q := newQueue(t, store, Config{Capacity: 100, BatchSize: 10, FlushInterval: time.Hour}, nil)
	q.Start()
	for i := range 25 {
		if err := q.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "two full batches", func() bool { return len(store.stored()) == 20 })
	time.Sleep(30 * time.Millisecond)
	if got := len(store.stored()); got != 20 {
		t.Fatalf("partial batch written before FlushInterval: %d stored", got)
	}
	if q.Depth() != 5 {
		t.Fatalf("Depth() = %d, want 5", q.Depth())
	}
	if err := q.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, store.stored(), 25)
	if got := fmt.Sprint(store.batchSizes()); got != "[10 10 5]" {
		t.Fatalf("batch sizes %s, want [10 10 5]", got)
	}
	if q.LastBatchSize() != 5 || q.Batches() != 3 {
		t.Fatalf("LastBatchSize %d, Batches %d", q.LastBatchSize(), q.Batches())
	}
	// Flush with nothing queued returns at once.
	if err := q.Flush(ctxTimeout(t, time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestFlushInterval(t *testing.T) {
	const interval = 80 * time.Millisecond
	store := &fakeStore{}
	q := newQueue(t, store, Config{BatchSize: 100, FlushInterval: interval}, nil)
	q.Start()
	start := time.Now()
	for i := range 3 {
		if err := q.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the interval flush", func() bool { return len(store.stored()) == 3 })
	if elapsed := time.Since(start); elapsed < interval-5*time.Millisecond {
		t.Fatalf("partial batch written after %s, before FlushInterval %s", elapsed, interval)
	}
	if got := fmt.Sprint(store.batchSizes()); got != "[3]" {
		t.Fatalf("batch sizes %s, want [3]", got)
	}
	// A new batch measures its interval from its own first event.
	time.Sleep(2 * interval)
	start = time.Now()
	if err := q.Record(context.Background(), event(3)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second interval flush", func() bool { return len(store.stored()) == 4 })
	if elapsed := time.Since(start); elapsed < interval-5*time.Millisecond {
		t.Fatalf("second batch written after %s, before FlushInterval %s", elapsed, interval)
	}
}

func TestFailingStoreRecovers(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	var failing atomic.Bool
	failing.Store(true)
	store := &fakeStore{fail: func(int) error {
		if failing.Load() {
			return fmt.Errorf("connection refused: %w", apikey.ErrUnavailable)
		}
		return nil
	}}
	q := newQueue(t, store, Config{Capacity: 1000, BatchSize: 10, FlushInterval: time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: 8 * time.Millisecond}, logger)
	q.Start()
	const n = 95
	for i := range n {
		if err := q.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "several failed attempts", func() bool { return store.calls() >= 8 })
	if len(store.stored()) != 0 || q.Written() != 0 || q.Depth() != n {
		t.Fatalf("while failing: stored %d, Written %d, Depth %d", len(store.stored()), q.Written(), q.Depth())
	}
	// Backoff doubles and is capped at RetryMax.
	store.mu.Lock()
	at := append([]time.Time(nil), store.attempts...)
	store.mu.Unlock()
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap > 8*time.Millisecond+50*time.Millisecond {
			t.Errorf("gap %d between attempts = %s, RetryMax is 8ms", i, gap)
		}
	}
	failing.Store(false)
	if err := q.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, store.stored(), n)
	if q.Written() != n || q.Depth() != 0 {
		t.Fatalf("after recovery: Written %d, Depth %d", q.Written(), q.Depth())
	}
	out := logs.String()
	if !strings.Contains(out, "write failed") || !strings.Contains(out, "succeeded after retries") {
		t.Fatalf("logs do not tell the story:\n%s", out)
	}
}

func TestFailingStoreFailsBatchesInOrder(t *testing.T) {
	// Fails every other call: every batch is eventually stored once, in order.
	store := &fakeStore{fail: func(call int) error {
		if call%2 == 1 {
			return errors.New("deadlock detected")
		}
		return nil
	}}
	q := newQueue(t, store, Config{Capacity: 50, BatchSize: 7, FlushInterval: time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond, BlockTimeout: 10 * time.Second}, nil)
	q.Start()
	const n = 200 // more than Capacity: Record blocks while the store struggles
	for i := range n {
		if err := q.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	got := store.stored()
	checkExactlyOnce(t, got, n)
	for i, e := range got {
		if e.ID != event(i).ID {
			t.Fatalf("event %d stored as %s: order not kept", i, e.ID)
		}
	}
}

func TestBlockModeFull(t *testing.T) {
	store := &fakeStore{}
	store.setStuck()
	q := newQueue(t, store, Config{Capacity: 5, BatchSize: 5, FlushInterval: time.Millisecond, BlockTimeout: 50 * time.Millisecond}, nil)
	q.Start()
	for i := range 5 {
		if err := q.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the writer to take the batch", func() bool { return store.calls() == 1 })

	start := time.Now()
	err := q.Record(context.Background(), event(5))
	if !errors.Is(err, apikey.ErrUnavailable) {
		t.Fatalf("Record on a full queue = %v, want ErrUnavailable", err)
	}
	if elapsed := time.Since(start); elapsed < 45*time.Millisecond {
		t.Fatalf("Record gave up after %s, BlockTimeout is 50ms", elapsed)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = q.Record(ctx, event(5))
	if !errors.Is(err, apikey.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Record with cancelled ctx on a full queue = %v", err)
	}
	if q.Depth() != 5 || q.Dropped() != 0 {
		t.Fatalf("Depth %d, Dropped %d", q.Depth(), q.Dropped())
	}

	// A Record waiting for room gets in once a write frees it.
	q2store := &fakeStore{}
	q2store.setStuck()
	q2 := newQueue(t, q2store, Config{Capacity: 3, BatchSize: 3, FlushInterval: time.Millisecond, BlockTimeout: 10 * time.Second}, nil)
	q2.Start()
	for i := range 3 {
		if err := q2.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	res := make(chan error, 1)
	go func() { res <- q2.Record(context.Background(), event(3)) }()
	select {
	case err := <-res:
		t.Fatalf("Record returned %v while the queue was full", err)
	case <-time.After(30 * time.Millisecond):
	}
	q2store.unstick()
	if err := <-res; err != nil {
		t.Fatalf("blocked Record after room freed = %v", err)
	}
	if err := q2.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, q2store.stored(), 4)

	store.unstick()
	if err := q.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, store.stored(), 5)
}

func TestDropMode(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	store := &fakeStore{}
	store.setStuck()
	q := newQueue(t, store, Config{Capacity: 5, BatchSize: 5, FlushInterval: time.Millisecond, OnFull: OnFullDrop}, logger)
	q.Start()
	for i := range 25 {
		if err := q.Record(context.Background(), event(i)); err != nil {
			t.Fatalf("Record in drop mode = %v", err)
		}
	}
	if q.Dropped() != 20 || q.Depth() != 5 {
		t.Fatalf("Dropped %d, Depth %d; want 20, 5", q.Dropped(), q.Depth())
	}
	if got := strings.Count(logs.String(), "dropped"); got == 0 {
		t.Fatal("drops not logged")
	}
	if got := strings.Count(logs.String(), "level=WARN msg=\"audit queue full"); got != 1 {
		t.Fatalf("%d drop warnings within a second, want 1:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "dropped=1 ") {
		t.Fatalf("first warning should report the first drop:\n%s", logs.String())
	}
	store.unstick()
	if err := q.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, store.stored(), 5)
}

func TestDropWarningRateLimit(t *testing.T) {
	var logs bytes.Buffer
	q := newQueue(t, &fakeStore{}, Config{Capacity: 1, OnFull: OnFullDrop}, slog.New(slog.NewTextHandler(&logs, nil)))
	base := time.Now()
	q.mu.Lock()
	for i, at := range []time.Duration{0, 100 * time.Millisecond, 900 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2100 * time.Millisecond} {
		q.dropped = uint64(i + 1)
		q.logDropsLocked(base.Add(at))
	}
	q.mu.Unlock()
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 3 {
		t.Fatalf("%d warnings, want 3 (at 0s, 1s, 2.1s):\n%s", n, out)
	}
	for _, want := range []string{"dropped=1 dropped_total=1", "dropped=3 dropped_total=4", "dropped=2 dropped_total=6"} {
		if !strings.Contains(out, want) {
			t.Fatalf("logs lack %q:\n%s", want, out)
		}
	}
}

func TestCloseFlushes(t *testing.T) {
	store := &fakeStore{}
	q := newQueue(t, store, Config{BatchSize: 3, FlushInterval: time.Hour}, nil)
	q.Start()
	for i := range 7 {
		if err := q.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, store.stored(), 7)
	err := q.Record(context.Background(), event(99))
	if !errors.Is(err, apikey.ErrUnavailable) {
		t.Fatalf("Record after Close = %v, want ErrUnavailable", err)
	}
	if err := q.Close(ctxTimeout(t, time.Second)); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := q.Flush(ctxTimeout(t, time.Second)); err != nil {
		t.Fatalf("Flush after Close = %v", err)
	}
}

func TestCloseWithoutStart(t *testing.T) {
	store := &fakeStore{}
	q := newQueue(t, store, Config{}, nil)
	for i := range 3 {
		if err := q.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, store.stored(), 3)

	empty := newQueue(t, &fakeStore{}, Config{}, nil)
	if err := empty.Close(ctxTimeout(t, time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestCloseRetriesUntilDeadline(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	store := &fakeStore{fail: func(int) error {
		if failing.Load() {
			return errors.New("database is down")
		}
		return nil
	}}
	q := newQueue(t, store, Config{BatchSize: 2, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond}, nil)
	q.Start()
	for i := range 5 {
		if err := q.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The store recovers while Close is retrying: everything gets written.
	time.AfterFunc(30*time.Millisecond, func() { failing.Store(false) })
	if err := q.Close(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatalf("Close = %v", err)
	}
	checkExactlyOnce(t, store.stored(), 5)
}

func TestCloseDeadlineReportsLoss(t *testing.T) {
	store := &fakeStore{fail: func(int) error { return errors.New("database is down") }}
	q := newQueue(t, store, Config{BatchSize: 2, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond}, nil)
	q.Start()
	for i := range 5 {
		if err := q.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	err := q.Close(ctxTimeout(t, 50*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "5 events not written") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a dead store = %v", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("Close took %s past its deadline", elapsed)
	}
	if store.calls() < 2 {
		t.Fatalf("Close made %d attempts; it should retry until its deadline", store.calls())
	}
	// A later Close reports the same loss; Flush knows the writer is gone.
	if err := q.Close(context.Background()); err == nil || !strings.Contains(err.Error(), "5 events") {
		t.Fatalf("second Close = %v", err)
	}
	if err := q.Flush(ctxTimeout(t, time.Second)); !errors.Is(err, apikey.ErrUnavailable) {
		t.Fatalf("Flush after the writer stopped = %v", err)
	}
	if !errors.Is(q.Record(context.Background(), event(9)), apikey.ErrUnavailable) {
		t.Fatal("Record after Close succeeded")
	}
}

func TestCloseWithStuckStore(t *testing.T) {
	store := &fakeStore{}
	store.setStuck() // AppendUsage blocks until its context ends
	q := newQueue(t, store, Config{Capacity: 4, BatchSize: 2, FlushInterval: time.Millisecond, BlockTimeout: 10 * time.Second}, nil)
	q.Start()
	for i := range 4 {
		if err := q.Record(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	blocked := make(chan error, 1)
	go func() { blocked <- q.Record(context.Background(), event(4)) }()
	time.Sleep(20 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- q.Close(ctxTimeout(t, 100*time.Millisecond)) }()
	// Close turns away the Record waiting for room at once.
	select {
	case err := <-blocked:
		if !errors.Is(err, apikey.ErrUnavailable) {
			t.Fatalf("blocked Record during Close = %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not release a blocked Record")
	}
	if err := <-closed; err == nil || !strings.Contains(err.Error(), "4 events not written") {
		t.Fatalf("Close with a stuck store = %v", err)
	}
}

func TestFlushContext(t *testing.T) {
	store := &fakeStore{}
	store.setStuck()
	q := newQueue(t, store, Config{FlushInterval: time.Hour}, nil)
	q.Start()
	if err := q.Record(context.Background(), event(0)); err != nil {
		t.Fatal(err)
	}
	err := q.Flush(ctxTimeout(t, 30*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with a stuck store = %v", err)
	}
	// Flush asked for the partial batch despite the 1h interval.
	if store.calls() != 1 {
		t.Fatalf("%d AppendUsage calls, want 1", store.calls())
	}
	store.unstick()
	if err := q.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, store.stored(), 1)
}

func TestFlushWithoutStart(t *testing.T) {
	store := &fakeStore{}
	q := newQueue(t, store, Config{}, nil)
	if err := q.Record(context.Background(), event(0)); err != nil {
		t.Fatal(err)
	}
	if err := q.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, store.stored(), 1)
	q.Start() // a late Start does not start a second writer
}

func TestCapacityAccessor(t *testing.T) {
	q := newQueue(t, &fakeStore{}, Config{Capacity: 42, BatchSize: 7}, nil)
	if q.Capacity() != 42 {
		t.Fatalf("Capacity() = %d", q.Capacity())
	}
}

// nopStore discards what it is given.
type nopStore struct{}

func (nopStore) AppendUsage(context.Context, []audit.Event) error { return nil }

func (nopStore) ListEvents(context.Context, ports.AuditQuery) (ports.AuditPage, error) {
	return ports.AuditPage{}, nil
}

func BenchmarkRecord(b *testing.B) {
	q, err := New(nopStore{}, Config{Capacity: 100000, BatchSize: 1000, FlushInterval: 10 * time.Millisecond, BlockTimeout: time.Minute}, nil)
	if err != nil {
		b.Fatal(err)
	}
	q.Start()
	ev := event(0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := q.Record(context.Background(), ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if err := q.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
}
