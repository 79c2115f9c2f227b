package telemetry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names. Prometheus sees them with dots as underscores and the unit
// as a suffix: apikeys.verification.duration becomes
// apikeys_verification_duration_seconds, apikeys.verifications becomes
// apikeys_verifications_total.
const (
	MetricVerifications        = "apikeys.verifications"
	MetricVerificationDuration = "apikeys.verification.duration"
	MetricKeyOperations        = "apikeys.key.operations"
	MetricArgon2Duration       = "apikeys.argon2id.duration"
	MetricArgon2PoolWait       = "apikeys.argon2id.pool.wait"
	MetricAuditFlushDuration   = "apikeys.audit.flush.duration"
	MetricAuditFlushBatchSize  = "apikeys.audit.flush.batch_size"
	MetricCacheHits            = "apikeys.verify_cache.hits"
	MetricCacheMisses          = "apikeys.verify_cache.misses"
	MetricCacheEvictions       = "apikeys.verify_cache.evictions"
	MetricCacheSize            = "apikeys.verify_cache.size"
	MetricAuditQueueDepth      = "apikeys.audit.queue.depth"
	MetricAuditQueueCapacity   = "apikeys.audit.queue.capacity"
	MetricAuditLastBatchSize   = "apikeys.audit.queue.last_batch_size"
	MetricAuditEventsWritten   = "apikeys.audit.events.written"
	MetricAuditEventsDropped   = "apikeys.audit.events.dropped"
	MetricAuditBatches         = "apikeys.audit.batches"
	MetricDBConnectionCount    = "db.client.connection.count"
	MetricDBConnectionMax      = "db.client.connection.max"
	MetricDBConnectionWaits    = "apikeys.db.client.connection.waits"
	MetricDBConnectionWaitTime = "apikeys.db.client.connection.wait.duration"
)

// Histogram buckets, in seconds: a cached verification takes microseconds,
// an uncached one an Argon2id computation (tens of milliseconds).
var (
	latencyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	argon2Buckets  = []float64{0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5}
	waitBuckets    = []float64{0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
	batchBuckets   = []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}
)

// instruments are the synchronous instruments the decorators record into.
type instruments struct {
	verifications  metric.Int64Counter
	verifyDuration metric.Float64Histogram
	keyOps         metric.Int64Counter
	argon2Duration metric.Float64Histogram
	argon2Wait     metric.Float64Histogram
	flushDuration  metric.Float64Histogram
	flushBatch     metric.Int64Histogram
}

