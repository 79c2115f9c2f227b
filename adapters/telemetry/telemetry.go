// Package telemetry is the OpenTelemetry adapter of apikeys: it sets up the SDK
// (tracer, meter and logger providers, OTLP/stdout/Prometheus exporters)
// and offers tracing and metrics decorators around the ports, a gin
// middleware, GORM callbacks, a slog handler that stamps trace and span ids
// on log lines and, optionally, the otelslog bridge that exports them.
//
// The core knows nothing of OpenTelemetry: the composition root wraps the
// ports with the decorators of a *Telemetry when telemetry is enabled, and
// wraps nothing when it is not, so a disabled service pays nothing.
//
// No secret reaches telemetry: the decorators see secrets (Verify's secret,
// the hasher's input, the lookup digest in the cache) but never copy them
// into a span name, attribute, event, status or metric label. Errors are
// reported by class (error.type), never by their text, because driver errors
// can quote the values of a statement.
package telemetry

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of every span and instrument this
// package makes.
const ScopeName = "github.com/agentauri/apikeys"

// Exporters, protocols and samplers accepted in Config.
const (
	ExporterNone   = "none"
	ExporterOTLP   = "otlp"
	ExporterStdout = "stdout"

	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"

	SamplerAlwaysOn                = "always_on"
	SamplerAlwaysOff               = "always_off"
	SamplerTraceIDRatio            = "traceidratio"
	SamplerParentBasedAlwaysOn     = "parentbased_always_on"
	SamplerParentBasedAlwaysOff    = "parentbased_always_off"
	SamplerParentBasedTraceIDRatio = "parentbased_traceidratio"
)

// DefaultServiceName is service.name when none is configured.
const DefaultServiceName = "apikeys"

// Config is the effective telemetry configuration. The composition root
// resolves the standard OTEL_* environment variables into it (they win over
// the configuration file); the SDK itself still honours the variables this
// struct does not cover, such as OTEL_EXPORTER_OTLP_HEADERS,
// OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_EXPORTER_OTLP_CERTIFICATE, OTEL_BSP_* and
// OTEL_METRIC_EXPORT_INTERVAL.
type Config struct {
	// Enabled turns telemetry on. When false, New returns a Telemetry whose
	// providers are no-ops and which starts nothing.
	Enabled bool
	// Exporter receives spans (and, for otlp, metrics): none, otlp or stdout.
	// With none, spans are not recorded but still carry trace ids, so audit
	// events and log lines can be correlated with the caller's trace.
	Exporter string
	// Endpoint is the OTLP base URL (like OTEL_EXPORTER_OTLP_ENDPOINT), e.g.
	// http://collector:4318 for http/protobuf, to which /v1/traces and
	// /v1/metrics are appended, or http://collector:4317 for grpc. Empty:
	// the OTLP default (localhost).
	Endpoint string
	// TracesEndpoint, MetricsEndpoint and LogsEndpoint, if set, are full
	// URLs used as they are (like OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
	// overriding Endpoint.
	TracesEndpoint  string
	MetricsEndpoint string
	LogsEndpoint    string
	// Logs exports log records over OTLP too (to LogsEndpoint, or Endpoint
	// with /v1/logs for http/protobuf), through the otelslog bridge: see
	// LogHandler. Off by default: the service already writes its log to
	// standard error, and a log pipeline usually collects that.
	Logs bool
	// Protocol is the OTLP protocol: grpc or http/protobuf (default).
	Protocol string
	// ServiceName is service.name (default "apikeys").
	ServiceName string
	// ServiceVersion is service.version, if set: the build's version.
	ServiceVersion string
	// ServiceNamespace is service.namespace, if set: a group of services
	// (e.g. "identity"). With the collector's Prometheus exporter it
	// prefixes the job label: namespace/name.
	ServiceNamespace string
	// ServiceInstanceID is service.instance.id. Empty: the
	// service.instance.id of ResourceAttributes if there is one, else a
	// random UUID (version 4) drawn once per process, so that two replicas
	// of one service never share an identity (and a restarted process
	// gets a new one). Set it to a stable name, such as a Kubernetes pod
	// name, through the resource attributes.
	ServiceInstanceID string
	// ResourceAttributes are added to the resource (deployment.environment.name, ...).
	ResourceAttributes map[string]string
	// Sampler is one of the OTEL_TRACES_SAMPLER values supported here
	// (default parentbased_always_on); SamplerArg is the ratio of the
	// traceidratio samplers, in [0, 1].
	Sampler    string
	SamplerArg float64
	// Prometheus serves metrics for scraping; see Telemetry.MetricsHandler.
	Prometheus bool
	// MetricsOrgLabel adds organization.id to the verification metrics.
	// Off by default: it multiplies series by the number of organizations.
	MetricsOrgLabel bool
}

