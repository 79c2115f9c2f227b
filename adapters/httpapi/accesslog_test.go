package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/adapters/httpapi"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSpace(s.b.String()), "\n")
}

// TestVerifyAccessLogLevel: verifications are access-logged at
// VerifyLogLevel (info by default), every other request at info.
func TestVerifyAccessLogLevel(t *testing.T) {
	for _, c := range []struct {
		name        string
		verifyLevel slog.Level
		loggerLevel slog.Level
		want        string // level of the verify line; "" for none
	}{
		{"default", 0, slog.LevelInfo, "INFO"},
		{"debug, logged at info", slog.LevelDebug, slog.LevelInfo, ""},
		{"debug, logged at debug", slog.LevelDebug, slog.LevelDebug, "DEBUG"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out syncBuffer
			logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: c.loggerLevel}))
			s, err := httpapi.New(httpapi.Options{Keys: &fakeKeys{}, Tokens: fakeTokens{}, Logger: logger, VerifyLogLevel: c.verifyLevel})
			if err != nil {
				t.Fatal(err)
			}
			for _, target := range []string{"/api/v1/auth/verify", "/api/v1/api-keys"} {
				r := httptest.NewRequest(http.MethodGet, target, nil)
				if target == "/api/v1/auth/verify" {
					r.Header.Set("X-API-Key", "sk_test_whatever")
				} else {
					r.Header.Set("Authorization", "Bearer bad") // answered 401
				}
				w := httptest.NewRecorder()
				s.Handler().ServeHTTP(w, r)
				if target == "/api/v1/auth/verify" && w.Code != http.StatusOK {
					t.Fatalf("verify answered %d: %s", w.Code, w.Body)
				}
			}
			var verify, other []string
			for _, l := range out.lines() {
				switch {
				case strings.Contains(l, "path=/api/v1/auth/verify"):
					verify = append(verify, l)
				case strings.Contains(l, "path=/api/v1/api-keys"):
					other = append(other, l)
				}
			}
			if len(other) != 1 || !strings.Contains(other[0], "level=INFO") {
				t.Errorf("access log of the listing: %q, want one INFO line", other)
			}
			switch {
			case c.want == "" && len(verify) != 0:
				t.Errorf("verification logged: %q", verify)
			case c.want != "" && (len(verify) != 1 || !strings.Contains(verify[0], "level="+c.want)):
				t.Errorf("access log of the verification: %q, want one %s line", verify, c.want)
			}
		})
	}
}

// TestAccessLogLine: one JSON line per request with the duration in
// milliseconds as a number (duration_ms); probes and scrapes (/healthz,
// /readyz, /metrics) are logged at debug only.
func TestAccessLogLine(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var out syncBuffer
		logger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: level}))
		s, err := httpapi.New(httpapi.Options{Keys: &fakeKeys{}, Tokens: fakeTokens{}, Logger: logger,
			Extra: func(r *gin.Engine) { r.GET("/metrics", func(c *gin.Context) { c.String(http.StatusOK, "# EOF\n") }) }})
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []string{"/healthz", "/readyz", "/metrics", "/api/v1/api-keys"} {
			r := httptest.NewRequest(http.MethodGet, target, nil)
			r.Header.Set("Authorization", "Bearer bad")
			s.Handler().ServeHTTP(httptest.NewRecorder(), r)
		}
		lines := map[string]map[string]any{}
		for _, l := range out.lines() {
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("not a JSON line: %q", l)
			}
			if rec["msg"] == "request" {
				lines[rec["path"].(string)] = rec
			}
		}
		rec := lines["/api/v1/api-keys"]
		if rec == nil || rec["level"] != "INFO" {
			t.Fatalf("log level %v: access line of a management call %v", level, rec)
		}
		if d, ok := rec["duration_ms"].(float64); !ok || d <= 0 || d > 10_000 {
			t.Errorf("duration_ms %v (%T): want a positive number of milliseconds", rec["duration_ms"], rec["duration_ms"])
		}
		if _, ok := rec["duration"]; ok {
			t.Error("a duration field without a unit")
		}
		for _, probe := range []string{"/healthz", "/readyz", "/metrics"} {
			got := lines[probe]
			switch {
			case level == slog.LevelInfo && got != nil:
				t.Errorf("%s logged at info: %v", probe, got)
			case level == slog.LevelDebug && (got == nil || got["level"] != "DEBUG"):
				t.Errorf("%s at debug: %v, want a DEBUG line", probe, got)
			}
		}
	}
}
