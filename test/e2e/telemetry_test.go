package e2e

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver decodes the OTLP/HTTP protobuf trace exports it receives and
// answers every other signal with an empty success.
type otlpReceiver struct {
	mu   sync.Mutex
	reqs []*coltracepb.ExportTraceServiceRequest
	logs []*collogspb.ExportLogsServiceRequest
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	w.Header().Set("Content-Type", "application/x-protobuf")
	var out []byte
	switch req.URL.Path {
	case "/v1/traces":
		var m coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, &m)
		r.mu.Unlock()
		out, _ = proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	case "/v1/logs":
		var m collogspb.ExportLogsServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.logs = append(r.logs, &m)
		r.mu.Unlock()
		out, _ = proto.Marshal(&collogspb.ExportLogsServiceResponse{})
	default:
		return // metrics: accepted and ignored
	}
	_, _ = w.Write(out)
}

// logRecords returns "body trace_id" of every exported log record.
func (r *otlpReceiver) logRecords() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, req := range r.logs {
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					out = append(out, lr.Body.GetStringValue()+" "+hex.EncodeToString(lr.TraceId))
				}
			}
		}
	}
	return out
}

// exportedSpan is one received span, flattened.
type exportedSpan struct {
	name, traceID string
	attrs         map[string]string
	resource      map[string]string
	links         []string // trace id "/" audit.event_id of each link
}

