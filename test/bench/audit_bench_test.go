package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/auditqueue"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/auditlog"
	"github.com/agentauri/apikeys/ports"
	"github.com/agentauri/apikeys/test/dbtest"
)

// usageKeys is how many keys the usage benchmark spreads its events over,
// so that each batch also moves several last_used_at values.
const usageKeys = 16

// usageEvent returns a typical key.used event of a verification behind a
// reverse proxy, with every string freshly allocated as a request's are.
func usageEvent(i int, keyID, org string) audit.Event {
	return audit.Event{
		ID:             fmt.Sprintf("evt_%020d", i),
		Time:           time.Now().UTC(),
		OrganizationID: strings.Clone(org),
		Actor:          "key:" + keyID,
		Action:         audit.ActionKeyUsed,
		KeyID:          strings.Clone(keyID),
		RequestID:      fmt.Sprintf("req_%032x", i),
		Method:         strings.Clone("GET"),
		Path:           fmt.Sprintf("/v1/triggers/%d/events", i%1000),
		ClientIP:       fmt.Sprintf("203.0.%d.%d", i/256%256, i%256),
		UserAgent:      strings.Clone("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"),
		Status:         200,
		Outcome:        "ok",
		Scope:          string(apikey.ScopeTriggersRead),
	}
}

