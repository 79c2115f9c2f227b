package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	otelapi "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/agentauri/apikeys/adapters/argon2id"
	"github.com/agentauri/apikeys/adapters/auditqueue"
	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/adapters/ratelimit"
	"github.com/agentauri/apikeys/adapters/telemetry"
	"github.com/agentauri/apikeys/adapters/verifycache"
	"github.com/agentauri/apikeys/ports"
)

// TelemetryConfig configures OpenTelemetry. The standard OTEL_* environment
// variables win over it (see applyOTelEnv); with neither, telemetry is off
// and costs nothing.
type TelemetryConfig struct {
	// Enabled turns telemetry on; an OTLP endpoint or OTEL_TRACES_EXPORTER
	// in the environment turns it on too, OTEL_SDK_DISABLED=true off.
	Enabled bool `koanf:"enabled"`
	// Exporter is none (trace ids only, for audit and log correlation),
	// otlp (traces and metrics) or stdout (spans printed, for debugging).
	Exporter string `koanf:"exporter"`
	// Endpoint is the OTLP base URL, like OTEL_EXPORTER_OTLP_ENDPOINT.
	Endpoint string `koanf:"endpoint"`
	// TracesEndpoint and MetricsEndpoint are full per-signal URLs, like
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; they override Endpoint.
	TracesEndpoint  string `koanf:"traces_endpoint"`
	MetricsEndpoint string `koanf:"metrics_endpoint"`
	LogsEndpoint    string `koanf:"logs_endpoint"`
	// Logs also exports log records over OTLP (the otelslog bridge), at
	// log.level; OTEL_LOGS_EXPORTER=otlp turns it on, none off.
	Logs bool `koanf:"logs"`
	// Protocol is grpc or http/protobuf.
	Protocol    string `koanf:"protocol"`
	ServiceName string `koanf:"service_name"`
	// ServiceNamespace is service.namespace (e.g. "identity"), if set.
	ServiceNamespace string `koanf:"service_namespace"`
	// ResourceAttributes uses the OTEL_RESOURCE_ATTRIBUTES format:
	// "deployment.environment.name=prod,team=identity".
	ResourceAttributes string  `koanf:"resource_attributes"`
	Sampler            string  `koanf:"sampler"`
	SamplerArg         float64 `koanf:"sampler_arg"`
	// Prometheus serves GET /metrics on the HTTP listener.
	Prometheus bool `koanf:"prometheus"`
	// MetricsOrgLabel adds organization.id to the verification metrics.
	MetricsOrgLabel bool `koanf:"metrics_org_label"`
}

// defaultTelemetry is the telemetry part of Defaults: off.
func defaultTelemetry() TelemetryConfig {
	return TelemetryConfig{
		Exporter: telemetry.ExporterNone, Protocol: telemetry.ProtocolHTTPProtobuf, ServiceName: telemetry.DefaultServiceName,
		Sampler: telemetry.SamplerParentBasedAlwaysOn, SamplerArg: 1,
	}
}

