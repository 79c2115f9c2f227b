package httpapi_test

import (
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/agentauri/apikeys/adapters/httpapi"
)

// serverRequestID is the form of the request ids the server makes.
var serverRequestID = regexp.MustCompile(`^req_[0-9a-f]{32}$`)

// TestRequestIDIsAlwaysTheServers: whatever X-Request-Id a client sends,
// the request id recorded, logged and echoed is one the server made, new
// for every request. A client id of the safe form is kept apart (the
// core's ClientRequestID, X-Client-Request-Id, client_request_id in the
// access log); any other is dropped, on every route.
func TestRequestIDIsAlwaysTheServers(t *testing.T) {
	keys := &fakeKeys{}
	var logs syncBuffer
	s, err := httpapi.New(httpapi.Options{Keys: keys, Tokens: fakeTokens{},
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	seen := map[string]bool{}
	for _, c := range []struct {
		sent string
		kept bool
	}{
		{"req_SPOOFED0000000000000000000000000", true}, // a client may send what looks like a server id: kept apart, never as the id
		{"0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"trace:4bf92f35.span_1", true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"req 42", false},
		{"req\t42", false},
		{"<script>alert(1)</script>", false},
		{"req_42\u202e", false},
		{"évènement", false},
		{"a/b", false},
	} {
		for _, route := range []struct {
			method, path string
			headers      []string
		}{
			{"GET", "/api/v1/auth/verify", []string{"X-API-Key", validKey}},
			{"GET", "/api/v1/api-keys?limit=x", []string{"X-API-Key", validKey}}, // refused after authentication, before the service
			{"GET", "/api/v1/api-keys?limit=x", []string{"Authorization", "Bearer good"}},
			{"GET", "/nowhere", nil},
		} {
			before := len(keys.reqs)
			headers := route.headers
			if c.sent != "" {
				headers = append(headers, "X-Request-Id", c.sent)
			}
			w := serve(h, route.method, route.path, "127.0.0.1:1", headers...)
			rid := w.Header().Get("X-Request-Id")
			if !serverRequestID.MatchString(rid) || seen[rid] {
				t.Fatalf("%s %s with X-Request-Id %q: answered request id %q, want a new one of the server's", route.method, route.path, c.sent, rid)
			}
			seen[rid] = true
			wantClient := ""
			if c.kept {
				wantClient = c.sent
			}
			if got := w.Header().Get("X-Client-Request-Id"); got != wantClient {
				t.Errorf("%s %s with X-Request-Id %q: X-Client-Request-Id %q, want %q", route.method, route.path, c.sent, got, wantClient)
			}
			if len(keys.reqs) > before {
				if ri := keys.last(t); ri.RequestID != rid || ri.ClientRequestID != wantClient {
					t.Errorf("%s %s with X-Request-Id %q: the core got request id %q, client request id %q", route.method, route.path, c.sent, ri.RequestID, ri.ClientRequestID)
				}
			}
			var line string
			for _, l := range logs.lines() {
				if strings.Contains(l, `"request_id":"`+rid+`"`) && strings.Contains(l, `"msg":"request"`) {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("no access-log line with request id %s:\n%s", rid, strings.Join(logs.lines(), "\n"))
			}
			if c.kept != strings.Contains(line, `"client_request_id":`) || c.kept && !strings.Contains(line, `"client_request_id":"`+c.sent+`"`) {
				t.Errorf("access-log line for X-Request-Id %q: %s", c.sent, line)
			}
		}
	}
}