// BenchmarkAuditUsageEvents measures sustained usage events per second
// through the audit queue, at its default settings (batch 500, flush
// 200ms, capacity 10,000, block when full), into each database: 8
// producers record as fast as the queue accepts, so the rate is what the
// writer stores (hash chain, idempotency check, batched insert and
// last_used_at updates included). Run with a fixed count for a sustained
// figure:
//
//	go test -run '^$' -bench AuditUsageEvents -benchtime 100000x ./test/bench
func BenchmarkAuditUsageEvents(b *testing.B) {
	for _, driver := range dbtest.Drivers() {
		b.Run(driver, func(b *testing.B) {
			dbtest.Require(b, driver)
			store := dbtest.Open(b, driver)
			ctx := context.Background()
			org := "org_bench_audit"
			keyIDs := benchKeys(b, store, org, usageKeys)
			q, err := auditqueue.New(store, auditqueue.DefaultConfig(), nil)
			if err != nil {
				b.Fatal(err)
			}
			q.Start()
			defer q.Close(context.Background())

			const producers = 8
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range producers {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						ev := usageEvent(i, keyIDs[i%usageKeys], org)
						for q.Record(ctx, ev) != nil {
							// Block mode gave up after its timeout: the queue
							// is still full; offer the event again.
						}
					}
				})
			}
			wg.Wait()
			if err := q.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			if batches := q.Batches(); batches > 0 {
				b.ReportMetric(float64(q.Written())/float64(batches), "events/batch")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// benchKeys stores n keys of org and returns their ids.
func benchKeys(b *testing.B, store ports.KeyStore, org string, n int) []string {
	var ids []string
	for i := range n {
		k := apikey.Key{
			ID: fmt.Sprintf("key_bench%04d", i), OrganizationID: org, Name: "bench", Environment: apikey.EnvTest,
			Scopes: apikey.Scopes{apikey.ScopeTriggersRead}, Hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
			Lookup: fmt.Sprintf("%064x", i), CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(), Version: 1,
		}
		ev := audit.Event{ID: fmt.Sprintf("evt_create_%04d", i), Time: k.CreatedAt, OrganizationID: org,
			Actor: "user:bench", Action: audit.ActionKeyCreated, KeyID: k.ID}
		if err := store.CreateKey(context.Background(), k, ev); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, k.ID)
	}
	return ids
}

// processCPU returns the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAuditWriter measures the store's side of the audit writer: the
// events of verifications (key.used, spread over 100 keys, as the service
// makes them, ids in time order) appended straight to the store in
// batches of 2,000, the service's default, with nothing else running. It
// reports this process's CPU time per event: on SQLite that is all of the
// work; on Postgres and MySQL the database server's share is left out.
//
//	go test -run '^$' -bench AuditWriter -benchtime 200000x ./test/bench
func BenchmarkAuditWriter(b *testing.B) {
	const batch = 2000
	for _, driver := range dbtest.Drivers() {
		b.Run(driver, func(b *testing.B) {
			dbtest.Require(b, driver)
			store := dbtest.Open(b, driver)
			ctx := context.Background()
			org := "org_bench_writer"
			keyIDs := benchKeys(b, store, org, 100)
			evs := make([]audit.Event, 0, batch)
			b.ResetTimer()
			cpu, start := processCPU(), time.Now()
			for i := 0; i < b.N; {
				evs = evs[:0]
				for ; len(evs) < batch && i < b.N; i++ {
					now := time.Now().UTC()
					keyID := keyIDs[i%len(keyIDs)]
					evs = append(evs, audit.Event{
						ID: fmt.Sprintf("evt_%08d%012d", now.UnixMilli()%100_000_000, i), Time: now, OrganizationID: org,
						Actor: audit.UsageActor(keyID), Action: audit.ActionKeyUsed, KeyID: keyID,
						RequestID: fmt.Sprintf("req_%032x", i), Method: "GET", Path: "/api/v1/auth/verify",
						ClientIP: "127.0.0.1", UserAgent: "Go-http-client/1.1", Status: 200, Outcome: "ok",
						Scope: string(apikey.ScopeTriggersRead),
					})
				}
				if err := store.AppendUsage(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			elapsed, used := time.Since(start), processCPU()-cpu
			b.StopTimer()
			b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/event")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// wallClock is the real clock.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// stuckStore never finishes a write until released, so that a queue in
// front of it fills up.
type stuckStore struct{ release chan struct{} }

func (s stuckStore) AppendUsage(ctx context.Context, _ []audit.Event) error {
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (stuckStore) ListEvents(context.Context, ports.AuditQuery) (ports.AuditPage, error) {
	return ports.AuditPage{}, nil
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkAuditQueueMemory measures the heap the audit queue holds at
// its cap: a default queue (capacity 10,000) whose store never answers,
// filled with typical usage events. It reports the empty queue's
// preallocated ring, the full queue, and the full queue per event.
//
//	go test -run '^$' -bench AuditQueueMemory -benchtime 3x ./test/bench
func BenchmarkAuditQueueMemory(b *testing.B) {
	cfg := auditqueue.DefaultConfig()
	cfg.OnFull = auditqueue.OnFullDrop // a full queue drops instead of waiting
	var empty, full uint64
	for range b.N {
		store := stuckStore{release: make(chan struct{})}
		base := heapInUse()
		q, err := auditqueue.New(store, cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		q.Start()
		withRing := heapInUse()
		for i := range cfg.Capacity + cfg.BatchSize {
			_ = q.Record(context.Background(), usageEvent(i, "key_memory0123456789", "org_memory"))
		}
		if q.Depth() != cfg.Capacity {
			b.Fatalf("queue depth %d, want its capacity %d", q.Depth(), cfg.Capacity)
		}
		filled := heapInUse()
		empty += withRing - base
		full += filled - base
		runtime.KeepAlive(q)
		close(store.release)
		if err := q.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(empty)/float64(b.N)/(1<<20), "MiB-empty")
	b.ReportMetric(float64(full)/float64(b.N)/(1<<20), "MiB-full")
	b.ReportMetric(float64(full)/float64(b.N)/float64(cfg.Capacity), "B/event")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkAuditVerify measures `apikeys audit verify`: events per second
// read, rehashed and linked by keys.AuditLog.VerifyChains over a log of
// 50,000 events in one chain, on each database.
//
//	go test -run '^$' -bench AuditVerify -benchtime 3x ./test/bench
func BenchmarkAuditVerify(b *testing.B) {
	const events, batch = 50_000, 500
	for _, driver := range dbtest.Drivers() {
		b.Run(driver, func(b *testing.B) {
			dbtest.Require(b, driver)
			store := dbtest.Open(b, driver)
			ctx := context.Background()
			for start := 0; start < events; start += batch {
				evs := make([]audit.Event, batch)
				for i := range evs {
					evs[i] = usageEvent(start+i, "key_verify", "org_verify")
				}
				if err := store.AppendUsage(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			al, err := auditlog.New(auditlog.Deps{Events: store, Chains: store, Keys: store, Clock: wallClock{}, Entropy: rand.Reader, ChainKeys: dbtest.ChainKeys()})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				rep, err := al.VerifyChains(ctx, nil)
				if err != nil || !rep.OK() || rep.Events != events {
					b.Fatalf("verify: %+v, %v", rep, err)
				}
			}
			b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