func newInstruments(m metric.Meter) (*instruments, error) {
	var in instruments
	var errs [7]error
	in.verifications, errs[0] = m.Int64Counter(MetricVerifications,
		metric.WithDescription("API key verifications, by outcome and key environment."),
		metric.WithUnit("{verification}"))
	in.verifyDuration, errs[1] = m.Float64Histogram(MetricVerificationDuration,
		metric.WithDescription("Duration of API key verifications, including the audit hand-off."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(latencyBuckets...))
	in.keyOps, errs[2] = m.Int64Counter(MetricKeyOperations,
		metric.WithDescription("Management operations on keys (create, list, get, rotate, revoke), by result."),
		metric.WithUnit("{operation}"))
	in.argon2Duration, errs[3] = m.Float64Histogram(MetricArgon2Duration,
		metric.WithDescription("Duration of one Argon2id computation, excluding the wait for a pool slot."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(argon2Buckets...))
	in.argon2Wait, errs[4] = m.Float64Histogram(MetricArgon2PoolWait,
		metric.WithDescription("Time an Argon2id computation waited for a slot in the bounded pool."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(waitBuckets...))
	in.flushDuration, errs[5] = m.Float64Histogram(MetricAuditFlushDuration,
		metric.WithDescription("Duration of one write of a batch of usage events to the audit store."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(latencyBuckets...))
	in.flushBatch, errs[6] = m.Int64Histogram(MetricAuditFlushBatchSize,
		metric.WithDescription("Usage events per audit write."),
		metric.WithUnit("{event}"), metric.WithExplicitBucketBoundaries(batchBuckets...))
	return &in, errors.Join(errs[:]...)
}

// HashObserver feeds the Argon2id metrics. It has the method set of
// argon2id.Observer; pass it to argon2id.Hasher.WithObserver.
type HashObserver struct {
	in *instruments
}

var (
	attrsHash   = metric.WithAttributeSet(attribute.NewSet(AttrArgon2Operation.String("hash")))
	attrsVerify = metric.WithAttributeSet(attribute.NewSet(AttrArgon2Operation.String("verify")))
)

// ObserveHash records one Argon2id computation: op is "hash" or "verify",
// wait the time spent waiting for a pool slot and dur the computation.
func (o *HashObserver) ObserveHash(op string, wait, dur time.Duration) {
	set := attrsVerify
	if op == "hash" {
		set = attrsHash
	}
	ctx := context.Background()
	o.in.argon2Duration.Record(ctx, durationSeconds(dur), set)
	o.in.argon2Wait.Record(ctx, durationSeconds(wait), set)
}

// HashObserver returns the observer that feeds the Argon2id histograms, or
// nil when no metrics are collected (then do not install one).
func (t *Telemetry) HashObserver() *HashObserver {
	if !t.metricsOn {
		return nil
	}
	return &HashObserver{in: t.inst}
}

// CacheStats is what the verification cache tells about itself
// (verifycache.Cache has these methods).
type CacheStats interface {
	Hits() uint64
	Misses() uint64
	Evictions() uint64
	Len() int
}

// ObserveCache reports c's size, hits, misses and evictions. There is no
// hit-ratio gauge: a ratio since the process started cannot be windowed
// and hides a recent drop behind hours of history; compute it from the
// counters over a window instead,
// rate(hits[5m]) / (rate(hits[5m]) + rate(misses[5m])).
func (t *Telemetry) ObserveCache(c CacheStats) error {
	if !t.metricsOn {
		return nil
	}
	m := t.meter
	hits, e1 := m.Int64ObservableCounter(MetricCacheHits, metric.WithUnit("{lookup}"),
		metric.WithDescription("Verification cache lookups that found an entry."))
	misses, e2 := m.Int64ObservableCounter(MetricCacheMisses, metric.WithUnit("{lookup}"),
		metric.WithDescription("Verification cache lookups that found none."))
	evictions, e3 := m.Int64ObservableCounter(MetricCacheEvictions, metric.WithUnit("{entry}"),
		metric.WithDescription("Entries that left the verification cache because of its size bound or TTL."))
	size, e4 := m.Int64ObservableGauge(MetricCacheSize, metric.WithUnit("{entry}"),
		metric.WithDescription("Entries in the verification cache (approximate)."))
	if err := errors.Join(e1, e2, e3, e4); err != nil {
		return fmt.Errorf("telemetry: cache instruments: %w", err)
	}
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(hits, int64(c.Hits()))
		o.ObserveInt64(misses, int64(c.Misses()))
		o.ObserveInt64(evictions, int64(c.Evictions()))
		o.ObserveInt64(size, int64(c.Len()))
		return nil
	}, hits, misses, evictions, size)
	return err
}

// QueueStats is what the audit queue tells about itself
// (auditqueue.Queue has these methods).
type QueueStats interface {
	Depth() int
	Capacity() int
	LastBatchSize() int
	Written() uint64
	Dropped() uint64
	Batches() uint64
}

// ObserveQueue reports q's depth, capacity, last batch size and its
// written, dropped and batch counts.
func (t *Telemetry) ObserveQueue(q QueueStats) error {
	if !t.metricsOn {
		return nil
	}
	m := t.meter
	depth, e1 := m.Int64ObservableGauge(MetricAuditQueueDepth, metric.WithUnit("{event}"),
		metric.WithDescription("Usage events accepted but not yet stored."))
	capacity, e2 := m.Int64ObservableGauge(MetricAuditQueueCapacity, metric.WithUnit("{event}"),
		metric.WithDescription("The most usage events the audit queue holds."))
	last, e3 := m.Int64ObservableGauge(MetricAuditLastBatchSize, metric.WithUnit("{event}"),
		metric.WithDescription("Size of the last batch of usage events stored."))
	written, e4 := m.Int64ObservableCounter(MetricAuditEventsWritten, metric.WithUnit("{event}"),
		metric.WithDescription("Usage events stored."))
	dropped, e5 := m.Int64ObservableCounter(MetricAuditEventsDropped, metric.WithUnit("{event}"),
		metric.WithDescription("Usage events discarded because the queue was full (audit.on_full: drop)."))
	batches, e6 := m.Int64ObservableCounter(MetricAuditBatches, metric.WithUnit("{batch}"),
		metric.WithDescription("Successful batch writes of usage events."))
	if err := errors.Join(e1, e2, e3, e4, e5, e6); err != nil {
		return fmt.Errorf("telemetry: queue instruments: %w", err)
	}
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(depth, int64(q.Depth()))
		o.ObserveInt64(capacity, int64(q.Capacity()))
		o.ObserveInt64(last, int64(q.LastBatchSize()))
		o.ObserveInt64(written, int64(q.Written()))
		o.ObserveInt64(dropped, int64(q.Dropped()))
		o.ObserveInt64(batches, int64(q.Batches()))
		return nil
	}, depth, capacity, last, written, dropped, batches)
	return err
}

