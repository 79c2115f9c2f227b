package telemetry

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

// receiver collects what OTLP exporters send it, over HTTP or gRPC.
type receiver struct {
	coltracepb.UnimplementedTraceServiceServer

	mu      sync.Mutex
	traces  []*coltracepb.ExportTraceServiceRequest
	metrics []*colmetricpb.ExportMetricsServiceRequest
	logs    []*collogspb.ExportLogsServiceRequest
	paths   []string
}

func (r *receiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.traces = append(r.traces, req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// metricsService adapts the receiver to the metrics service, whose Export
// method has the same name as the trace service's.
type metricsService struct {
	colmetricpb.UnimplementedMetricsServiceServer
	r *receiver
}

func (m metricsService) Export(_ context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	m.r.mu.Lock()
	defer m.r.mu.Unlock()
	m.r.metrics = append(m.r.metrics, req)
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

// ServeHTTP decodes OTLP/HTTP protobuf payloads.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.paths = append(r.paths, req.URL.Path)
	r.mu.Unlock()
	var resp proto.Message
	switch req.URL.Path {
	case "/otlp/v1/traces":
		var m coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = r.Export(req.Context(), &m)
		resp = &coltracepb.ExportTraceServiceResponse{}
	case "/otlp/v1/metrics":
		var m colmetricpb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = metricsService{r: r}.Export(req.Context(), &m)
		resp = &colmetricpb.ExportMetricsServiceResponse{}
	case "/otlp/v1/logs":
		var m collogspb.ExportLogsServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.logs = append(r.logs, &m)
		r.mu.Unlock()
		resp = &collogspb.ExportLogsServiceResponse{}
	default:
		http.NotFound(w, req)
		return
	}
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// spans returns every received span with its resource's attributes.
func (r *receiver) spans() (map[string]*tracepb.Span, map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	spans := map[string]*tracepb.Span{}
	res := map[string]string{}
	for _, req := range r.traces {
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.Resource.Attributes {
				res[kv.Key] = kv.Value.GetStringValue()
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans[s.Name] = s
				}
			}
		}
	}
	return spans, res
}

func (r *receiver) metricNames() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]bool{}
	for _, req := range r.metrics {
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					out[m.Name] = true
				}
			}
		}
	}
	return out
}

func spanAttr(s *tracepb.Span, key string) *commonpb.AnyValue {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// exportOnce runs one verification through enabled telemetry configured by
// cfg, then shuts telemetry down, which flushes spans and metrics.
func exportOnce(t *testing.T, cfg Config) {
	t.Helper()
	tel, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	secret := secretFor(t, apikey.EnvLive, "x")
	cache := &mapCache{m: map[string]apikey.Verified{secret: {KeyID: "key_exported", OrganizationID: "org_1", Environment: apikey.EnvLive}}}
	svc := tel.KeyService(&fakeKeys{cache: cache})
	if _, err := svc.Verify(context.Background(), ports.VerifyInput{Secret: secret}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func checkExported(t *testing.T, r *receiver) {
	t.Helper()
	spans, res := r.spans()
	if res["service.name"] != "apikeys-under-test" || res["deployment.environment.name"] != "ci" || res["service.version"] != "v9.9.9" ||
		res["service.namespace"] != "identity" || res["service.instance.id"] == "" {
		t.Errorf("resource %v", res)
	}
	s := spans[SpanVerify]
	if s == nil {
		t.Fatalf("no %s span among %v", SpanVerify, spans)
	}
	if v := spanAttr(s, string(AttrKeyID)); v.GetStringValue() != "key_exported" {
		t.Errorf("apikey.id = %v", v)
	}
	if v := spanAttr(s, string(AttrOutcome)); v.GetStringValue() != "ok" {
		t.Errorf("apikey.outcome = %v", v)
	}
	if names := r.metricNames(); !names[MetricVerifications] || !names[MetricVerificationDuration] {
		t.Errorf("metrics received: %v", names)
	}
}

func TestExportOverOTLPHTTP(t *testing.T) {
	r := &receiver{}
	srv := httptest.NewServer(r)
	defer srv.Close()
	exportOnce(t, Config{
		Enabled: true, Exporter: ExporterOTLP, Protocol: ProtocolHTTPProtobuf,
		Endpoint:    srv.URL + "/otlp", // a base URL: the signal paths are appended
		ServiceName: "apikeys-under-test", ServiceVersion: "v9.9.9", ServiceNamespace: "identity",
		ResourceAttributes: map[string]string{"deployment.environment.name": "ci", "service.name": "overridden"},
	})
	checkExported(t, r)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.paths {
		if p != "/otlp/v1/traces" && p != "/otlp/v1/metrics" {
			t.Errorf("exported to %s", p)
		}
	}
}

func TestExportOverOTLPGRPC(t *testing.T) {
	r := &receiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(gs, r)
	colmetricpb.RegisterMetricsServiceServer(gs, metricsService{r: r})
	go func() { _ = gs.Serve(ln) }()
	defer gs.Stop()
	exportOnce(t, Config{
		Enabled: true, Exporter: ExporterOTLP, Protocol: ProtocolGRPC,
		Endpoint:    "http://" + ln.Addr().String(), // http: plaintext
		ServiceName: "apikeys-under-test", ServiceVersion: "v9.9.9", ServiceNamespace: "identity",
		ResourceAttributes: map[string]string{"deployment.environment.name": "ci"},
	})
	checkExported(t, r)
}
