package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/trace"
)

// NewLogHandler wraps h so that every record logged with a context holding
// a span gets trace_id and span_id attributes, linking log lines to traces
// (httpapi logs with the request's context).
func NewLogHandler(h slog.Handler) slog.Handler {
	return &logHandler{next: h}
}

type logHandler struct {
	next slog.Handler
}

// Enabled reports whether the wrapped handler handles level.
func (h *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle adds the trace and span ids of ctx, if any, and passes r on.
func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a wrapped handler with attrs added.
func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{next: h.next.WithAttrs(attrs)}
}

// WithGroup returns a wrapped handler that nests later attributes in name.
func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{next: h.next.WithGroup(name)}
}

// LogHandler returns a handler that exports log records over OTLP (the
// otelslog bridge, with the span context of each record's context), or nil
// unless Config.Logs is set (or a log processor was given). It handles the
// records base handles, at the same levels: pair the two with
// slog.NewMultiHandler so that every line still reaches base.
func (t *Telemetry) LogHandler(base slog.Handler) slog.Handler {
	if !t.Enabled() || t.logs == nil {
		return nil
	}
	return &levelOf{next: otelslog.NewHandler(ScopeName, otelslog.WithLoggerProvider(t.logs)), base: base}
}

// levelOf is next, enabled exactly where base is: the bridge would
// otherwise take debug records the configured log level leaves out.
type levelOf struct {
	next slog.Handler
	base slog.Handler
}

// Enabled reports whether the base handler handles level.
func (h *levelOf) Enabled(ctx context.Context, level slog.Level) bool {
	return h.base.Enabled(ctx, level)
}

// Handle passes r to the bridge.
func (h *levelOf) Handle(ctx context.Context, r slog.Record) error { return h.next.Handle(ctx, r) }

// WithAttrs returns the handler with attrs added to the bridge's records
// (a level does not depend on attributes).
func (h *levelOf) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelOf{next: h.next.WithAttrs(attrs), base: h.base}
}

// WithGroup returns the handler with later attributes nested in name.
func (h *levelOf) WithGroup(name string) slog.Handler {
	return &levelOf{next: h.next.WithGroup(name), base: h.base}
}