// ObserveDBPool reports the connection pool of a database/sql pool named
// pool: db.client.connection.count by state (idle, used) and
// db.client.connection.max per the semantic conventions, plus how often and
// how long callers waited for a connection.
func (t *Telemetry) ObserveDBPool(pool string, stats func() sql.DBStats) error {
	if !t.metricsOn {
		return nil
	}
	m := t.meter
	count, e1 := m.Int64ObservableUpDownCounter(MetricDBConnectionCount, metric.WithUnit("{connection}"),
		metric.WithDescription("The number of connections that are currently in state described by the state attribute."))
	maxConns, e2 := m.Int64ObservableUpDownCounter(MetricDBConnectionMax, metric.WithUnit("{connection}"),
		metric.WithDescription("The maximum number of open connections allowed (0: unlimited)."))
	waits, e3 := m.Int64ObservableCounter(MetricDBConnectionWaits, metric.WithUnit("{wait}"),
		metric.WithDescription("Times a caller had to wait for a free database connection."))
	waited, e4 := m.Float64ObservableCounter(MetricDBConnectionWaitTime, metric.WithUnit("s"),
		metric.WithDescription("Total time callers waited for a free database connection."))
	if err := errors.Join(e1, e2, e3, e4); err != nil {
		return fmt.Errorf("telemetry: database pool instruments: %w", err)
	}
	poolAttr := attribute.String("db.client.connection.pool.name", pool)
	idle := metric.WithAttributeSet(attribute.NewSet(poolAttr, attribute.String("db.client.connection.state", "idle")))
	used := metric.WithAttributeSet(attribute.NewSet(poolAttr, attribute.String("db.client.connection.state", "used")))
	onPool := metric.WithAttributeSet(attribute.NewSet(poolAttr))
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := stats()
		o.ObserveInt64(count, int64(s.Idle), idle)
		o.ObserveInt64(count, int64(s.InUse), used)
		o.ObserveInt64(maxConns, int64(s.MaxOpenConnections), onPool)
		o.ObserveInt64(waits, s.WaitCount, onPool)
		o.ObserveFloat64(waited, s.WaitDuration.Seconds(), onPool)
		return nil
	}, count, maxConns, waits, waited)
	return err
}
