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

// MaxFlushLinks bounds the span links of one audit.flush span: the first
// MaxFlushLinks events of a batch that name a sampled span get a link (the
// SDK's default link limit, OTEL_SPAN_LINK_COUNT_LIMIT, is the same).
const MaxFlushLinks = 128

// AuditStore wraps next so that each AppendUsage is an audit.flush span
// (the parent of its database spans, linked to the spans of the requests
// whose events it writes) and feeds the flush metrics.
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

// AppendUsage traces and measures one batch write. The audit.flush span
// links to the span of the request of each event (up to MaxFlushLinks),
// the link carrying the event's id, so that a verification's trace and
// the write that stored its event lead to each other.
func (s *auditStore) AppendUsage(ctx context.Context, events []audit.Event) error {
	start := time.Now()
	ctx, span := s.t.tracer.Start(ctx, SpanAuditFlush, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrAuditBatchSize.Int(len(events))))
	defer span.End()
	if span.IsRecording() {
		linkEvents(span, events)
	}
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

// linkEvents adds to span a link to the request span of each event that
// names one, up to MaxFlushLinks. Events without a sampled span (tracing
// off or sampled out when they were made) or with malformed ids are
// skipped; so is a span already linked.
func linkEvents(span trace.Span, events []audit.Event) {
	type ids struct {
		trace trace.TraceID
		span  trace.SpanID
	}
	linked := make(map[ids]struct{}, min(len(events), MaxFlushLinks))
	for i := range events {
		if len(linked) == MaxFlushLinks {
			return
		}
		ev := &events[i]
		if ev.SpanID == "" {
			continue
		}
		tid, err := trace.TraceIDFromHex(ev.TraceID)
		if err != nil {
			continue
		}
		sid, err := trace.SpanIDFromHex(ev.SpanID)
		if err != nil {
			continue
		}
		if _, dup := linked[ids{tid, sid}]; dup {
			continue
		}
		linked[ids{tid, sid}] = struct{}{}
		span.AddLink(trace.Link{
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
			}),
			Attributes: []attribute.KeyValue{AttrAuditEventID.String(ev.ID)},
		})
	}
}
