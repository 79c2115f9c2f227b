package telemetry

import (
	"net"
	"net/netip"
	"os"
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
// and records the request id. server ("host:port", see ServerName) names
// the listener in server.address and server.port of every span and
// measurement; it is never taken from the request's Host header, which the
// caller chooses (one series per forged Host would follow). It returns nil
// when telemetry is disabled.
func (t *Telemetry) Middleware(server string) []gin.HandlerFunc {
	if !t.Enabled() {
		return nil
	}
	return []gin.HandlerFunc{
		otelgin.Middleware(server,
			otelgin.WithTracerProvider(t.tp),
			otelgin.WithMeterProvider(t.mp),
			otelgin.WithPropagators(t.prop),
			otelgin.WithGinFilter(func(c *gin.Context) bool { return !untracedPaths[c.Request.URL.Path] }),
		),
		edge,
	}
}

// edge runs inside the otelgin middleware. It replaces url.path when a
// segment of it looks like a secret (sk_…: someone put a key where an id
// belongs), records the request id the API answered with (X-Request-ID)
// on the server span, and sends the header of an answer without a body
// (204, a bare status) before otelgin measures it: gin sends it only once
// every middleware has returned, so otelgin would read a body size of -1
// and record http.server.response.body.size = -1.
func edge(c *gin.Context) {
	span := trace.SpanFromContext(c.Request.Context())
	recording := span.IsRecording()
	if p := c.Request.URL.Path; recording && strings.Contains(p, "sk_") {
		span.SetAttributes(semconv.URLPath(redactPath(p)))
	}
	c.Next()
	if !c.Writer.Written() {
		c.Writer.WriteHeaderNow() // what gin would do next; the size becomes 0
	}
	if !recording {
		return
	}
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

// ServerName is how the HTTP server names itself in server.address and
// server.port, as "host:port": the host of configured (the listen address
// setting) when it names a host or a specific address, the machine's host
// name when it is empty or a wildcard (0.0.0.0, ::), for a wildcard names
// no server; and the port of listening (the address the listener got,
// which knows the port chosen for ":0"), else the configured one.
func ServerName(configured, listening string) string {
	host, port, err := net.SplitHostPort(configured)
	if err != nil {
		host, port = configured, ""
	}
	if _, p, err := net.SplitHostPort(listening); err == nil && p != "0" {
		port = p
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil && name != "" {
			host = name
		}
	}
	if port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}