func (r *otlpReceiver) spans() []exportedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []exportedSpan
	for _, req := range r.reqs {
		for _, rs := range req.ResourceSpans {
			res := map[string]string{}
			for _, kv := range rs.Resource.Attributes {
				res[kv.Key] = kv.Value.GetStringValue()
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					e := exportedSpan{name: s.Name, traceID: hex.EncodeToString(s.TraceId), attrs: map[string]string{}, resource: res}
					for _, kv := range s.Attributes {
						e.attrs[kv.Key] = kv.Value.GetStringValue()
					}
					for _, l := range s.Links {
						event := ""
						for _, kv := range l.Attributes {
							if kv.Key == "audit.event_id" {
								event = kv.Value.GetStringValue()
							}
						}
						e.links = append(e.links, hex.EncodeToString(l.TraceId)+"/"+event)
					}
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// TestTelemetryFromStandardVariables runs the binary with nothing but the
// standard OTEL_* variables pointing at an in-test OTLP/HTTP receiver, and
// checks that the caller's trace is continued, that the spans, resource
// and log records arrive, that log lines carry the trace id, and that GET
// /metrics serves the verification metrics, with exemplars in OpenMetrics.
func TestTelemetryFromStandardVariables(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	s := start(t, env{driver: "sqlite"},
		"OTEL_EXPORTER_OTLP_ENDPOINT="+collector.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_SERVICE_NAME=apikeys-e2e",
		"OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=e2e",
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"APIKEYS_TELEMETRY_PROMETHEUS=true",
		"APIKEYS_TELEMETRY_SERVICE_NAMESPACE=identity",
		"OTEL_LOGS_EXPORTER=otlp",
		"OTEL_BLRP_SCHEDULE_DELAY=100",
	)
	tok := s.token("user_1", "org_1")
	created := s.do("POST", "/api/v1/api-keys", `{"name":"traced","organization_id":"org_1","scopes":["events:read"]}`, jsonBearer(tok)...)
	want(t, created, http.StatusCreated)
	key := created.json(t)
	secret, id := key["key"].(string), key["id"].(string)

	const callerTrace = "0af7651916cd43dd8448eb211c80319c"
	r := s.do("GET", "/api/v1/auth/verify?scope=events:read", "", "X-API-Key", secret,
		"traceparent", "00-"+callerTrace+"-b7ad6b7169203331-01")
	want(t, r, http.StatusOK)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret+"x"), http.StatusUnauthorized)

	metrics := s.do("GET", "/metrics", "")
	want(t, metrics, http.StatusOK)
	body := string(metrics.body)
	for _, series := range []string{
		`apikeys_verifications_total{apikey_environment="test",apikey_outcome="ok"} 1`,
		`apikeys_verifications_total{apikey_environment="unknown",apikey_outcome="malformed"} 1`,
		`http_server_request_duration_seconds_count{`,
		`apikeys_audit_queue_depth`,
		`db_client_connection_count{`,
		`apikeys_verify_cache_size 1`,
		`service_namespace="identity"`, // target_info: the resource
		`service_version="` + buildVersion + `"`,
		`service_instance_id="`,
		`server_address="127.0.0.1"`, // the listener, not the service name
	} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if strings.Contains(body, id) || strings.Contains(body, secret) {
		t.Error("/metrics names a key id or a secret")
	}
	if strings.Contains(body, "hit_ratio") {
		t.Error("/metrics has a cache hit ratio measured since start: the counters are to be windowed instead")
	}

	// Scraped in OpenMetrics (what Prometheus asks for first), the latency
	// histograms carry exemplars: the caller's trace id is on the buckets
	// of its successful verification.
	om := s.do("GET", "/metrics", "", "Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	want(t, om, http.StatusOK)
	if ct := om.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("OpenMetrics scrape answered %q", ct)
	}
	for _, family := range []string{"apikeys_verification_duration_seconds_bucket{", "http_server_request_duration_seconds_bucket{"} {
		found := false
		for _, line := range strings.Split(string(om.body), "\n") {
			if strings.HasPrefix(line, family) && strings.Contains(line, ` # {`) && strings.Contains(line, `trace_id="`+callerTrace+`"`) {
				found = true
			}
		}
		if !found {
			t.Errorf("no exemplar with the caller's trace id on %s…}", family)
		}
	}

	s.stop() // flushes the spans
	var verify *exportedSpan
	spans := recv.spans()
	for i, sp := range spans {
		if sp.name == "apikey.verify" && sp.traceID == callerTrace {
			verify = &spans[i]
		}
		for k, v := range sp.attrs {
			if strings.Contains(v, secret[8:]) {
				t.Errorf("span %s attribute %s holds the secret", sp.name, k)
			}
		}
	}
	if verify == nil {
		t.Fatalf("no apikey.verify span in the caller's trace among %d spans", len(spans))
	}
	if verify.resource["service.name"] != "apikeys-e2e" || verify.resource["deployment.environment.name"] != "e2e" ||
		verify.resource["service.namespace"] != "identity" || verify.resource["service.version"] != buildVersion ||
		verify.resource["service.instance.id"] == "" {
		t.Errorf("resource %v", verify.resource)
	}
	if verify.attrs["apikey.id"] != id || verify.attrs["apikey.outcome"] != "ok" || verify.attrs["apikey.scope.required"] != "events:read" {
		t.Errorf("apikey.verify attributes %v", verify.attrs)
	}
	// The audit.flush that wrote the verification's event links back to
	// the caller's trace, naming the event.
	linked := false
	for _, sp := range spans {
		if sp.name == "audit.flush" && slices.Contains(sp.links, callerTrace+"/"+verify.attrs["audit.event_id"]) {
			linked = true
		}
	}
	if !linked {
		t.Errorf("no audit.flush span links to the caller's trace and event %s", verify.attrs["audit.event_id"])
	}

	logged := false
	for _, line := range strings.Split(s.logs(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "request" && rec["trace_id"] == callerTrace {
			logged = true
		}
	}
	if !logged {
		t.Error("no access log line carries the caller's trace id")
	}
	// OTEL_LOGS_EXPORTER=otlp: the same lines leave over OTLP, with the
	// trace id as a field of the record.
	exported := recv.logRecords()
	if !slices.Contains(exported, "request "+callerTrace) {
		t.Errorf("no exported log record of the verification's access line among %d: %q", len(exported), exported)
	}
	for _, rec := range exported {
		if strings.Contains(rec, secret[8:]) {
			t.Errorf("exported log record holds the secret: %s", rec)
		}
	}
}