// applyOTelEnv lays the standard OpenTelemetry environment variables over
// the file's telemetry settings: the variables win. OTEL_SDK_DISABLED=true
// turns everything off; an OTLP endpoint variable or OTEL_TRACES_EXPORTER
// turns telemetry on.
func applyOTelEnv(t *TelemetryConfig, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "OTEL_") {
			env[k] = strings.TrimSpace(v)
		}
	}
	if v, ok := env["OTEL_SDK_DISABLED"]; ok && v != "" {
		off, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("OTEL_SDK_DISABLED: must be true or false, got %q", v)
		}
		if off {
			t.Enabled, t.Exporter, t.Prometheus, t.Logs = false, telemetry.ExporterNone, false, false
			return nil
		}
	}
	set := func(name string, dst *string) bool {
		if v := env[name]; v != "" {
			*dst = v
			return true
		}
		return false
	}
	endpoint := set("OTEL_EXPORTER_OTLP_ENDPOINT", &t.Endpoint)
	endpoint = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &t.TracesEndpoint) || endpoint
	endpoint = set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &t.MetricsEndpoint) || endpoint
	set("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", &t.LogsEndpoint) // logs are exported only when asked: see below
	set("OTEL_EXPORTER_OTLP_PROTOCOL", &t.Protocol)
	set("OTEL_TRACES_SAMPLER", &t.Sampler)
	if v := env["OTEL_TRACES_SAMPLER_ARG"]; v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: must be a number between 0 and 1, got %q", v)
		}
		t.SamplerArg = f
	}
	if v := env["OTEL_RESOURCE_ATTRIBUTES"]; v != "" {
		attrs, err := parseResourceAttributes(v)
		if err != nil {
			return fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
		}
		if name := attrs["service.name"]; name != "" {
			t.ServiceName = name
		}
		if ns := attrs["service.namespace"]; ns != "" {
			t.ServiceNamespace = ns
		}
		if t.ResourceAttributes != "" {
			v = t.ResourceAttributes + "," + v // later pairs win
		}
		t.ResourceAttributes = v
	}
	set("OTEL_SERVICE_NAME", &t.ServiceName)
	return applyExportersEnv(t, env, endpoint)
}

// applyExportersEnv applies OTEL_TRACES_EXPORTER (or, without it, turns
// OTLP on when endpoint, an OTLP endpoint variable, is set) and
// OTEL_LOGS_EXPORTER.
func applyExportersEnv(t *TelemetryConfig, env map[string]string, endpoint bool) error {
	switch v := strings.ToLower(env["OTEL_TRACES_EXPORTER"]); v {
	case "":
		if endpoint {
			t.Enabled = true
			if t.Exporter == telemetry.ExporterNone || t.Exporter == "" {
				t.Exporter = telemetry.ExporterOTLP
			}
		}
	case "otlp":
		t.Enabled, t.Exporter = true, telemetry.ExporterOTLP
	case "console":
		t.Enabled, t.Exporter = true, telemetry.ExporterStdout
	case "none":
		t.Exporter = telemetry.ExporterNone
	default:
		return fmt.Errorf("OTEL_TRACES_EXPORTER: must be otlp, console or none, got %q", v)
	}
	// Unlike the specification's default (otlp), log records are exported
	// only when asked: the service already writes them to standard error.
	switch v := strings.ToLower(env["OTEL_LOGS_EXPORTER"]); v {
	case "":
	case "otlp":
		t.Enabled, t.Logs = true, true
	case "none":
		t.Logs = false
	default:
		return fmt.Errorf("OTEL_LOGS_EXPORTER: must be otlp or none, got %q", v)
	}
	return nil
}

// parseResourceAttributes parses "key=value,key=value" with percent-encoded
// values, as OTEL_RESOURCE_ATTRIBUTES is written.
func parseResourceAttributes(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", pair)
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("value of %q is badly percent-encoded", k)
		}
		out[k] = val
	}
	return out, nil
}

// validate checks the telemetry settings, naming each bad one.
func (t TelemetryConfig) validate() []error {
	var errs []error
	if !t.Enabled {
		if t.Exporter != telemetry.ExporterNone && t.Exporter != "" {
			errs = append(errs, fmt.Errorf("telemetry.enabled: is false but telemetry.exporter is %q: set telemetry.enabled: true", t.Exporter))
		}
		if t.Prometheus {
			errs = append(errs, fmt.Errorf("telemetry.enabled: is false but telemetry.prometheus is true: set telemetry.enabled: true"))
		}
		if t.Logs {
			errs = append(errs, fmt.Errorf("telemetry.enabled: is false but telemetry.logs is true: set telemetry.enabled: true"))
		}
	}
	if _, err := parseResourceAttributes(t.ResourceAttributes); err != nil {
		errs = append(errs, fmt.Errorf("telemetry.resource_attributes: %w", err))
	}
	if strings.TrimSpace(t.ServiceName) == "" {
		errs = append(errs, fmt.Errorf("telemetry.service_name: must not be empty"))
	}
	if t.ServiceNamespace != strings.TrimSpace(t.ServiceNamespace) {
		errs = append(errs, fmt.Errorf("telemetry.service_namespace: must not start or end with a space, got %q", t.ServiceNamespace))
	}
	c := t.adapterConfig()
	c.Enabled = true // check every field, on or off
	if err := c.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("telemetry.%w", err))
	}
	return errs
}

