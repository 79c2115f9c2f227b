package httpapi_test

import (
	"testing"
)

// TestBodyMustBeUTF8: bytes that are not UTF-8 in a JSON body are refused
// (400 invalid_json naming the member that holds them), never turned into
// U+FFFD and stored (issue 11 §2).
func TestBodyMustBeUTF8(t *testing.T) {
	h := newServer(t, &fakeKeys{}, nil)
	for body, field := range map[string]string{
		"{\"name\":\"ab\xffc\",\"scopes\":[\"events:read\"]}":                              "name",
		"{\"name\":\"ok\",\"scopes\":[\"events:read\"],\"organization_id\":\"o\xc0\x80\"}": "organization_id",
		"{\"name\":\"ok\",\"scopes\":[\"events:\xed\xa0\x80\"]}":                           "scopes",
		"[\"\xff\"]": "",
	} {
		w := serveBody(h, "POST", "/api/v1/api-keys", body, "Authorization", "Bearer good", "Content-Type", "application/json")
		code, f, _ := errorOf(t, w.Body.Bytes())
		if w.Code != 400 || code != "invalid_json" || f != field {
			t.Errorf("%q: %d %s %q, want 400 invalid_json naming %q", body, w.Code, code, f, field)
		}
	}
}
