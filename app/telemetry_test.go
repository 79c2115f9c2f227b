package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentauri/apikeys/adapters/argon2id"
	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/adapters/jwtauth"
	"github.com/agentauri/apikeys/adapters/pepper"
	"github.com/agentauri/apikeys/adapters/ratelimit"
	"github.com/agentauri/apikeys/adapters/telemetry"
	"github.com/agentauri/apikeys/adapters/verifycache"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/keys"
	"github.com/agentauri/apikeys/ports"
)

func TestOTelEnvironmentVariables(t *testing.T) {
	load := func(file string, env ...string) (Config, error) {
		t.Helper()
		return Load(writeFile(t, file), env)
	}
	cfg, err := load("{}\n")
	if err != nil {
		t.Fatal(err)
	}
	if tc := cfg.Telemetry; tc.Enabled || tc.Exporter != "none" || tc.ServiceName != "apikeys" || tc.Protocol != "http/protobuf" {
		t.Fatalf("telemetry must be off by default: %+v", tc)
	}

	cfg, err = load("telemetry:\n  endpoint: http://file:4318\n  service_name: from-file\n  resource_attributes: team=identity,region=eu\n",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://env:4317",
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_SERVICE_NAME=from-env",
		"OTEL_RESOURCE_ATTRIBUTES=region=us,deployment.environment.name=prod%20blue",
		"OTEL_TRACES_SAMPLER=parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG=0.25",
	)
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.Telemetry
	if !tc.Enabled || tc.Exporter != "otlp" || tc.Endpoint != "http://env:4317" || tc.Protocol != "grpc" ||
		tc.ServiceName != "from-env" || tc.Sampler != "parentbased_traceidratio" || tc.SamplerArg != 0.25 {
		t.Fatalf("OTEL_* variables not applied over the file: %+v", tc)
	}
	attrs := tc.adapterConfig().ResourceAttributes
	if attrs["team"] != "identity" || attrs["region"] != "us" || attrs["deployment.environment.name"] != "prod blue" {
		t.Errorf("resource attributes %v: the variable's pairs must win over the file's", attrs)
	}

	cfg, err = load("telemetry:\n  enabled: true\n  exporter: otlp\n  prometheus: true\n", "OTEL_SDK_DISABLED=true", "OTEL_EXPORTER_OTLP_ENDPOINT=http://env:4317")
	if err != nil {
		t.Fatal(err)
	}
	if tc := cfg.Telemetry; tc.Enabled || tc.Exporter != "none" || tc.Prometheus {
		t.Errorf("OTEL_SDK_DISABLED=true must turn everything off: %+v", tc)
	}

	cfg, err = load("{}\n", "OTEL_TRACES_EXPORTER=console", "OTEL_RESOURCE_ATTRIBUTES=service.name=from-attrs")
	if err != nil {
		t.Fatal(err)
	}
	if tc := cfg.Telemetry; !tc.Enabled || tc.Exporter != "stdout" || tc.ServiceName != "from-attrs" {
		t.Errorf("console exporter: %+v", tc)
	}
	cfg, err = load("{}\n", "OTEL_LOGS_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=http://logs:4318/v1/logs")
	if tc := cfg.Telemetry; err != nil || !tc.Enabled || !tc.Logs || tc.LogsEndpoint != "http://logs:4318/v1/logs" || !tc.adapterConfig().Logs {
		t.Errorf("OTEL_LOGS_EXPORTER=otlp: %+v %v", tc, err)
	}
	cfg, err = load("telemetry:\n  enabled: true\n  logs: true\n", "OTEL_LOGS_EXPORTER=none")
	if err != nil || cfg.Telemetry.Logs {
		t.Errorf("OTEL_LOGS_EXPORTER=none must turn log export off: %+v %v", cfg.Telemetry, err)
	}
	cfg, err = load("{}\n", "OTEL_EXPORTER_OTLP_ENDPOINT=http://env:4318")
	if err != nil || cfg.Telemetry.Logs {
		t.Errorf("an endpoint alone must not export logs: %+v %v", cfg.Telemetry, err)
	}
	cfg, err = load("telemetry:\n  enabled: true\n  logs: true\n", "OTEL_SDK_DISABLED=true")
	if err != nil || cfg.Telemetry.Logs || cfg.Telemetry.Enabled {
		t.Errorf("OTEL_SDK_DISABLED=true must turn log export off: %+v %v", cfg.Telemetry, err)
	}
	cfg, err = load("telemetry:\n  service_namespace: from-file\n")
	if err != nil || cfg.Telemetry.ServiceNamespace != "from-file" || cfg.Telemetry.adapterConfig().ServiceNamespace != "from-file" {
		t.Errorf("telemetry.service_namespace: %+v %v", cfg.Telemetry, err)
	}
	cfg, err = load("telemetry:\n  service_namespace: from-file\n", "OTEL_RESOURCE_ATTRIBUTES=service.namespace=from-env")
	if err != nil || cfg.Telemetry.ServiceNamespace != "from-env" {
		t.Errorf("OTEL_RESOURCE_ATTRIBUTES service.namespace must win over the file: %+v %v", cfg.Telemetry, err)
	}
	cfg, err = load("{}\n", "APIKEYS_TELEMETRY_SERVICE_NAMESPACE=from-var")
	if err != nil || cfg.Telemetry.ServiceNamespace != "from-var" {
		t.Errorf("APIKEYS_TELEMETRY_SERVICE_NAMESPACE: %+v %v", cfg.Telemetry, err)
	}
	if v := cfg.Telemetry.adapterConfig().ServiceVersion; v != Version {
		t.Errorf("service.version %q, want the build's version %q", v, Version)
	}
	cfg, err = load("{}\n", "APIKEYS_TELEMETRY_ENABLED=true", "APIKEYS_TELEMETRY_PROMETHEUS=true", "APIKEYS_TELEMETRY_SAMPLER_ARG=0.5")
	if err != nil || !cfg.Telemetry.Enabled || !cfg.Telemetry.Prometheus || cfg.Telemetry.SamplerArg != 0.5 {
		t.Errorf("APIKEYS_TELEMETRY_*: %+v %v", cfg.Telemetry, err)
	}

	for _, bad := range []struct {
		file string
		env  []string
		want string
	}{
		{"telemetry:\n  exporter: otlp\n", nil, "telemetry.enabled: is false but telemetry.exporter is \"otlp\""},
		{"telemetry:\n  prometheus: true\n", nil, "telemetry.enabled: is false but telemetry.prometheus"},
		{"telemetry:\n  logs: true\n", nil, "telemetry.enabled: is false but telemetry.logs"},
		{"telemetry:\n  enabled: true\n  logs: true\n  logs_endpoint: collector:4318\n", nil, "telemetry.logs_endpoint: must be a URL"},
		{"{}\n", []string{"OTEL_LOGS_EXPORTER=console"}, "OTEL_LOGS_EXPORTER: must be otlp or none"},
		{"telemetry:\n  enabled: true\n  exporter: zipkin\n", nil, "telemetry.exporter: must be none, otlp or stdout"},
		{"telemetry:\n  enabled: true\n  protocol: http/json\n", nil, "telemetry.protocol: http/json is not supported"},
		{"telemetry:\n  enabled: true\n  sampler: traceidratio\n  sampler_arg: 2\n", nil, "telemetry.sampler_arg: must be between 0 and 1"},
		{"telemetry:\n  enabled: true\n  endpoint: collector:4317\n", nil, "telemetry.endpoint: must be a URL"},
		{"telemetry:\n  resource_attributes: novalue\n", nil, "telemetry.resource_attributes: \"novalue\" is not key=value"},
		{"telemetry:\n  service_namespace: \" identity\"\n", nil, "telemetry.service_namespace: must not start or end with a space"},
		{"{}\n", []string{"OTEL_SDK_DISABLED=maybe"}, "OTEL_SDK_DISABLED: must be true or false"},
		{"{}\n", []string{"OTEL_TRACES_SAMPLER_ARG=half"}, "OTEL_TRACES_SAMPLER_ARG: must be a number"},
		{"{}\n", []string{"OTEL_TRACES_EXPORTER=zipkin"}, "OTEL_TRACES_EXPORTER: must be otlp, console or none"},
		{"{}\n", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/json"}, "telemetry.protocol: http/json is not supported"},
	} {
		_, err := load(bad.file, bad.env...)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q %v: got %v, want an error containing %q", bad.file, bad.env, err, bad.want)
		}
	}
}

