package telemetry

import (
	"strings"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"
)

// untracedPaths are probes and scrapes: tracing them would bury the
// requests that matter under one trace every few seconds.
var untracedPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// Middleware returns the gin middleware of the HTTP edge, to run before
// every other handler: an otelgin server span per request (continuing the
// caller's W3C traceparent and baggage) with the HTTP server metrics of the
// semantic conventions, and a handler that keeps secrets out of the span
// and records the request id. It returns nil when telemetry is disabled.
func (t *Telemetry) Middleware() []gin.HandlerFunc {
	if !t.Enabled() {
		return nil
	}
	return []gin.HandlerFunc{
		otelgin.Middleware(t.cfg.ServiceName,
			otelgin.WithTracerProvider(t.tp),
			otelgin.WithMeterProvider(t.mp),
			otelgin.WithPropagators(t.prop),
			otelgin.WithGinFilter(func(c *gin.Context) bool { return !untracedPaths[c.Request.URL.Path] }),
		),
		redactRequest,
	}
}

// redactRequest replaces url.path when a segment of it looks like a secret
// (sk_…: someone put a key where an id belongs), and records the request
// id the API answered with (X-Request-ID) on the server span.
func redactRequest(c *gin.Context) {
	span := trace.SpanFromContext(c.Request.Context())
	if !span.IsRecording() {
		c.Next()
		return
	}
	if p := c.Request.URL.Path; strings.Contains(p, "sk_") {
		span.SetAttributes(semconv.URLPath(redactPath(p)))
	}
	c.Next()
	if id := c.Writer.Header().Get("X-Request-ID"); id != "" {
		span.SetAttributes(semconv.HTTPResponseHeader("x-request-id", id))
	}
}

// redactPath replaces every path segment containing "sk_" with REDACTED.
func redactPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.Contains(s, "sk_") {
			segs[i] = "REDACTED"
		}
	}
	return strings.Join(segs, "/")
}
