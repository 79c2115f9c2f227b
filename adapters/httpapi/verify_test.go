package httpapi_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/agentauri/apikeys/core/apikey"
)

// errorOf decodes an error envelope.
func errorOf(t *testing.T, body []byte) (code, field, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Field, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an error envelope: %s", body)
	}
	return e.Error.Code, e.Error.Field, e.Error.Message
}

// TestVerifyQueryFailsClosed: every scope parameter reaches the core as a
// requirement (all of them), and a parameter verify does not take is a
// 400 invalid_query naming it, before any verification, so that a
// misspelt scope parameter never turns the scope check off.
func TestVerifyQueryFailsClosed(t *testing.T) {
	keys := &fakeKeys{}
	h := newServer(t, keys, nil)
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", nil},
		{"?", nil},
		{"?scope=events:read", []string{"events:read"}},
		{"?scope=triggers:read&scope=events:read", []string{"triggers:read", "events:read"}},
		{"?scope=", []string{""}},
		{"?scope", []string{""}},
		{"?scope=a&scope=", []string{"a", ""}},
	} {
		before := len(keys.scopes)
		w := serve(h, "GET", "/api/v1/auth/verify"+c.query, "127.0.0.1:1", "X-API-Key", validKey)
		if w.Code != 200 || len(keys.scopes) != before+1 {
			t.Fatalf("%q: status %d, %d verifications: %s", c.query, w.Code, len(keys.scopes)-before, w.Body)
		}
		if got := keys.scopes[len(keys.scopes)-1]; !slices.Equal(got, c.want) {
			t.Errorf("%q: the core was asked for scopes %q, want %q", c.query, got, c.want)
		}
	}
	for _, c := range []struct{ query, field string }{
		{"?Scope=events:read", "Scope"},
		{"?SCOPE=events:read", "SCOPE"},
		{"?scope[]=events:read", "scope[]"},
		{"?scope%5B%5D=events:read", "scope[]"},
		{"?scopes=events:read", "scopes"},
		{"?scope=events:read&x=1", "x"},
		{"?b=1&a=2", "a"}, // the first unknown one in byte order, whatever the order sent
		{"?=events:read", ""},
		{"?" + strings.Repeat("p", 100) + "=1", strings.Repeat("p", 64) + "…"},
	} {
		before := len(keys.scopes)
		w := serve(h, "GET", "/api/v1/auth/verify"+c.query, "127.0.0.1:1", "X-API-Key", validKey)
		code, field, msg := errorOf(t, w.Body.Bytes())
		if w.Code != 400 || code != "invalid_query" || field != c.field {
			t.Errorf("%q: %d %s field %q, want 400 invalid_query field %q", c.query, w.Code, code, field, c.field)
		}
		if !strings.Contains(msg, `"`+c.field+`"`) || !strings.Contains(msg, "scope") {
			t.Errorf("%q: message %q does not name the parameter and the one verify takes", c.query, msg)
		}
		if len(keys.scopes) != before {
			t.Errorf("%q: a refused query was verified", c.query)
		}
	}
}

// TestVerifyScopeDeniedNamesTheMissingScopes: the 403 names the scopes the
// key lacks, as the core decided them.
func TestVerifyScopeDeniedNamesTheMissingScopes(t *testing.T) {
	keys := &fakeKeys{outcome: apikey.OutcomeScopeDenied}
	h := newServer(t, keys, nil)
	w := serve(h, "GET", "/api/v1/auth/verify?scope=events:read&scope=triggers:write", "127.0.0.1:1", "X-API-Key", validKey)
	code, _, msg := errorOf(t, w.Body.Bytes())
	if w.Code != 403 || code != "insufficient_scope" || msg != "missing scope events:read, triggers:write" {
		t.Errorf("%d %s %q", w.Code, code, msg)
	}
	if got := keys.lastStatus(t); got != 403 {
		t.Errorf("recorded status %d, want 403", got)
	}
}
