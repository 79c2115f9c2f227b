package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libtnb/sqlite"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// fakeKeys is a KeyService whose Verify consults a map of known secrets
// (a stand-in for the digest cache) and, for an unknown one, a hasher.
type fakeKeys struct {
	ports.KeyService // unused methods panic
	cache            *mapCache
	hasher           ports.Hasher
}

func (f *fakeKeys) Verify(ctx context.Context, in ports.VerifyInput) (ports.Verification, error) {
	var required apikey.Scopes
	for _, n := range in.Scopes {
		sc, err := apikey.ParseScope(n)
		if err != nil {
			return ports.Verification{}, &apikey.ValidationError{Field: "scope", Code: "invalid_scope", Message: err.Error()}
		}
		required = append(required, sc)
	}
	v := ports.Verification{Scopes: required}
	if _, err := apikey.Parse(in.Secret); err != nil {
		v.Outcome = map[error]apikey.Outcome{apikey.ErrMissingKey: apikey.OutcomeMissing,
			apikey.ErrChecksum: apikey.OutcomeChecksum, apikey.ErrMalformedKey: apikey.OutcomeMalformed}[err]
		return v, nil
	}
	k, ok := f.cache.Get(in.Secret)
	if !ok {
		if f.hasher != nil {
			if _, err := f.hasher.Compare(ctx, in.Secret, "$argon2id$stand-in"); err != nil {
				return ports.Verification{}, err
			}
		}
		v.Outcome = apikey.OutcomeUnknown
		return v, nil
	}
	v.Key, v.CacheHit, v.Outcome, v.Event = k, true, apikey.OutcomeOK, audit.Stamp{ID: "evt_" + k.KeyID}
	if missing := k.Scopes.Missing(required); len(missing) > 0 {
		v.Outcome = apikey.OutcomeScopeDenied
	}
	return v, nil
}

type mapCache struct {
	mu sync.Mutex
	m  map[string]apikey.Verified
}

func (c *mapCache) Get(d string) (apikey.Verified, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[d]
	return v, ok
}
func (c *mapCache) Put(d string, v apikey.Verified) { c.mu.Lock(); c.m[d] = v; c.mu.Unlock() }
func (c *mapCache) InvalidateKeys(...string)        {}

type slowHasher struct{}

func (slowHasher) Hash(context.Context, string) (string, error) { return "$argon2id$stand-in", nil }
func (slowHasher) Compare(ctx context.Context, _, _ string) (bool, error) {
	return false, ctx.Err()
}

// secretFor makes a well-formed secret whose body starts with tag.
func secretFor(t testing.TB, env apikey.Environment, tag string) string {
	t.Helper()
	s, err := apikey.Generate(strings.NewReader(strings.Repeat(tag, 64)), env)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func attrMap(kvs []attribute.KeyValue) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

// otelGoroutines counts goroutines running OpenTelemetry code.
func otelGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "go.opentelemetry.io/") {
			n++
		}
	}
	return n
}

