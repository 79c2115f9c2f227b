package telemetry

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/quota"
	"github.com/agentauri/apikeys/ports"
)

// Rate-limit span, attributes and metrics.
const (
	// SpanRateLimitTake is a take from a key's budget, a child of
	// apikey.verify.
	SpanRateLimitTake = "ratelimit.take"
	// AttrRateLimited says the key's budget refused the request.
	AttrRateLimited = attribute.Key("apikey.rate_limited")

	MetricRateLimitDecisions   = "apikeys.ratelimit.decisions"
	MetricRateLimitDuration    = "apikeys.ratelimit.duration"
	MetricRateLimitRedisErrors = "apikeys.ratelimit.redis.errors"
)

// Attribute keys of the rate-limit metrics.
const (
	attrLimitKind    = attribute.Key("apikeys.ratelimit.kind")    // key, failed_auth, management
	attrLimitResult  = attribute.Key("apikeys.ratelimit.result")  // allowed, refused, failed_open, failed_closed
	attrLimitBackend = attribute.Key("apikeys.ratelimit.backend") // memory, redis
)

// LimitObserver feeds the rate-limit metrics: decisions by kind, result
// and backend, their latency, and Redis errors. The limiter adapter tells
// it about every decision; its attribute sets are built once per
// combination, so a decision costs no allocation.
type LimitObserver struct {
	decisions metric.Int64Counter
	duration  metric.Float64Histogram
	redisErrs metric.Int64Counter
	sets      sync.Map // limitSetKey -> metric.MeasurementOption
}

type limitSetKey struct{ kind, result, backend string }

// LimitObserver returns the observer of the limiter's decisions, or nil
// when no metrics are collected (then install none).
func (t *Telemetry) LimitObserver() (*LimitObserver, error) {
	if !t.metricsOn {
		return nil, nil
	}
	o := &LimitObserver{}
	var e1, e2, e3 error
	o.decisions, e1 = t.meter.Int64Counter(MetricRateLimitDecisions,
		metric.WithDescription("Rate-limit decisions (key budgets, failed authentications per address, management calls), by result and backend."),
		metric.WithUnit("{decision}"))
	o.duration, e2 = t.meter.Float64Histogram(MetricRateLimitDuration,
		metric.WithDescription("Duration of one rate-limit decision, a Redis round trip included."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(latencyBuckets...))
	o.redisErrs, e3 = t.meter.Int64Counter(MetricRateLimitRedisErrors,
		metric.WithDescription("Rate-limit calls to Redis that failed; the decision came from the fallback policy."),
		metric.WithUnit("{error}"))
	for _, err := range []error{e1, e2, e3} {
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}

func (o *LimitObserver) set(kind, result, backend string) metric.MeasurementOption {
	k := limitSetKey{kind, result, backend}
	if s, ok := o.sets.Load(k); ok {
		return s.(metric.MeasurementOption)
	}
	s, _ := o.sets.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(
		attrLimitKind.String(kind), attrLimitResult.String(result), attrLimitBackend.String(backend))))
	return s.(metric.MeasurementOption)
}

// Observe records one decision of the given kind and result, decided by
// backend in d; redisFailed says Redis was asked and failed.
func (o *LimitObserver) Observe(kind, result, backend string, d time.Duration, redisFailed bool) {
	ctx := context.Background()
	set := o.set(kind, result, backend)
	o.decisions.Add(ctx, 1, set)
	o.duration.Record(ctx, durationSeconds(d), set)
	if redisFailed {
		o.redisErrs.Add(ctx, 1, o.set(kind, "", "redis"))
	}
}

// KeyLimiter wraps next so that each take from a key's budget is a
// ratelimit.take span (a child of apikey.verify) saying whether the budget
// refused it. It returns next itself when telemetry is disabled.
func (t *Telemetry) KeyLimiter(next ports.KeyLimiter) ports.KeyLimiter {
	if !t.Enabled() {
		return next
	}
	return &keyLimiter{KeyLimiter: next, t: t}
}

type keyLimiter struct {
	ports.KeyLimiter
	t *Telemetry
}

// TakeKey traces one take.
func (l *keyLimiter) TakeKey(ctx context.Context, keyID string, r apikey.RateLimit) (quota.Decision, error) {
	ctx, span := l.t.tracer.Start(ctx, SpanRateLimitTake, trace.WithSpanKind(trace.SpanKindInternal))
	defer span.End()
	d, err := l.KeyLimiter.TakeKey(ctx, keyID, r)
	if span.IsRecording() {
		span.SetAttributes(AttrRateLimited.Bool(err == nil && !d.Allowed))
	}
	endWithError(span, err)
	return d, err
}