// adapterConfig converts the settings for the telemetry adapter.
func (t TelemetryConfig) adapterConfig() telemetry.Config {
	attrs, _ := parseResourceAttributes(t.ResourceAttributes) // validated
	return telemetry.Config{
		Enabled: t.Enabled, Exporter: t.Exporter, Endpoint: t.Endpoint, Protocol: t.Protocol,
		TracesEndpoint: t.TracesEndpoint, MetricsEndpoint: t.MetricsEndpoint, LogsEndpoint: t.LogsEndpoint, Logs: t.Logs,
		ServiceName: t.ServiceName, ServiceNamespace: t.ServiceNamespace, ServiceVersion: Version, ResourceAttributes: attrs,
		Sampler: t.Sampler, SamplerArg: t.SamplerArg,
		Prometheus: t.Prometheus, MetricsOrgLabel: t.MetricsOrgLabel,
	}
}

// telemetryOptions lets in-package tests and benchmarks add span
// processors or metric readers to the service's telemetry.
var telemetryOptions []telemetry.Option

// instruments wires the telemetry adapter into Serve. When telemetry is
// off each method hands back what it was given, so nothing is wrapped.
type instruments struct {
	tel *telemetry.Telemetry
	log *slog.Logger
	on  bool

	shutOnce sync.Once
	shutErr  error
}

// startTelemetry sets up the providers and exporters cfg asks for.
func startTelemetry(ctx context.Context, cfg Config, logger *slog.Logger) (*instruments, error) {
	tel, err := telemetry.New(ctx, cfg.Telemetry.adapterConfig(), telemetryOptions...)
	if err != nil {
		return nil, err
	}
	t := &instruments{tel: tel, log: logger, on: tel.Enabled()}
	if !t.on {
		return t, nil
	}
	// Export failures (collector down, ...) are logged, not printed by the
	// SDK's default handler in its own format.
	otelapi.SetErrorHandler(otelapi.ErrorHandlerFunc(func(err error) {
		logger.Warn("telemetry", slog.String("error", err.Error()))
	}))
	c := tel.Config()
	attrs := []any{
		slog.String("exporter", c.Exporter), slog.String("service_name", c.ServiceName),
		slog.String("service_instance_id", c.ServiceInstanceID), slog.String("service_version", c.ServiceVersion),
		slog.String("sampler", c.Sampler), slog.Bool("prometheus", c.Prometheus), slog.Bool("logs", c.Logs),
	}
	if c.Exporter == telemetry.ExporterOTLP || c.Logs {
		attrs = append(attrs, slog.String("protocol", c.Protocol), slog.String("endpoint", endpointForLog(c)))
	}
	logger.Info("telemetry enabled", attrs...)
	return t, nil
}

// endpointForLog names where OTLP goes, without any userinfo or query an
// endpoint URL may carry.
func endpointForLog(c telemetry.Config) string {
	u := c.TracesEndpoint
	if u == "" {
		u = c.Endpoint
	}
	if u == "" {
		return "(OTLP default: localhost)"
	}
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable)"
	}
	return p.Scheme + "://" + p.Host + p.Path
}

// logger returns l with trace_id and span_id on every record that has a
// span in its context and, when telemetry.logs is on, every record it
// writes also exported over OTLP.
func (t *instruments) logger(l *slog.Logger) *slog.Logger {
	if !t.on {
		return l
	}
	h := telemetry.NewLogHandler(l.Handler())
	if bridge := t.tel.LogHandler(l.Handler()); bridge != nil {
		h = slog.NewMultiHandler(h, bridge)
	}
	return slog.New(h)
}