func TestDisabledTelemetryIsInert(t *testing.T) {
	before, total := otelGoroutines(), runtime.NumGoroutine()
	tel, err := New(context.Background(), Config{Enabled: false, Exporter: ExporterOTLP, Prometheus: true, Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := otelGoroutines(); got != before {
		t.Errorf("disabled telemetry started %d OpenTelemetry goroutines", got-before)
	}
	if got := runtime.NumGoroutine(); got > total {
		t.Errorf("disabled telemetry started %d goroutines", got-total)
	}
	keys := &fakeKeys{}
	if tel.KeyService(keys) != ports.KeyService(keys) || tel.Hasher(slowHasher{}) != ports.Hasher(slowHasher{}) {
		t.Error("disabled telemetry wrapped a port")
	}
	if tel.Middleware("127.0.0.1:8080") != nil || tel.MetricsHandler() != nil || tel.HashObserver() != nil {
		t.Error("disabled telemetry offers middleware, a metrics handler or an observer")
	}
	if err := tel.InstrumentGORM(nil, "sqlite"); err != nil {
		t.Error(err)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}

	// The control: enabled telemetry with an OTLP exporter does run
	// exporter goroutines, so the count above can see them.
	on, err := New(context.Background(), Config{Enabled: true, Exporter: ExporterOTLP, Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := otelGoroutines(); got <= before {
		t.Errorf("enabled telemetry shows no OpenTelemetry goroutine (%d before, %d after): the count is blind", before, got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = on.Shutdown(ctx) // nothing listens on port 1
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Enabled: true}, ""},
		{Config{Enabled: true, Exporter: "jaeger"}, "exporter: must be"},
		{Config{Enabled: true, Protocol: "http/json"}, "protocol: http/json is not supported"},
		{Config{Enabled: true, Protocol: "udp"}, "protocol: must be"},
		{Config{Enabled: true, Endpoint: "collector:4317"}, "endpoint: must be a URL"},
		{Config{Enabled: true, TracesEndpoint: "ftp://x"}, "traces_endpoint: must be a URL"},
		{Config{Enabled: true, Logs: true, LogsEndpoint: "collector:4318/v1/logs"}, "logs_endpoint: must be a URL"},
		{Config{Enabled: true, Sampler: "sometimes"}, "sampler: must be one of"},
		{Config{Enabled: true, Sampler: SamplerTraceIDRatio, SamplerArg: 1.5}, "sampler_arg: must be between 0 and 1"},
		{Config{Enabled: true, Sampler: SamplerParentBasedTraceIDRatio, SamplerArg: 0.25}, ""},
		{Config{Enabled: true, ResourceAttributes: map[string]string{" ": "x"}}, "resource_attributes"},
		{Config{Enabled: false, Exporter: "jaeger"}, ""}, // off: nothing is used
	} {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(context.Background(), Config{Enabled: true, Exporter: "zipkin"}); err == nil {
		t.Error("New accepted a bad exporter")
	}
}

// newRecorded returns enabled telemetry recording spans and metrics in memory.
func newRecorded(t *testing.T, cfg Config) (*Telemetry, *tracetest.SpanRecorder, *sdkmetric.ManualReader) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	cfg.Enabled = true
	tel, err := New(context.Background(), cfg, WithSpanProcessor(rec), WithMetricReader(reader))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel, rec, reader
}

func TestVerifySpanAttributesAndCacheHitUnderConcurrency(t *testing.T) {
	tel, rec, _ := newRecorded(t, Config{})
	cache := &mapCache{m: map[string]apikey.Verified{}}
	const n = 40
	secrets := make([]string, n)
	for i := range secrets {
		secrets[i] = secretFor(t, apikey.EnvLive, fmt.Sprintf("%c", 'a'+i%26)+fmt.Sprint(i))
		if i%2 == 0 { // even ones are cached
			cache.Put(secrets[i], apikey.Verified{KeyID: fmt.Sprintf("key_hit%d", i), OrganizationID: "org_1", Environment: apikey.EnvLive, Scopes: apikey.Scopes{"events:read"}})
		}
	}
	svc := tel.KeyService(&fakeKeys{cache: cache})
	var wg sync.WaitGroup
	for i := range secrets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = svc.Verify(context.Background(), ports.VerifyInput{Secret: secrets[i], Scopes: []string{"events:read"}})
		}()
	}
	wg.Wait()
	spans := rec.Ended()
	if len(spans) != n {
		t.Fatalf("%d spans, want %d", len(spans), n)
	}
	hits := 0
	for _, s := range spans {
		if s.Name() != SpanVerify {
			t.Fatalf("span %q, want %q", s.Name(), SpanVerify)
		}
		a := attrMap(s.Attributes())
		hit := a[string(AttrCacheHit)].AsBool()
		id := a[string(AttrKeyID)].AsString()
		if hit != strings.HasPrefix(id, "key_hit") {
			t.Errorf("span with key id %q has cache_hit=%v", id, hit)
		}
		if hit {
			hits++
			if a[string(AttrOutcome)].AsString() != "ok" || a[string(AttrAuditEventID)].AsString() != "evt_"+id ||
				a[string(AttrOrganizationID)].AsString() != "org_1" || a[string(AttrEnvironment)].AsString() != "live" {
				t.Errorf("hit span attributes: %v", a)
			}
		} else if a[string(AttrOutcome)].AsString() != "unknown" || a[string(AttrEnvironment)].AsString() != "live" {
			t.Errorf("miss span attributes: %v", a)
		}
		if a[string(AttrScopeRequired)].AsString() != "events:read" {
			t.Errorf("scope attribute: %v", a)
		}
	}
	if hits != n/2 {
		t.Errorf("%d hits, want %d", hits, n/2)
	}
}

func TestVerifyOutcomesAndMetricLabels(t *testing.T) {
	for _, orgLabel := range []bool{false, true} {
		t.Run(fmt.Sprintf("org_label=%v", orgLabel), func(t *testing.T) {
			tel, rec, reader := newRecorded(t, Config{MetricsOrgLabel: orgLabel})
			good := secretFor(t, apikey.EnvTest, "g")
			cache := &mapCache{m: map[string]apikey.Verified{good: {KeyID: "key_good", OrganizationID: "org_9", Environment: apikey.EnvTest, Scopes: apikey.Scopes{"events:read"}}}}
			svc := tel.KeyService(&fakeKeys{cache: cache})
			bad := good[:len(good)-1] + string("AB"[(strings.IndexByte("AB", good[len(good)-1])+1)&1])
			cases := []struct {
				secret, scope, outcome string
			}{
				{good, "", "ok"},
				{good, "triggers:write", "scope_denied"},
				{secretFor(t, apikey.EnvTest, "u"), "", "unknown"},
				{bad, "", "checksum"},
				{"sk_nonsense", "", "malformed"},
				{"", "", "missing"},
				{good, good, "invalid_request"}, // a secret pasted as the scope
			}
			for _, c := range cases {
				_, _ = svc.Verify(context.Background(), ports.VerifyInput{Secret: c.secret, Scopes: scopeList(c.scope)})
			}
			spans := rec.Ended()
			if len(spans) != len(cases) {
				t.Fatalf("%d spans, want %d", len(spans), len(cases))
			}
			for i, s := range spans {
				a := attrMap(s.Attributes())
				if got := a[string(AttrOutcome)].AsString(); got != cases[i].outcome {
					t.Errorf("case %d: outcome %q, want %q", i, got, cases[i].outcome)
				}
				for k, v := range a {
					if v.Type() == attribute.STRING && strings.Contains(v.AsString(), good) {
						t.Errorf("case %d: attribute %s holds the secret", i, k)
					}
				}
			}
			if a := attrMap(spans[len(spans)-1].Attributes()); a["error.type"].AsString() != "invalid_scope" {
				t.Errorf("invalid scope span: %v", a)
			}

			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			counts := map[string]int64{}
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if m.Name != MetricVerifications {
						continue
					}
					for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
						if _, ok := dp.Attributes.Value(AttrKeyID); ok {
							t.Error("apikey.id is a metric label")
						}
						org, hasOrg := dp.Attributes.Value(AttrOrganizationID)
						outcome, _ := dp.Attributes.Value(AttrOutcome)
						env, _ := dp.Attributes.Value(AttrEnvironment)
						if hasOrg != (orgLabel && outcome.AsString() == "ok") || hasOrg && org.AsString() != "org_9" {
							t.Errorf("organization label on %v: %v", outcome.AsString(), dp.Attributes)
						}
						counts[outcome.AsString()+"/"+env.AsString()] += dp.Value
					}
				}
			}
			want := map[string]int64{"ok/test": 1, "scope_denied/test": 1, "unknown/test": 1, "checksum/test": 1, "malformed/unknown": 1, "missing/unknown": 1, "invalid_request/test": 1}
			if fmt.Sprint(counts) != fmt.Sprint(want) {
				t.Errorf("verification counts %v, want %v", counts, want)
			}
		})
	}
}