// Validate checks c and names the first bad field ("exporter: must be ...").
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	switch c.Exporter {
	case "", ExporterNone, ExporterOTLP, ExporterStdout:
	default:
		return fmt.Errorf("exporter: must be none, otlp or stdout, got %q", c.Exporter)
	}
	switch c.Protocol {
	case "", ProtocolGRPC, ProtocolHTTPProtobuf:
	case "http/json":
		return errors.New("protocol: http/json is not supported by the Go SDK: use grpc or http/protobuf")
	default:
		return fmt.Errorf("protocol: must be grpc or http/protobuf, got %q", c.Protocol)
	}
	for _, e := range []struct{ name, u string }{
		{"endpoint", c.Endpoint}, {"traces_endpoint", c.TracesEndpoint}, {"metrics_endpoint", c.MetricsEndpoint},
		{"logs_endpoint", c.LogsEndpoint},
	} {
		name, u := e.name, e.u
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%s: must be a URL such as http://collector:4318, got %q", name, u)
		}
	}
	if _, err := c.sampler(); err != nil {
		return err
	}
	for k := range c.ResourceAttributes {
		if strings.TrimSpace(k) == "" {
			return errors.New("resource_attributes: a key is empty")
		}
	}
	return nil
}

func (c Config) sampler() (sdktrace.Sampler, error) {
	ratio := func() (sdktrace.Sampler, error) {
		if c.SamplerArg < 0 || c.SamplerArg > 1 {
			return nil, fmt.Errorf("sampler_arg: must be between 0 and 1 for %s, got %g", c.Sampler, c.SamplerArg)
		}
		return sdktrace.TraceIDRatioBased(c.SamplerArg), nil
	}
	switch c.Sampler {
	case "", SamplerParentBasedAlwaysOn:
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case SamplerAlwaysOn:
		return sdktrace.AlwaysSample(), nil
	case SamplerAlwaysOff:
		return sdktrace.NeverSample(), nil
	case SamplerParentBasedAlwaysOff:
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case SamplerTraceIDRatio:
		return ratio()
	case SamplerParentBasedTraceIDRatio:
		s, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(s), nil
	}
	return nil, fmt.Errorf("sampler: must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio, got %q", c.Sampler)
}

// Option adjusts New, mostly for tests and benchmarks.
type Option func(*options)

type options struct {
	processors    []sdktrace.SpanProcessor
	readers       []sdkmetric.Reader
	logProcessors []sdklog.Processor
	stdout        io.Writer
}

// WithSpanProcessor adds a span processor (e.g. a tracetest.SpanRecorder, or
// a batch processor around a custom exporter) to the tracer provider.
// Spans are recorded when any processor or exporter is configured.
func WithSpanProcessor(p sdktrace.SpanProcessor) Option {
	return func(o *options) { o.processors = append(o.processors, p) }
}

// WithMetricReader adds a metric reader (e.g. sdkmetric.NewManualReader).
func WithMetricReader(r sdkmetric.Reader) Option {
	return func(o *options) { o.readers = append(o.readers, r) }
}

// WithLogProcessor adds a log record processor (e.g. a simple processor
// around an in-memory exporter) to the logger provider; log records are
// bridged when any processor is configured or Config.Logs is set.
func WithLogProcessor(p sdklog.Processor) Option {
	return func(o *options) { o.logProcessors = append(o.logProcessors, p) }
}

// WithStdout sets where the stdout exporter writes (default os.Stdout).
func WithStdout(w io.Writer) Option {
	return func(o *options) { o.stdout = w }
}

