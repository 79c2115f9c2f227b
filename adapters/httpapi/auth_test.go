package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/core/apikey"
)

// refusingTokens refuses every token with err.
type refusingTokens struct{ err error }

func (r refusingTokens) Verify(context.Context, string) (apikey.Principal, error) {
	return apikey.Principal{}, r.err
}

// TestBearerRefusals: a refused token gets the one 401 whatever the
// reason, a token whose provider is unreachable gets 503 with Retry-After,
// and the debug log says why with the request id, never the token.
func TestBearerRefusals(t *testing.T) {
	const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	var generic string
	for _, c := range []struct {
		name   string
		err    error
		status int
	}{
		{"expired", fmt.Errorf("token expired: %w", apikey.ErrUnauthenticated), http.StatusUnauthorized},
		{"audience", fmt.Errorf("token audience invalid: %w", apikey.ErrUnauthenticated), http.StatusUnauthorized},
		{"provider down", fmt.Errorf("identity provider keys unavailable: %w", apikey.ErrUnavailable), http.StatusServiceUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out syncBuffer
			logger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
			s, err := httpapi.New(httpapi.Options{Keys: &fakeKeys{}, Tokens: refusingTokens{c.err}, Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			w := serve(s.Handler(), "GET", "/api/v1/api-keys", "127.0.0.1:1", "Authorization", "Bearer "+token, "X-Request-Id", "req-"+strings.ReplaceAll(c.name, " ", "-"))
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			switch c.status {
			case http.StatusUnauthorized:
				if generic == "" {
					generic = w.Body.String()
				} else if w.Body.String() != generic {
					t.Fatalf("body %s differs from %s", w.Body, generic)
				}
				if !strings.Contains(generic, `"invalid_token"`) || w.Header().Get("WWW-Authenticate") == "" {
					t.Fatalf("401 %s %v", w.Body, w.Header())
				}
			case http.StatusServiceUnavailable:
				if w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "service_unavailable") {
					t.Fatalf("503 %s %v", w.Body, w.Header())
				}
			}
			var line string
			for _, l := range out.lines() {
				if strings.Contains(l, "bearer token refused") {
					line = l
				}
			}
			if rid := w.Header().Get("X-Request-Id"); rid == "" || !strings.Contains(line, c.err.Error()) || !strings.Contains(line, `"request_id":"`+rid+`"`) {
				t.Fatalf("debug line %q lacks the reason or request id", line)
			}
			if strings.Contains(strings.Join(out.lines(), "\n"), token) {
				t.Fatal("the token reached the log")
			}
		})
	}
}