func TestHasherAndAuditSpans(t *testing.T) {
	tel, rec, reader := newRecorded(t, Config{})
	h := tel.Hasher(slowHasher{})
	ctx, parent := tel.tracer.Start(context.Background(), "parent")
	if _, err := h.Hash(ctx, "sk_test_secretsecret"); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Compare(cctx, "sk_test_secretsecret", "$argon2id$x"); err == nil {
		t.Fatal("want the context error")
	}
	parent.End()
	store := tel.AuditStore(failingAuditStore{})
	_ = store.AppendUsage(context.Background(), make([]audit.Event, 3))
	obs := tel.HashObserver()
	obs.ObserveHash("verify", time.Millisecond, 20*time.Millisecond)

	byName := map[string]*attribute.Set{}
	for _, s := range rec.Ended() {
		set := attribute.NewSet(s.Attributes()...)
		byName[s.Name()] = &set
		if s.Name() == SpanArgon2Hash || s.Name() == SpanArgon2Verify {
			if s.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("%s is not a child of its caller's span", s.Name())
			}
		}
	}
	if v, _ := byName[SpanArgon2Verify].Value("error.type"); v.AsString() != "canceled" {
		t.Errorf("argon2id.verify error.type = %q", v.AsString())
	}
	flush := byName[SpanAuditFlush]
	if v, _ := flush.Value(AttrAuditBatchSize); v.AsInt64() != 3 {
		t.Errorf("audit.flush batch size %v", v)
	}
	if v, _ := flush.Value("error.type"); v.AsString() != "unavailable" {
		t.Errorf("audit.flush error.type %q", v.AsString())
	}
	for _, s := range rec.Ended() {
		if s.Name() == SpanAuditFlush && s.Status().Description != "unavailable" {
			t.Errorf("audit.flush status %+v: want the error class, not its text", s.Status())
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names[m.Name] = true
		}
	}
	for _, n := range []string{MetricArgon2Duration, MetricArgon2PoolWait, MetricAuditFlushDuration} {
		if !names[n] {
			t.Errorf("metric %s not collected (have %v)", n, names)
		}
	}
}

