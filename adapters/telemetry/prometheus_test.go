package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

// scrape GETs /metrics from h with the given Accept header and returns the
// content type and body.
func scrape(t *testing.T, h http.Handler, accept string) (string, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	body, _ := io.ReadAll(w.Body)
	if w.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", w.Code, body)
	}
	return w.Header().Get("Content-Type"), string(body)
}

// OpenMetricsAccept is what Prometheus sends when it prefers OpenMetrics.
const openMetricsAccept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

// TestOpenMetricsScrapeCarriesExemplars: the latency histogram of a traced
// verification carries, in an OpenMetrics scrape, an exemplar naming the
// verification's trace; the Prometheus text format (which cannot carry
// exemplars) is still served to scrapers that do not ask for OpenMetrics.
func TestOpenMetricsScrapeCarriesExemplars(t *testing.T) {
	tel, rec, _ := newRecorded(t, Config{Prometheus: true})
	secret := secretFor(t, apikey.EnvTest, "e")
	cache := &mapCache{m: map[string]apikey.Verified{secret: {KeyID: "key_ex", OrganizationID: "org_1", Environment: apikey.EnvTest}}}
	svc := tel.KeyService(&fakeKeys{cache: cache})
	if _, err := svc.Verify(context.Background(), ports.VerifyInput{Secret: secret}); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	traceID := spans[0].SpanContext().TraceID().String()

	ct, body := scrape(t, tel.MetricsHandler(), openMetricsAccept)
	if !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("content type %q, want OpenMetrics", ct)
	}
	found := false
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "apikeys_verification_duration_seconds_bucket{") && strings.Contains(line, " # {") {
			if !strings.Contains(line, `trace_id="`+traceID+`"`) || !strings.Contains(line, `span_id="`+spans[0].SpanContext().SpanID().String()+`"`) {
				t.Errorf("exemplar of another trace: %s", line)
			}
			found = true
		}
	}
	if !found {
		t.Errorf("no exemplar on apikeys_verification_duration_seconds_bucket in:\n%s", body)
	}
	if !strings.HasSuffix(strings.TrimSpace(body), "# EOF") {
		t.Error("the OpenMetrics exposition does not end with # EOF")
	}

	ct, body = scrape(t, tel.MetricsHandler(), "")
	if !strings.HasPrefix(ct, "text/plain") || !strings.Contains(body, "apikeys_verification_duration_seconds_bucket{") || strings.Contains(body, "trace_id") {
		t.Errorf("text format: content type %q, body:\n%s", ct, body)
	}
}