// Telemetry holds the providers and instruments. A Telemetry from a disabled
// Config is inert: Enabled reports false, its providers are no-ops and its
// decorators return what they are given.
type Telemetry struct {
	cfg         Config
	tp          trace.TracerProvider
	mp          metric.MeterProvider
	prop        propagation.TextMapPropagator
	tracer      trace.Tracer
	meter       metric.Meter
	inst        *instruments
	attrs       attrSets
	recording   bool // spans are recorded (some processor or exporter)
	metricsOn   bool // some metric reader is configured
	metricsHTTP http.Handler
	logs        *sdklog.LoggerProvider // nil unless log records are exported
	resource    *resource.Resource
	shutdown    []func(context.Context) error
}

// New sets up telemetry for cfg. With cfg.Enabled false it creates nothing
// and starts no goroutine.
func New(ctx context.Context, cfg Config, opts ...Option) (*Telemetry, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	t := &Telemetry{
		cfg:  cfg,
		tp:   tracenoop.NewTracerProvider(),
		mp:   metricnoop.NewMeterProvider(),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	if !cfg.Enabled {
		t.tracer = t.tp.Tracer(ScopeName)
		t.meter = t.mp.Meter(ScopeName)
		return t, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	if t.cfg.ServiceName == "" {
		t.cfg.ServiceName = DefaultServiceName
	}
	if t.cfg.Protocol == "" {
		t.cfg.Protocol = ProtocolHTTPProtobuf
	}
	if t.cfg.Exporter == "" {
		t.cfg.Exporter = ExporterNone
	}
	res, err := t.newResource(ctx)
	if err != nil {
		return nil, err
	}
	t.resource = res
	if err := t.setupTraces(ctx, o); err != nil {
		_ = t.Shutdown(ctx)
		return nil, err
	}
	if err := t.setupMetrics(ctx, o); err != nil {
		_ = t.Shutdown(ctx)
		return nil, err
	}
	if err := t.setupLogs(ctx, o); err != nil {
		_ = t.Shutdown(ctx)
		return nil, err
	}
	t.tracer = t.tp.Tracer(ScopeName)
	t.meter = t.mp.Meter(ScopeName)
	if t.inst, err = newInstruments(t.meter); err != nil {
		_ = t.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: instruments: %w", err)
	}
	return t, nil
}

func (t *Telemetry) newResource(ctx context.Context) (*resource.Resource, error) {
	attrs := make([]attribute.KeyValue, 0, len(t.cfg.ResourceAttributes)+4)
	for k, v := range t.cfg.ResourceAttributes {
		attrs = append(attrs, attribute.String(strings.TrimSpace(k), v))
	}
	if t.cfg.ServiceInstanceID == "" {
		t.cfg.ServiceInstanceID = t.cfg.ResourceAttributes[string(semconv.ServiceInstanceIDKey)]
	}
	if t.cfg.ServiceInstanceID == "" {
		id, err := uuid.NewRandom()
		if err != nil {
			return nil, fmt.Errorf("telemetry: service.instance.id: %w", err)
		}
		t.cfg.ServiceInstanceID = id.String()
	}
	// The configured service name, namespace and version win over resource
	// attributes of the same key, as OTEL_SERVICE_NAME wins over
	// OTEL_RESOURCE_ATTRIBUTES.
	attrs = append(attrs, semconv.ServiceName(t.cfg.ServiceName), semconv.ServiceInstanceID(t.cfg.ServiceInstanceID))
	if t.cfg.ServiceNamespace != "" {
		attrs = append(attrs, semconv.ServiceNamespace(t.cfg.ServiceNamespace))
	}
	if t.cfg.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(t.cfg.ServiceVersion))
	}
	// No process command line: it is not telemetry's business and could
	// carry a credential someone passed as an argument.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(attrs...),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	return res, nil
}

// signalURL returns the OTLP URL of one signal: its own endpoint, else the
// base endpoint with the signal path appended for http/protobuf, else "".
func (t *Telemetry) signalURL(own, path string) string {
	if own != "" {
		return own
	}
	if t.cfg.Endpoint == "" {
		return ""
	}
	if t.cfg.Protocol == ProtocolGRPC {
		return t.cfg.Endpoint
	}
	return strings.TrimRight(t.cfg.Endpoint, "/") + path
}