// instrumentStore traces the store's statements and measures its pool.
func (t *instruments) instrumentStore(st *gormstore.Store) error {
	if !t.on {
		return nil
	}
	if err := t.tel.InstrumentGORM(st.DB(), st.Driver()); err != nil {
		return err
	}
	return t.tel.ObserveDBPool(st.Driver(), st.SQLDB().Stats)
}

// observe registers the gauges of the cache and the audit queue.
func (t *instruments) observe(cache *verifycache.Cache, queue *auditqueue.Queue) error {
	if !t.on {
		return nil
	}
	if err := t.tel.ObserveCache(cache); err != nil {
		return err
	}
	return t.tel.ObserveQueue(queue)
}

// hasher returns h with the Argon2id metrics observer and spans.
func (t *instruments) hasher(h *argon2id.Hasher) ports.Hasher {
	if !t.on {
		return h
	}
	if o := t.tel.HashObserver(); o != nil {
		h = h.WithObserver(o)
	}
	return t.tel.Hasher(h)
}

func (t *instruments) keyStore(s ports.KeyStore) ports.KeyStore { return t.tel.KeyStore(s) }

// keyLimiter returns l with the ratelimit.take spans.
func (t *instruments) keyLimiter(l ports.KeyLimiter) ports.KeyLimiter { return t.tel.KeyLimiter(l) }

// limitObserver returns the limiter option that feeds the rate-limit
// metrics, or none when metrics are off.
func (t *instruments) limitObserver() ([]ratelimit.Option, error) {
	if !t.on {
		return nil, nil
	}
	o, err := t.tel.LimitObserver()
	if err != nil || o == nil {
		return nil, err
	}
	return []ratelimit.Option{ratelimit.WithObserver(limitObserver{o})}, nil
}

// limitObserver adapts the telemetry observer to the limiter's.
type limitObserver struct{ o *telemetry.LimitObserver }

func (l limitObserver) Observe(ob ratelimit.Observation) {
	l.o.Observe(ob.Kind, ob.Result, ob.Backend, ob.Duration, ob.RedisErr != nil)
}

func (t *instruments) auditStore(s ports.AuditStore) ports.AuditStore { return t.tel.AuditStore(s) }

func (t *instruments) keyService(k ports.KeyService) ports.KeyService { return t.tel.KeyService(k) }

// middleware is the gin middleware of the HTTP edge (nil when off); the
// server is named by the configured listen address and the port its
// listener got.
func (t *instruments) middleware(configured, listening string) []gin.HandlerFunc {
	return t.tel.Middleware(telemetry.ServerName(configured, listening))
}

// trace gives httpapi the trace id (and sampled span id) of a request for
// its audit events.
func (t *instruments) trace() func(context.Context) (string, string) {
	if !t.on {
		return nil
	}
	return telemetry.TraceIDs
}

// propagate returns what writes a request's trace context into the
// headers of the request the gateway sends upstream, nil when tracing is
// off (a client's traceparent then passes as it came).
func (t *instruments) propagate() func(context.Context, http.Header) {
	if !t.on {
		return nil
	}
	prop := t.tel.Propagator()
	return func(ctx context.Context, h http.Header) { prop.Inject(ctx, propagation.HeaderCarrier(h)) }
}

// routes mounts GET /metrics when Prometheus scraping is on.
func (t *instruments) routes() func(*gin.Engine) {
	h := t.tel.MetricsHandler()
	if h == nil {
		return nil
	}
	return func(r *gin.Engine) { r.GET("/metrics", gin.WrapH(h)) }
}

// shutdown flushes every pending span and metric, once; Serve calls it
// after the audit queue is closed, and again (doing nothing) on return.
func (t *instruments) shutdown(timeout time.Duration) error {
	if !t.on {
		return nil
	}
	t.shutOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		t.shutErr = t.tel.Shutdown(ctx)
	})
	return t.shutErr
}
