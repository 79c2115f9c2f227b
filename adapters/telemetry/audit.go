package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// SpanAuditFlush is the span of one batch write of usage events.
const SpanAuditFlush = "audit.flush"

// AuditStore wraps next so that each AppendUsage is an audit.flush span
// (the parent of its database spans) and feeds the flush metrics.
func (t *Telemetry) AuditStore(next ports.AuditStore) ports.AuditStore {
	if !t.Enabled() {
		return next
	}
	return &auditStore{AuditStore: next, t: t}
}

type auditStore struct {
	ports.AuditStore
	t *Telemetry
}

// AppendUsage traces and measures one batch write.
func (s *auditStore) AppendUsage(ctx context.Context, events []audit.Event) error {
	start := time.Now()
	ctx, span := s.t.tracer.Start(ctx, SpanAuditFlush, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrAuditBatchSize.Int(len(events))))
	defer span.End()
	err := s.AuditStore.AppendUsage(ctx, events)
	endWithError(span, err)
	if s.t.metricsOn {
		set := metric.WithAttributeSet(*attribute.EmptySet())
		if err != nil {
			set = metric.WithAttributes(attribute.String("error.type", errorType(err)))
		}
		s.t.inst.flushDuration.Record(ctx, durationSeconds(time.Since(start)), set)
		if err == nil {
			s.t.inst.flushBatch.Record(ctx, int64(len(events)))
		}
	}
	return err
}