func (t *Telemetry) setupTraces(ctx context.Context, o options) error {
	sampler, _ := t.cfg.sampler() // validated
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(t.resource)}
	for _, p := range o.processors {
		topts = append(topts, sdktrace.WithSpanProcessor(p))
	}
	switch t.cfg.Exporter {
	case ExporterOTLP:
		exp, err := t.otlpTraceExporter(ctx)
		if err != nil {
			return err
		}
		topts = append(topts, sdktrace.WithBatcher(exp))
	case ExporterStdout:
		w := o.stdout
		if w == nil {
			w = os.Stdout
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return fmt.Errorf("telemetry: stdout exporter: %w", err)
		}
		// Synchronous: for local debugging, each span prints as it ends.
		topts = append(topts, sdktrace.WithSyncer(exp))
	}
	t.recording = t.cfg.Exporter != ExporterNone || len(o.processors) > 0
	if !t.recording {
		// Nothing would receive a recorded span: keep spans non-recording,
		// which still gives every request a trace id (or continues the
		// caller's) for audit events, logs and propagation.
		sampler = sdktrace.NeverSample()
	}
	topts = append(topts, sdktrace.WithSampler(sampler))
	tp := sdktrace.NewTracerProvider(topts...)
	t.tp = tp
	t.shutdown = append(t.shutdown, tp.Shutdown)
	return nil
}

func (t *Telemetry) otlpTraceExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	u := t.signalURL(t.cfg.TracesEndpoint, "/v1/traces")
	var (
		exp sdktrace.SpanExporter
		err error
	)
	if t.cfg.Protocol == ProtocolGRPC {
		var opts []otlptracegrpc.Option
		if u != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(u))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	} else {
		var opts []otlptracehttp.Option
		if u != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(u))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp trace exporter: %w", err)
	}
	return exp, nil
}

func (t *Telemetry) setupMetrics(ctx context.Context, o options) error {
	mopts := []sdkmetric.Option{sdkmetric.WithResource(t.resource)}
	readers := 0
	for _, r := range o.readers {
		mopts = append(mopts, sdkmetric.WithReader(r))
		readers++
	}
	if t.cfg.Exporter == ExporterOTLP {
		exp, err := t.otlpMetricExporter(ctx)
		if err != nil {
			return err
		}
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		readers++
	}
	if t.cfg.Prometheus {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		exp, err := promexporter.New(promexporter.WithRegisterer(reg), promexporter.WithoutScopeInfo())
		if err != nil {
			return fmt.Errorf("telemetry: prometheus exporter: %w", err)
		}
		mopts = append(mopts, sdkmetric.WithReader(exp))
		readers++
		// OpenMetrics when the scraper asks for it (Prometheus does by
		// default): only that format carries exemplars, the trace ids of
		// sampled measurements that let a dashboard jump from a latency
		// spike to its trace.
		t.metricsHTTP = promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	}
	if readers == 0 {
		return nil // the no-op meter provider stays: nothing would read the metrics
	}
	mp := sdkmetric.NewMeterProvider(mopts...)
	t.mp = mp
	t.metricsOn = true
	t.shutdown = append(t.shutdown, mp.Shutdown)
	return nil
}