type failingAuditStore struct{ ports.AuditStore }

func (failingAuditStore) AppendUsage(context.Context, []audit.Event) error {
	return fmt.Errorf("append usage: %w: driver said INSERT ... VALUES ('sk_test_leak')", apikey.ErrUnavailable)
}

func TestLogHandlerAddsTraceAndSpanIDs(t *testing.T) {
	tel, _, _ := newRecorded(t, Config{})
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	ctx, span := tel.tracer.Start(context.Background(), "op")
	log.InfoContext(ctx, "with span")
	span.End()
	log.InfoContext(context.Background(), "without span")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log: %s", buf.String())
	}
	var with, without map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &with)
	_ = json.Unmarshal([]byte(lines[1]), &without)
	if with["trace_id"] != span.SpanContext().TraceID().String() || with["span_id"] != span.SpanContext().SpanID().String() || with["component"] != "test" {
		t.Errorf("line with span: %v", with)
	}
	if _, ok := without["trace_id"]; ok {
		t.Errorf("line without span has a trace id: %v", without)
	}
}

func TestGORMSpansCarryNoValues(t *testing.T) {
	tel, rec, _ := newRecorded(t, Config{})
	db, err := gorm.Open(sqlite.Open("file::memory:"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := tel.InstrumentGORM(db, "sqlite"); err != nil {
		t.Fatal(err)
	}
	type Row struct {
		ID     int
		Secret string
	}
	if err := db.Exec("CREATE TABLE rows (id INTEGER PRIMARY KEY, secret TEXT)").Error; err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("a statement outside any span made %d spans", n)
	}
	const secret = "sk_test_ThisMustNeverAppearInASpan0000"
	ctx, parent := tel.tracer.Start(context.Background(), "op")
	tx := db.WithContext(ctx)
	if err := tx.Table("rows").Create(&Row{ID: 1, Secret: secret}).Error; err != nil {
		t.Fatal(err)
	}
	var got []Row
	if err := tx.Table("rows").Where("secret = ?", secret).Find(&got).Error; err != nil || len(got) != 1 {
		t.Fatalf("find: %v %v", got, err)
	}
	if err := tx.Exec("UPDATE rows SET secret = ? WHERE id = ?", secret+"x", 1).Error; err != nil {
		t.Fatal(err)
	}
	dup := tx.Table("rows").Create(&Row{ID: 1, Secret: secret})
	if dup.Error == nil {
		t.Fatal("want a duplicate key error")
	}
	parent.End()

	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
		if s.Name() == "op" {
			continue
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("%s: parent %v kind %v", s.Name(), s.Parent().SpanID(), s.SpanKind())
		}
		a := attrMap(s.Attributes())
		if a["db.system.name"].AsString() != "sqlite" {
			t.Errorf("%s: attributes %v", s.Name(), a)
		}
		blob := fmt.Sprint(s.Name(), s.Attributes(), s.Events(), s.Status())
		if strings.Contains(blob, "sk_test_") {
			t.Errorf("span leaks a value: %s", blob)
		}
	}
	want := "INSERT rows,SELECT rows,UPDATE rows,INSERT rows,op"
	if strings.Join(names, ",") != want {
		t.Errorf("spans %v, want %s", names, want)
	}
	last := rec.Ended()[3]
	if last.Status().Code.String() != "Error" || attrMap(last.Attributes())["error.type"].AsString() == "" {
		t.Errorf("failed insert: status %v attrs %v", last.Status(), last.Attributes())
	}
}

