package app

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentauri/apikeys/adapters/argon2id"
	"github.com/agentauri/apikeys/adapters/auditqueue"
	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/adapters/verifycache"
)

// DebugVar is the name under which /debug/vars publishes the service's
// counters (see DebugStats).
const DebugVar = "apikeys"

// DebugStats are the counters the debug listener publishes. They count
// since the process started and never carry a secret or an identifier.
type DebugStats struct {
	Argon2Computations  uint64 `json:"argon2id_computations"`
	Argon2InFlight      int    `json:"argon2id_in_flight"`
	Argon2PeakInFlight  int    `json:"argon2id_peak_in_flight"`
	Argon2MaxConcurrent int    `json:"argon2id_max_concurrent"`
	Argon2MemoryKiB     uint32 `json:"argon2id_memory_kib"`
	DBReads             uint64 `json:"db_reads"`
	DBKeyReads          uint64 `json:"db_key_reads"` // reads of api_keys, polls included
	DBWrites            uint64 `json:"db_writes"`
	InvalidationPolls   uint64 `json:"invalidation_polls"` // each is one DB read
	CacheHits           uint64 `json:"cache_hits"`
	CacheMisses         uint64 `json:"cache_misses"`
	CacheEntries        int    `json:"cache_entries"`
	CacheEvictions      uint64 `json:"cache_evictions"`
	AuditWritten        uint64 `json:"audit_written"`
	AuditBatches        uint64 `json:"audit_batches"`
	AuditQueued         int    `json:"audit_queued"`
	AuditDropped        uint64 `json:"audit_dropped"`
}

// debugSources are the components whose counters DebugStats reads.
type debugSources struct {
	hasher *argon2id.Hasher
	store  *gormstore.Store
	cache  *verifycache.Cache
	queue  *auditqueue.Queue
	polls  *atomic.Uint64
}

func (d *debugSources) stats() DebugStats {
	q := d.store.QueryStats()
	return DebugStats{
		Argon2Computations:  d.hasher.Computations(),
		Argon2InFlight:      d.hasher.InFlight(),
		Argon2PeakInFlight:  d.hasher.PeakInFlight(),
		Argon2MaxConcurrent: d.hasher.MaxConcurrent(),
		Argon2MemoryKiB:     d.hasher.Params().Memory,
		DBReads:             q.Reads,
		DBKeyReads:          q.KeyReads,
		DBWrites:            q.Writes,
		InvalidationPolls:   d.polls.Load(),
		CacheHits:           d.cache.Hits(),
		CacheMisses:         d.cache.Misses(),
		CacheEntries:        d.cache.Len(),
		CacheEvictions:      d.cache.Evictions(),
		AuditWritten:        d.queue.Written(),
		AuditBatches:        d.queue.Batches(),
		AuditQueued:         d.queue.Depth(),
		AuditDropped:        d.queue.Dropped(),
	}
}

// expvar's registry is global and refuses a name twice, so the variable is
// published once and reads whichever Serve started last.
var (
	publishDebugVar sync.Once
	debugCurrent    atomic.Pointer[debugSources]
)

func publishDebugStats(src *debugSources) {
	debugCurrent.Store(src)
	publishDebugVar.Do(func() {
		expvar.Publish(DebugVar, expvar.Func(func() any {
			if s := debugCurrent.Load(); s != nil {
				return s.stats()
			}
			return nil
		}))
	})
}

// startDebug serves pprof and expvar on addr until the returned stop
// function is called.
func startDebug(ctx context.Context, addr string, src *debugSources, logger *slog.Logger) (stop func(context.Context), err error) {
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug.addr: %w", err)
	}
	publishDebugStats(src)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	// No write timeout: a CPU profile or trace streams for as long as asked.
	srv := &http.Server{
		Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("debug listener", slog.String("error", err.Error()))
		}
	}()
	bound := ln.Addr().String()
	logger.Info("debug listener: pprof and expvar", slog.String("addr", bound))
	if host, _, _ := net.SplitHostPort(bound); !isLoopback(host) {
		logger.Warn("debug listener is not on a loopback address: profiles reveal internals; keep it private",
			slog.String("addr", bound))
	}
	return func(ctx context.Context) {
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