func (t *Telemetry) otlpMetricExporter(ctx context.Context) (sdkmetric.Exporter, error) {
	u := t.signalURL(t.cfg.MetricsEndpoint, "/v1/metrics")
	var (
		exp sdkmetric.Exporter
		err error
	)
	if t.cfg.Protocol == ProtocolGRPC {
		var opts []otlpmetricgrpc.Option
		if u != "" {
			opts = append(opts, otlpmetricgrpc.WithEndpointURL(u))
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	} else {
		var opts []otlpmetrichttp.Option
		if u != "" {
			opts = append(opts, otlpmetrichttp.WithEndpointURL(u))
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp metric exporter: %w", err)
	}
	return exp, nil
}

func (t *Telemetry) setupLogs(ctx context.Context, o options) error {
	if !t.cfg.Logs && len(o.logProcessors) == 0 {
		return nil
	}
	lopts := []sdklog.LoggerProviderOption{sdklog.WithResource(t.resource)}
	for _, p := range o.logProcessors {
		lopts = append(lopts, sdklog.WithProcessor(p))
	}
	if t.cfg.Logs {
		exp, err := t.otlpLogExporter(ctx)
		if err != nil {
			return err
		}
		lopts = append(lopts, sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	}
	t.logs = sdklog.NewLoggerProvider(lopts...)
	t.shutdown = append(t.shutdown, t.logs.Shutdown)
	return nil
}

func (t *Telemetry) otlpLogExporter(ctx context.Context) (sdklog.Exporter, error) {
	u := t.signalURL(t.cfg.LogsEndpoint, "/v1/logs")
	var (
		exp sdklog.Exporter
		err error
	)
	if t.cfg.Protocol == ProtocolGRPC {
		var opts []otlploggrpc.Option
		if u != "" {
			opts = append(opts, otlploggrpc.WithEndpointURL(u))
		}
		exp, err = otlploggrpc.New(ctx, opts...)
	} else {
		var opts []otlploghttp.Option
		if u != "" {
			opts = append(opts, otlploghttp.WithEndpointURL(u))
		}
		exp, err = otlploghttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp log exporter: %w", err)
	}
	return exp, nil
}

// Enabled reports whether telemetry is on. When it is not, the composition
// root should not wrap anything.
func (t *Telemetry) Enabled() bool { return t.cfg.Enabled }

// Config returns the effective configuration, defaults applied.
func (t *Telemetry) Config() Config { return t.cfg }

// TracerProvider returns the tracer provider (a no-op one when disabled).
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider returns the meter provider (a no-op one when disabled or
// when nothing reads metrics).
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Propagator returns the W3C trace-context and baggage propagator.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.prop }

// ServiceName returns service.name as it will be exported.
func (t *Telemetry) ServiceName() string { return t.cfg.ServiceName }

// MetricsHandler returns the Prometheus scrape handler, or nil unless
// Config.Prometheus is set. It answers in the OpenMetrics format, with
// exemplars, when the request's Accept header asks for
// application/openmetrics-text, and in the Prometheus text format
// otherwise.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metricsHTTP }

// Shutdown flushes every pending span and metric and stops the exporters.
// Call it last, after everything that records telemetry has stopped.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(t.shutdown) - 1; i >= 0; i-- {
		if err := t.shutdown[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	t.shutdown = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry shutdown: %w", err)
	}
	return nil
}

// ForceFlush exports every span ended so far (tests, and before a planned
// exit). It does nothing when telemetry is disabled.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	var errs []error
	if tp, ok := t.tp.(*sdktrace.TracerProvider); ok {
		errs = append(errs, tp.ForceFlush(ctx))
	}
	if mp, ok := t.mp.(*sdkmetric.MeterProvider); ok {
		errs = append(errs, mp.ForceFlush(ctx))
	}
	if t.logs != nil {
		errs = append(errs, t.logs.ForceFlush(ctx))
	}
	return errors.Join(errs...)
}

// TraceIDs returns the hex trace id of ctx's span ("" if it has none) and
// its hex span id when the span is sampled ("" otherwise: a link to a span
// that was never exported would lead nowhere). Both come from one
// allocation: this runs for every audited request.
func TraceIDs(ctx context.Context) (traceID, spanID string) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return "", ""
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	if !sc.IsSampled() || !sc.HasSpanID() {
		var buf [2 * len(tid)]byte
		hex.Encode(buf[:], tid[:])
		return string(buf[:]), ""
	}
	var buf [2 * (len(tid) + len(sid))]byte
	hex.Encode(buf[:], tid[:])
	hex.Encode(buf[2*len(tid):], sid[:])
	both := string(buf[:])
	return both[:2*len(tid)], both[2*len(tid):]
}

// durationSeconds converts d to the float seconds OpenTelemetry durations use.
func durationSeconds(d time.Duration) float64 { return d.Seconds() }