func TestRedactPathAndSQLVerb(t *testing.T) {
	if got := redactPath("/api/v1/api-keys/sk_test_abc/rotate"); got != "/api/v1/api-keys/REDACTED/rotate" {
		t.Errorf("redactPath: %q", got)
	}
	for sql, want := range map[string]string{
		"UPDATE api_keys SET x = ?":                       "UPDATE api_keys",
		"insert into `audit_events` (a)":                  "INSERT audit_events",
		"INSERT OR FAIL INTO audit_events (a) VALUES (?)": "INSERT audit_events",
		"INSERT IGNORE INTO t (a)":                        "INSERT t",
		"INSERT OR INTO t":                                "INSERT ",
		"INSERT t":                                        "INSERT ",
		"DELETE t":                                        "DELETE ",
		"DELETE FROM \"t\" WHERE id = $1":                 "DELETE t",
		"SELECT * FROM t":                                 "SELECT ",
		"VACUUM":                                          "EXEC ",
		"UPDATE x'; DROP TABLE y; --' SET":                "UPDATE ",
		"":                                                "EXEC ",
	} {
		v, tb := sqlVerb(sql)
		if got := v + " " + tb; got != want {
			t.Errorf("sqlVerb(%q) = %q, want %q", sql, got, want)
		}
	}
	if safeKeyID("sk_test_x") != "" || safeKeyID("key_abc") != "key_abc" || safeKeyID("key_a/b") != "" {
		t.Error("safeKeyID")
	}
	if errorType(errors.New("x")) != "_OTHER" || errorType(apikey.ErrNotFound) != "not_found" {
		t.Error("errorType")
	}
}

// scopeList is the scope parameters of a query that names scope, or none.
func scopeList(scope string) []string {
	if scope == "" {
		return nil
	}
	return []string{scope}
}

// TestVerifyScopeAttributeOnlyValidNames: the required scopes are recorded
// comma-separated when every one is a scope name, and not at all when one
// is not (a secret pasted as a scope must not reach a span).
func TestVerifyScopeAttributeOnlyValidNames(t *testing.T) {
	tel, rec, _ := newRecorded(t, Config{})
	svc := tel.KeyService(&fakeKeys{cache: &mapCache{m: map[string]apikey.Verified{}}})
	secret := secretFor(t, apikey.EnvTest, "s")
	for _, scopes := range [][]string{{"events:read", "triggers:write"}, {"events:read", secret}, nil} {
		_, _ = svc.Verify(context.Background(), ports.VerifyInput{Secret: secret, Scopes: scopes})
	}
	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	for i, want := range []string{"events:read,triggers:write", "", ""} {
		a := attrMap(spans[i].Attributes())
		got, ok := a[string(AttrScopeRequired)]
		if want == "" && ok || want != "" && got.AsString() != want {
			t.Errorf("span %d: scope attribute %v, want %q", i, got.AsString(), want)
		}
	}
}
