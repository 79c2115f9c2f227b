package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestServerName(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name:", err)
	}
	for _, c := range []struct{ configured, listening, want string }{
		{"127.0.0.1:0", "127.0.0.1:43210", "127.0.0.1:43210"},
		{"localhost:8080", "127.0.0.1:8080", "localhost:8080"},
		{"api.internal:8443", "", "api.internal:8443"},
		{"0.0.0.0:8080", "[::]:8080", host + ":8080"},
		{":8080", "[::]:8080", host + ":8080"},
		{"[::]:9000", "", host + ":9000"},
		{"[::1]:0", "[::1]:5555", "[::1]:5555"},
	} {
		if got := ServerName(c.configured, c.listening); got != c.want {
			t.Errorf("ServerName(%q, %q) = %q, want %q", c.configured, c.listening, got, c.want)
		}
	}
}

// serveThrough runs one request through the telemetry middleware in front
// of handler, the way httpapi mounts it.
func serveThrough(t *testing.T, tel *Telemetry, server string, req *http.Request, route string, handler gin.HandlerFunc) *httptest.ResponseRecorder {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(tel.Middleware(server)...)
	r.Handle(req.Method, route, handler)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

// httpPoints returns the data points of one otelgin HTTP server histogram.
func httpPoints(t *testing.T, rm metricdata.ResourceMetrics, name string) []attribute.Set {
	t.Helper()
	var sets []attribute.Set
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			case metricdata.Histogram[int64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			}
		}
	}
	return sets
}

// TestServerAddressIsTheListener: server.address and server.port name the
// listener, whatever Host header the caller sends, on the span and on the
// HTTP server metrics.
func TestServerAddressIsTheListener(t *testing.T) {
	tel, rec, reader := newRecorded(t, Config{})
	req := httptest.NewRequest(http.MethodGet, "/api/v1/auth/verify", nil)
	req.Host = "forged.example:1234"
	serveThrough(t, tel, "api.internal:8443", req, "/api/v1/auth/verify", func(c *gin.Context) { c.String(200, "ok") })

	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	a := attrMap(spans[0].Attributes())
	if a["server.address"].AsString() != "api.internal" || a["server.port"].AsInt64() != 8443 {
		t.Errorf("span server.address %v server.port %v, want api.internal 8443", a["server.address"], a["server.port"])
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sets := httpPoints(t, rm, "http.server.request.duration")
	if len(sets) != 1 {
		t.Fatalf("%d http.server.request.duration points", len(sets))
	}
	addr, _ := sets[0].Value("server.address")
	port, _ := sets[0].Value("server.port")
	if addr.AsString() != "api.internal" || port.AsInt64() != 8443 {
		t.Errorf("metric server.address %v server.port %v, want api.internal 8443", addr, port)
	}
}

// TestEmptyAnswerRecordsSizeZero: a 204 (no body written) records a
// response body size of 0, never -1, with spans recorded or not.
func TestEmptyAnswerRecordsSizeZero(t *testing.T) {
	for _, exporter := range []string{"recorded", ExporterNone} {
		t.Run(exporter, func(t *testing.T) {
			var (
				tel    *Telemetry
				reader = sdkmetric.NewManualReader()
			)
			if exporter == ExporterNone {
				var err error
				tel, err = New(context.Background(), Config{Enabled: true, Exporter: ExporterNone}, WithMetricReader(reader))
				if err != nil {
					t.Fatal(err)
				}
			} else {
				tel, _, reader = newRecorded(t, Config{})
			}
			req := httptest.NewRequest(http.MethodDelete, "/api/v1/api-keys/key_1", nil)
			w := serveThrough(t, tel, "127.0.0.1:8080", req, "/api/v1/api-keys/:id", func(c *gin.Context) { c.Status(http.StatusNoContent) })
			if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
				t.Fatalf("answer %d %q", w.Code, w.Body)
			}
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if m.Name != "http.server.response.body.size" {
						continue
					}
					for _, dp := range m.Data.(metricdata.Histogram[int64]).DataPoints {
						found = true
						if lo, ok := dp.Min.Value(); !ok || lo != 0 || dp.Sum != 0 || dp.Count != 1 {
							t.Errorf("response body size of a 204: min %v sum %d count %d, want one 0", dp.Min, dp.Sum, dp.Count)
						}
					}
				}
			}
			if !found {
				t.Error("no http.server.response.body.size recorded")
			}
		})
	}
}
