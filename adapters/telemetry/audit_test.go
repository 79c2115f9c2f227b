package telemetry

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

type okAuditStore struct{ ports.AuditStore }

func (okAuditStore) AppendUsage(context.Context, []audit.Event) error { return nil }

// TestFlushLinksToRequestSpans: an audit.flush span links to the request
// span of each event it writes, with the event's id on the link, skipping
// events without a (well-formed) span and repeated spans, and stopping at
// MaxFlushLinks.
func TestFlushLinksToRequestSpans(t *testing.T) {
	tel, rec, _ := newRecorded(t, Config{})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	events := []audit.Event{
		{ID: "evt_nospan", TraceID: traceID},                // tracing off or sampled out
		{ID: "evt_badspan", TraceID: traceID, SpanID: "zz"}, // not hex
		{ID: "evt_badtrace", TraceID: "nope", SpanID: "00f067aa0ba902b7"},
		{ID: "evt_first", TraceID: traceID, SpanID: "00f067aa0ba902b7"},
		{ID: "evt_again", TraceID: traceID, SpanID: "00f067aa0ba902b7"}, // the same span: one link
	}
	for i := range 2 * MaxFlushLinks {
		events = append(events, audit.Event{ID: fmt.Sprintf("evt_%04d", i), TraceID: traceID, SpanID: fmt.Sprintf("%016x", i+1)})
	}
	if err := tel.AuditStore(okAuditStore{}).AppendUsage(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != SpanAuditFlush {
		t.Fatalf("spans %v", spans)
	}
	links := spans[0].Links()
	if len(links) != MaxFlushLinks || spans[0].DroppedLinks() != 0 {
		t.Fatalf("%d links (%d dropped), want %d", len(links), spans[0].DroppedLinks(), MaxFlushLinks)
	}
	first := links[0]
	if first.SpanContext.TraceID().String() != traceID || first.SpanContext.SpanID().String() != "00f067aa0ba902b7" ||
		len(first.Attributes) != 1 || first.Attributes[0].Key != AttrAuditEventID || first.Attributes[0].Value.AsString() != "evt_first" {
		t.Errorf("first link %+v, want the span of evt_first", first)
	}
	if id := links[1].Attributes[0].Value.AsString(); id != "evt_0000" {
		t.Errorf("second link names %s, want evt_0000 (evt_again repeats a linked span)", id)
	}
	if id := links[MaxFlushLinks-1].Attributes[0].Value.AsString(); id != fmt.Sprintf("evt_%04d", MaxFlushLinks-2) {
		t.Errorf("last link names %s", id)
	}
}

func TestTraceIDs(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctxOf := func(flags trace.TraceFlags) context.Context {
		return trace.ContextWithSpanContext(context.Background(),
			trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags}))
	}
	if tr, sp := TraceIDs(ctxOf(trace.FlagsSampled)); tr != tid.String() || sp != sid.String() {
		t.Errorf("sampled: %q %q", tr, sp)
	}
	if tr, sp := TraceIDs(ctxOf(0)); tr != tid.String() || sp != "" {
		t.Errorf("not sampled: %q %q, want the trace id only", tr, sp)
	}
	if tr, sp := TraceIDs(context.Background()); tr != "" || sp != "" {
		t.Errorf("no span: %q %q", tr, sp)
	}
	ctx := ctxOf(trace.FlagsSampled)
	if n := testing.AllocsPerRun(100, func() { _, _ = TraceIDs(ctx) }); n > 1 {
		t.Errorf("%v allocations, want one for both ids", n)
	}
}
