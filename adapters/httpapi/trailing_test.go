package httpapi_test

import (
	"encoding/json"
	"testing"
)

// TestTrailingSlashIsNotFound: every route with a trailing slash (or
// doubled) answers the JSON 404 envelope, never a gin redirect (issue 11
// §11: 301 with an HTML body, 307 empty, a 500 behind nginx).
func TestTrailingSlashIsNotFound(t *testing.T) {
	h := newServer(t, &fakeKeys{}, &fakeAudit{})
	for _, rt := range []struct{ method, path string }{
		{"GET", "/healthz/"}, {"GET", "/readyz/"}, {"GET", "/api/v1/auth/verify/"}, {"GET", "/api/v1/api-keys/"},
		{"POST", "/api/v1/api-keys/"}, {"GET", "/api/v1/api-keys/key_abc/"}, {"DELETE", "/api/v1/api-keys/key_abc/"},
		{"POST", "/api/v1/api-keys/key_abc/rotate/"}, {"GET", "/api/v1/api-keys/key_abc/usage/"}, {"GET", "/api/v1/audit-logs/"},
		{"GET", "/api/v1/API-KEYS"}, {"GET", "/api/v1//api-keys"}, {"GET", "/api/v1/auth/verify//"},
	} {
		w := serve(h, rt.method, rt.path, "127.0.0.1:1", "X-API-Key", validKey)
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		if w.Code != 404 || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error.Code != "not_found" || w.Header().Get("Location") != "" {
			t.Errorf("%s %s: %d %q (Location %q), want the JSON 404", rt.method, rt.path, w.Code, w.Body.String(), w.Header().Get("Location"))
		}
	}
}