// lockedBuffer collects the service's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tracedService is a running Serve with in-memory span and metric capture.
type tracedService struct {
	t      *testing.T
	cfg    Config
	base   string
	rec    *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	logs   *lockedBuffer
	stop   func()
}

// createElsewhere creates a key of org as another instance sharing the
// service's SQLite database would, and returns its id and secret.
func (s *tracedService) createElsewhere(org string, scopes ...apikey.Scope) (string, string) {
	t := s.t
	t.Helper()
	st, err := gormstore.Open(context.Background(), storeConfig(s.cfg, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hasher, err := argon2id.New(s.cfg.Security.Argon2.params(), 1)
	if err != nil {
		t.Fatal(err)
	}
	digester, err := pepper.New([]byte(s.cfg.Security.Pepper))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := verifycache.New(10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	limiter, err := ratelimit.New(ratelimit.DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer limiter.Close()
	svc, err := keys.New(keys.Deps{Store: st, Policies: st, Usage: discardUsage{}, Hasher: hasher, Digester: digester, Cache: cache,
		Clock: systemClock{}, Entropy: rand.Reader, KeyLimits: limiter, FailedAuth: limiter, ManagementLimits: limiter})
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(scopes))
	for i, sc := range scopes {
		names[i] = string(sc)
	}
	iss, err := svc.Create(context.Background(), apikey.Principal{Subject: "elsewhere", Organizations: []string{org}},
		ports.CreateInput{Name: "cold", OrganizationID: org, Scopes: names})
	if err != nil {
		t.Fatal(err)
	}
	return iss.Key.ID, iss.Secret
}

// discardUsage accepts usage events and keeps none.
type discardUsage struct{}

func (discardUsage) Record(context.Context, audit.Event) error { return nil }

// startTraced runs Serve with telemetry on, spans and metrics recorded in
// memory, after applying adjust to its configuration.
func startTraced(t *testing.T, adjust ...func(*Config)) *tracedService {
	t.Helper()
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.JWT.Secret = "telemetry-test-jwt-secret-0123456789abcdef"
	cfg.Security.Pepper = "telemetry-test-pepper-0123456789abcdef0123"
	cfg.Audit.ChainKey = "telemetry-test-chain-key-0123456789abcdef"
	cfg.Security.Argon2.MemoryKiB, cfg.Security.Argon2.Iterations = 8192, 1
	cfg.Audit.FlushInterval = 20 * time.Millisecond
	cfg.Telemetry.Enabled = true
	cfg.Telemetry.MetricsOrgLabel = true
	for _, f := range adjust {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := &tracedService{t: t, cfg: cfg, rec: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader(), logs: &lockedBuffer{}}
	telemetryOptions = []telemetry.Option{telemetry.WithSpanProcessor(s.rec), telemetry.WithMetricReader(s.reader)}
	t.Cleanup(func() { telemetryOptions = nil })
	logger := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, logger, ready) }()
	select {
	case addr := <-ready:
		s.base = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (s *tracedService) do(method, path, body string, headers ...string) answer {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

// spansOf returns the spans of the request that got answer a (found by
// the X-Request-ID its server span recorded), keyed by name.
func spansOf(t *testing.T, spans []sdktrace.ReadOnlySpan, a answer) (trace.TraceID, map[string][]sdktrace.ReadOnlySpan) {
	t.Helper()
	id := a.header.Get("X-Request-ID")
	var tid trace.TraceID
	for _, s := range spans {
		if s.SpanKind() != trace.SpanKindServer {
			continue
		}
		for _, kv := range s.Attributes() {
			if kv.Key == "http.response.header.x-request-id" && len(kv.Value.AsStringSlice()) == 1 && kv.Value.AsStringSlice()[0] == id {
				tid = s.SpanContext().TraceID()
			}
		}
	}
	if !tid.IsValid() {
		t.Fatalf("no server span for request %s", id)
	}
	out := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		if s.SpanContext().TraceID() == tid {
			out[s.Name()] = append(out[s.Name()], s)
		}
	}
	return tid, out
}

func attrs(s sdktrace.ReadOnlySpan) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

func one(t *testing.T, m map[string][]sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	if len(m[name]) != 1 {
		names := []string{}
		for n := range m {
			names = append(names, n)
		}
		t.Fatalf("%d %q spans in the trace, want 1 (have %v)", len(m[name]), name, names)
	}
	return m[name][0]
}

func childOf(t *testing.T, child, parent sdktrace.ReadOnlySpan) {
	t.Helper()
	if child.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("%s is not a child of %s", child.Name(), parent.Name())
	}
}

// TestTelemetryScenario runs create, verify (ok and every failure), rotate
// and revoke, by JWT and by API key, through the real service with spans
// and metrics recorded in memory, and checks the spans, the audit-to-trace
// links, the log lines and that no secret appears anywhere.
func TestTelemetryScenario(t *testing.T) {
	s := startTraced(t)
	tokens, err := jwtauth.New(jwtauth.Config{Secret: []byte(s.cfg.JWT.Secret)})
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := tokens.Mint("user_1", []string{"org_1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bearer := []string{"Authorization", "Bearer " + jwt}

	// A manager key, created with the JWT (live: it creates a live key below).
	created := s.do("POST", "/api/v1/api-keys", `{"name":"manager","organization_id":"org_1","scopes":["api-keys:manage","events:read"],"environment":"live"}`, bearer...)
	if created.status != 201 {
		t.Fatalf("create: %d %v", created.status, created.body)
	}
	managerID, manager := created.str("id"), created.str("key")
	// A key created by another instance sharing the database, which this
	// instance's cache has not seen (its own keys are primed at creation).
	// It belongs to org_cold, whose events (the creation has no trace) the
	// audit-to-trace check below does not read.
	coldID, cold := s.createElsewhere("org_cold", apikey.ScopeEventsRead)

	// Verify it with a caller's traceparent: a cache miss, then a hit.
	callerTrace, callerSpan := "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	okMiss := s.do("GET", "/api/v1/auth/verify?scope=events:read", "", "X-API-Key", cold,
		"traceparent", "00-"+callerTrace+"-"+callerSpan+"-01", "baggage", "tenant=acme")
	okHit := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", cold)
	if s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", manager).status != 200 {
		t.Fatal("the manager key does not verify")
	}
	if okMiss.status != 200 || okHit.status != 200 {
		t.Fatalf("verify: %d %d", okMiss.status, okHit.status)
	}

	// A second key, created with the manager key.
	byKey := s.do("POST", "/api/v1/api-keys", `{"name":"worker","organization_id":"org_1","scopes":["events:read"],"environment":"live"}`, "X-API-Key", manager)
	if byKey.status != 201 {
		t.Fatalf("create with key: %d %v", byKey.status, byKey.body)
	}
	workerID, worker := byKey.str("id"), byKey.str("key")

	unknown, err := apikey.Generate(rand.Reader, apikey.EnvTest)
	if err != nil {
		t.Fatal(err)
	}
	broken := manager[:len(manager)-1] + map[bool]string{true: "A", false: "B"}[manager[len(manager)-1] != 'A']
	denied := s.do("GET", "/api/v1/auth/verify?scope=triggers:write", "", "X-API-Key", worker)
	unknownA := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", unknown)
	checksum := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", broken)
	pastedScope := s.do("GET", "/api/v1/auth/verify?scope="+manager, "", "X-API-Key", manager)
	pastedPath := s.do("GET", "/api/v1/api-keys/"+worker, "", bearer...)
	if denied.status != 403 || unknownA.status != 401 || checksum.status != 401 || pastedScope.status != 400 || pastedPath.status != 404 {
		t.Fatalf("failures: %d %d %d %d %d", denied.status, unknownA.status, checksum.status, pastedScope.status, pastedPath.status)
	}

	rotated := s.do("POST", "/api/v1/api-keys/"+workerID+"/rotate", "", bearer...)
	if rotated.status != 200 {
		t.Fatalf("rotate: %d %v", rotated.status, rotated.body)
	}
	workerNew := rotated.str("key")
	oldAfterRotate := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", worker)
	revoked := s.do("DELETE", "/api/v1/api-keys/"+workerID, "", "X-API-Key", manager)
	if revoked.status != 200 && revoked.status != 204 {
		t.Fatalf("revoke: %d %v", revoked.status, revoked.body)
	}
	afterRevoke := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", workerNew)
	if oldAfterRotate.status != 401 || afterRevoke.status != 401 {
		t.Fatalf("after rotate/revoke: %d %d", oldAfterRotate.status, afterRevoke.status)
	}
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	s.stop() // drains requests, flushes the audit queue and the telemetry
	spans := s.rec.Ended()

	// Parent and child: server span -> apikey.verify -> argon2id.verify and
	// the key lookup; the caller's trace is continued.
	tid, m := spansOf(t, spans, okMiss)
	if tid.String() != callerTrace {
		t.Errorf("the caller's traceparent was not honoured: trace %s", tid)
	}
	server := one(t, m, "GET /api/v1/auth/verify")
	if server.Parent().SpanID().String() != callerSpan || !server.Parent().IsRemote() {
		t.Errorf("server span's parent %v, want the caller's remote span %s", server.Parent().SpanID(), callerSpan)
	}
	verify := one(t, m, telemetry.SpanVerify)
	childOf(t, verify, server)
	childOf(t, one(t, m, telemetry.SpanArgon2Verify), verify)
	childOf(t, one(t, m, "SELECT api_keys"), verify)
	a := attrs(verify)
	if a["apikey.outcome"].AsString() != "ok" || a["apikey.cache_hit"].AsBool() || a["apikey.id"].AsString() != coldID ||
		a["organization.id"].AsString() != "org_cold" || a["apikey.environment"].AsString() != "test" ||
		a["apikey.scope.required"].AsString() != "events:read" || !strings.HasPrefix(a["audit.event_id"].AsString(), audit.IDPrefix) {
		t.Errorf("verify (miss) attributes: %v", a)
	}
	if attrs(server)["http.route"].AsString() != "/api/v1/auth/verify" || attrs(server)["http.response.status_code"].AsInt64() != 200 {
		t.Errorf("server span attributes: %v", attrs(server))
	}
	// server.address names the listener (127.0.0.1, and the port it got
	// for :0), never the service name.
	_, port, _ := strings.Cut(strings.TrimPrefix(s.base, "http://"), ":")
	if a := attrs(server); a["server.address"].AsString() != "127.0.0.1" || fmt.Sprint(a["server.port"].AsInt64()) != port {
		t.Errorf("server span server.address %q server.port %d, want 127.0.0.1 %s", a["server.address"].AsString(), a["server.port"].AsInt64(), port)
	}

	_, m = spansOf(t, spans, okHit)
	a = attrs(one(t, m, telemetry.SpanVerify))
	if !a["apikey.cache_hit"].AsBool() || a["apikey.outcome"].AsString() != "ok" || len(m[telemetry.SpanArgon2Verify]) != 0 || len(m["SELECT api_keys"]) != 0 {
		t.Errorf("verify (hit): attributes %v, spans %v", a, m)
	}

	// Management by JWT and by key, with their audit event ids.
	_, m = spansOf(t, spans, created)
	create := one(t, m, telemetry.SpanCreate)
	childOf(t, create, one(t, m, "POST /api/v1/api-keys"))
	childOf(t, one(t, m, telemetry.SpanArgon2Hash), create)
	childOf(t, one(t, m, "INSERT api_keys"), create)
	if a := attrs(create); a["apikey.id"].AsString() != managerID || a["apikey.actor"].AsString() != "user:user_1" || a["audit.event_id"].AsString() == "" {
		t.Errorf("create attributes: %v", a)
	}
	_, m = spansOf(t, spans, byKey)
	childOf(t, one(t, m, telemetry.SpanCreate), one(t, m, "POST /api/v1/api-keys"))
	childOf(t, one(t, m, telemetry.SpanVerify), one(t, m, "POST /api/v1/api-keys"))
	if a := attrs(one(t, m, telemetry.SpanCreate)); a["apikey.actor"].AsString() != "key:"+managerID || a["apikey.id"].AsString() != workerID || a["apikey.environment"].AsString() != "live" {
		t.Errorf("create by key attributes: %v", a)
	}
	_, m = spansOf(t, spans, rotated)
	if a := attrs(one(t, m, telemetry.SpanRotate)); a["apikey.id"].AsString() != workerID || a["audit.event_id"].AsString() == "" {
		t.Errorf("rotate attributes: %v", a)
	}
	_, m = spansOf(t, spans, revoked)
	if a := attrs(one(t, m, telemetry.SpanRevoke)); a["apikey.id"].AsString() != workerID || a["audit.event_id"].AsString() == "" || a["apikey.actor"].AsString() != "key:"+managerID {
		t.Errorf("revoke attributes: %v", a)
	}

	// Failed verifications: the outcome, and the key where one is known.
	for _, c := range []struct {
		name    string
		a       answer
		outcome string
		keyID   string
	}{
		{"scope denied", denied, "scope_denied", workerID},
		{"unknown", unknownA, "unknown", ""},
		{"checksum", checksum, "checksum", ""},
		{"secret as scope", pastedScope, "invalid_request", ""},
		{"rotated-away secret", oldAfterRotate, "rotated", workerID},
		{"revoked", afterRevoke, "revoked", workerID},
	} {
		_, m := spansOf(t, spans, c.a)
		a := attrs(one(t, m, telemetry.SpanVerify))
		if a["apikey.outcome"].AsString() != c.outcome || a["apikey.id"].AsString() != c.keyID {
			t.Errorf("%s: attributes %v, want outcome %s and key %q", c.name, a, c.outcome, c.keyID)
		}
	}
	_, m = spansOf(t, spans, pastedPath)
	if p := attrs(one(t, m, "GET /api/v1/api-keys/:id"))["url.path"].AsString(); p != "/api/v1/api-keys/REDACTED" {
		t.Errorf("url.path of a request with a secret in its path: %q", p)
	}
	flushes, inserts := 0, 0
	for _, sp := range spans {
		if sp.Name() == telemetry.SpanAuditFlush {
			flushes++
			if sp.Parent().IsValid() {
				t.Errorf("audit.flush has a parent")
			}
			for _, child := range spans {
				if child.Parent().SpanID() == sp.SpanContext().SpanID() && child.Name() == "INSERT audit_events" {
					inserts++
				}

			}
		}
	}
	if flushes == 0 {
		t.Error("no audit.flush span")
	}
	// Each verification's usage event leads from the audit.flush span that
	// wrote it to the request's server span (a link carrying the event id,
	// which the request's apikey.verify span names too).
	linked := map[trace.SpanID]string{}
	for _, sp := range spans {
		if sp.Name() != telemetry.SpanAuditFlush {
			continue
		}
		for _, l := range sp.Links() {
			for _, kv := range l.Attributes {
				if kv.Key == telemetry.AttrAuditEventID {
					linked[l.SpanContext.SpanID()] = l.SpanContext.TraceID().String() + "/" + kv.Value.AsString()
				}
			}
		}
	}
	for name, a := range map[string]answer{"ok (miss)": okMiss, "ok (hit)": okHit, "denied": denied, "unknown": unknownA, "revoked": afterRevoke} {
		tid, m := spansOf(t, spans, a)
		var server sdktrace.ReadOnlySpan
		for _, sp := range m {
			if sp[0].SpanKind() == trace.SpanKindServer {
				server = sp[0]
			}
		}
		event := attrs(one(t, m, telemetry.SpanVerify))["audit.event_id"].AsString()
		if got := linked[server.SpanContext().SpanID()]; got != tid.String()+"/"+event {
			t.Errorf("%s: audit.flush link to the server span %q, want trace/event %s/%s", name, got, tid, event)
		}
	}
	if inserts == 0 {
		t.Error("no audit.flush span has an INSERT audit_events child")
	}

	// From audit to trace and back: every event of a request names its
	// trace, and a span of that trace names the event.
	st, err := gormstore.Open(context.Background(), gormstore.Config{Driver: "sqlite", DSN: filepath.Join(s.cfg.DataDir, "apikeys.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.ListEvents(context.Background(), ports.AuditQuery{OrganizationIDs: []string{"org_1"}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	tagged := map[string]trace.TraceID{}
	for _, sp := range spans {
		if v, ok := attrs(sp)["audit.event_id"]; ok {
			tagged[v.AsString()] = sp.SpanContext().TraceID()
		}
	}
	if len(page.Events) < 9 {
		t.Fatalf("only %d audit events", len(page.Events))
	}
	for _, ev := range page.Events {
		if ev.TraceID == "" {
			t.Errorf("event %s (%s) has no trace id", ev.ID, ev.Action)
			continue
		}
		if tr, ok := tagged[ev.ID]; !ok || tr.String() != ev.TraceID {
			t.Errorf("event %s (%s): trace %s, but the span naming it is in trace %v (found: %v)", ev.ID, ev.Action, ev.TraceID, tr, ok)
		}
	}

	// Log lines carry the trace and span ids of their request.
	found := false
	for _, line := range strings.Split(s.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "request" {
			continue
		}
		if rec["request_id"] == okMiss.header.Get("X-Request-ID") {
			found = true
			if rec["trace_id"] != callerTrace || rec["span_id"] != server.SpanContext().SpanID().String() {
				t.Errorf("access log line %v: want trace %s span %s", rec, callerTrace, server.SpanContext().SpanID())
			}
		}
	}
	if !found {
		t.Error("no access log line for the traced request")
	}

	// No secret, hash, lookup digest, JWT or service secret anywhere in
	// the spans (names, attributes, events, links, status, resource), the
	// metrics or the log.
	forbidden := map[string]string{
		"manager secret": manager, "worker secret": worker, "rotated secret": workerNew,
		"unknown secret": unknown, "broken secret": broken, "JWT": jwt,
		"JWT signature": jwt[strings.LastIndexByte(jwt, '.')+1:],
		"JWT secret":    s.cfg.JWT.Secret, "pepper": s.cfg.Security.Pepper,
	}
	for _, id := range []string{managerID, workerID} {
		k, err := st.GetKey(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		forbidden["hash of "+id] = k.Hash
		forbidden["lookup digest of "+id] = k.Lookup
		forbidden["salt+hash of "+id] = k.Hash[strings.LastIndexByte(k.Hash[:strings.LastIndexByte(k.Hash, '$')], '$')+1:]
	}
	var dump strings.Builder
	for _, sp := range spans {
		fmt.Fprintln(&dump, sp.Name(), sp.Status().Description, sp.Resource().Attributes())
		for _, kv := range sp.Attributes() {
			fmt.Fprintln(&dump, kv.Key, kv.Value.String())
		}
		for _, ev := range sp.Events() {
			fmt.Fprintln(&dump, ev.Name)
			for _, kv := range ev.Attributes {
				fmt.Fprintln(&dump, kv.Key, kv.Value.String())
			}
		}
		for _, l := range sp.Links() {
			for _, kv := range l.Attributes {
				fmt.Fprintln(&dump, kv.Key, kv.Value.String())
			}
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			fmt.Fprintf(&dump, "%s %+v\n", m.Name, m.Data)
		}
	}
	if strings.Contains(dump.String(), "apikey.id") && !strings.Contains(dump.String(), managerID) {
		t.Error("the dump misses the key ids: the search would be blind")
	}
	for what, secret := range forbidden {
		if secret == "" {
			t.Fatalf("%s is empty", what)
		}
		if strings.Contains(dump.String(), secret) {
			t.Errorf("the %s appears in the telemetry", what)
		}
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("the %s appears in the log", what)
		}
	}

	// Metrics: verifications by outcome, never labelled by key id.
	counts := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range sum.DataPoints {
					if _, ok := dp.Attributes.Value("apikey.id"); ok {
						t.Errorf("metric %s is labelled with apikey.id", m.Name)
					}
					if m.Name == telemetry.MetricVerifications {
						o, _ := dp.Attributes.Value("apikey.outcome")
						counts[o.AsString()] += dp.Value
					}
				}
			}
		}
	}
	// Sizes are never negative: the revocation answered 204, without a body.
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[int64]); ok && m.Name == "http.server.response.body.size" {
				for _, dp := range h.DataPoints {
					if lo, _ := dp.Min.Value(); lo < 0 {
						t.Errorf("%s recorded %d for %v", m.Name, lo, dp.Attributes)
					}
				}
			}
		}
	}
	want := map[string]int64{"ok": 5, "scope_denied": 1, "unknown": 1, "rotated": 1, "checksum": 1, "invalid_request": 1, "revoked": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("verifications by outcome %v, want %v (collected after the last request)", counts, want)
	}
}
