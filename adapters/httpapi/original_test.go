package httpapi

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
)

// TestOriginalRequestOnlyFromTrustedProxies: X-Original-* and
// X-Forwarded-Method/-Uri name the original request only when the peer is
// a trusted proxy (issue 11 §4: any caller could write the audit trail's
// method and path); a trusted proxy's method must be an RFC 9110 token and
// its URI a path.
func TestOriginalRequestOnlyFromTrustedProxies(t *testing.T) {
	s := &Server{}
	var err error
	if s.trusted, err = parseTrustedPeers([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}); err != nil {
		t.Fatal(err)
	}
	forged := []string{"X-Original-Method", "DELETE", "X-Original-Uri", "/evil/x?token=t"}
	for _, tc := range []struct {
		name, remote string
		headers      []string
		method, path string
		forwarded    bool
		code, field  string
	}{
		{"untrusted peer", "203.0.113.9:1", forged, "GET", "/api/v1/auth/verify", false, "", ""},
		{"untrusted peer, Traefik headers", "203.0.113.9:1", []string{"X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/x"}, "GET", "/api/v1/auth/verify", false, "", ""},
		{"untrusted, invalid method ignored", "203.0.113.9:1", []string{"X-Original-Method", "DELETE /admin"}, "GET", "/api/v1/auth/verify", false, "", ""},
		{"loopback not listed", "127.0.0.1:1", forged, "GET", "/api/v1/auth/verify", false, "", ""},
		{"trusted network", "10.1.2.3:1", forged, "DELETE", "/evil/x", true, "", ""},
		{"trusted address", "192.0.2.7:1", forged, "DELETE", "/evil/x", true, "", ""},
		{"trusted IPv6", "[2001:db8::5]:1", forged, "DELETE", "/evil/x", true, "", ""},
		{"IPv4-mapped", "[::ffff:10.0.0.1]:1", forged, "DELETE", "/evil/x", true, "", ""},
		{"Traefik headers", "10.0.0.1:1", []string{"X-Forwarded-Method", "PATCH", "X-Forwarded-Uri", "/v1/t/1"}, "PATCH", "/v1/t/1", true, "", ""},
		{"X-Original wins", "10.0.0.1:1", []string{"X-Original-Method", "PUT", "X-Forwarded-Method", "POST"}, "PUT", "/api/v1/auth/verify", true, "", ""},
		{"extension method", "10.0.0.1:1", []string{"X-Original-Method", "PROPFIND"}, "PROPFIND", "/api/v1/auth/verify", true, "", ""},
		{"method with a space", "10.0.0.1:1", []string{"X-Original-Method", "DELETE /admin"}, "", "", false, "invalid_method", "X-Original-Method"},
		{"method with a separator", "10.0.0.1:1", []string{"X-Forwarded-Method", "GET,POST"}, "", "", false, "invalid_method", "X-Forwarded-Method"},
		{"method with a no-break space", "10.0.0.1:1", []string{"X-Original-Method", "GET\u00a0"}, "", "", false, "invalid_method", "X-Original-Method"},
		{"method not ASCII", "10.0.0.1:1", []string{"X-Original-Method", "G\u00c9T"}, "", "", false, "invalid_method", "X-Original-Method"},
		{"long query dropped", "10.0.0.1:1", []string{"X-Original-Uri", "/v1/x?q=" + strings.Repeat("a", 5000)}, "GET", "/v1/x", true, "", ""},
		{"absolute URI", "10.0.0.1:1", []string{"X-Original-Uri", "http://evil/x"}, "", "", false, "invalid_path", "X-Original-Uri"},
		{"control character", "10.0.0.1:1", []string{"X-Forwarded-Uri", "/a\x7fb"}, "", "", false, "invalid_path", "X-Forwarded-Uri"},
	} {
		req := httptest.NewRequest("GET", "/api/v1/auth/verify", nil)
		req.RemoteAddr = tc.remote
		for i := 0; i+1 < len(tc.headers); i += 2 {
			req.Header.Set(tc.headers[i], tc.headers[i+1])
		}
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = req
		m, p, fwd, err := s.originalRequest(c)
		var ve *apikey.ValidationError
		switch {
		case tc.code != "":
			if !errors.As(err, &ve) || ve.Code != tc.code || ve.Field != tc.field {
				t.Errorf("%s: %v, want %s on %s", tc.name, err, tc.code, tc.field)
			}
		case err != nil || m != tc.method || p != tc.path || fwd != tc.forwarded:
			t.Errorf("%s: %q %q %v %v, want %q %q %v", tc.name, m, p, fwd, err, tc.method, tc.path, tc.forwarded)
		}
	}
}

func TestValidMethod(t *testing.T) {
	for m, want := range map[string]bool{"GET": true, "M-SEARCH": true, "get": true, "X~Y": true, "": false, "GET ": false,
		"GE\tT": false, "(GET)": false, "GET/1": false, "A\"": false, "ÄB": false} {
		if validMethod(m) != want {
			t.Errorf("validMethod(%q) = %v", m, !want)
		}
	}
}
