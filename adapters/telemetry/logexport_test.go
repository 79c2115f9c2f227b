package telemetry

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// TestLogExportOverOTLP: with Logs set, the records the base handler
// takes (its level, not below) also leave over OTLP with the trace and
// span ids of their context, the message as body, the severity and the
// service's resource; the base handler still gets every line.
func TestLogExportOverOTLP(t *testing.T) {
	r := &receiver{}
	srv := httptest.NewServer(r)
	defer srv.Close()
	tel, err := New(context.Background(), Config{Enabled: true, Logs: true, Endpoint: srv.URL + "/otlp", ServiceName: "apikeys-logs"})
	if err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	base := slog.NewJSONHandler(&console, &slog.HandlerOptions{Level: slog.LevelInfo})
	bridge := tel.LogHandler(base)
	if bridge == nil {
		t.Fatal("no log handler with Logs set")
	}
	log := slog.New(slog.NewMultiHandler(NewLogHandler(base), bridge)).With("component", "test")

	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	log.InfoContext(ctx, "request", slog.Int("status", 204), slog.Float64("duration_ms", 0.25))
	log.DebugContext(ctx, "below the level")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(shutdownCtx); err != nil {
		t.Fatal(err)
	}

	if !strings.Contains(console.String(), `"msg":"request"`) || strings.Contains(console.String(), "below the level") {
		t.Errorf("console log: %s", console.String())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var bodies []string
	for _, req := range r.logs {
		for _, rl := range req.ResourceLogs {
			service := ""
			for _, kv := range rl.Resource.Attributes {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					bodies = append(bodies, lr.Body.GetStringValue())
					attrs := map[string]bool{}
					for _, kv := range lr.Attributes {
						attrs[kv.Key] = true
					}
					if service != "apikeys-logs" || hex.EncodeToString(lr.TraceId) != tid.String() || hex.EncodeToString(lr.SpanId) != sid.String() ||
						lr.SeverityText != "INFO" || !attrs["status"] || !attrs["duration_ms"] || !attrs["component"] {
						t.Errorf("exported record: service %q trace %x span %x severity %q attributes %v", service, lr.TraceId, lr.SpanId, lr.SeverityText, attrs)
					}
				}
			}
		}
	}
	if strings.Join(bodies, ",") != "request" {
		t.Errorf("exported log bodies %q, want only the info line", bodies)
	}
}

func TestNoLogHandlerUnlessAsked(t *testing.T) {
	tel, _, _ := newRecorded(t, Config{})
	if tel.LogHandler(slog.DiscardHandler) != nil {
		t.Error("a log handler though Logs is off")
	}
}
