package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

// TestOnlyBearerCarriesAToken: a token is accepted only under the Bearer
// scheme (in any case, RFC 9110); under any other scheme, or with nothing
// after the scheme, the request is refused before the token is looked at.
func TestOnlyBearerCarriesAToken(t *testing.T) {
	h := newServer(t, &fakeKeys{}, nil)
	for _, authz := range []string{"Bearer good", "bearer good", "BEARER good"} {
		if w := serve(h, "GET", "/api/v1/api-keys", "127.0.0.1:1", "Authorization", authz); w.Code == http.StatusUnauthorized {
			t.Errorf("%q refused: %s", authz, w.Body)
		}
	}
	for _, authz := range []string{"Basic good", "Token good", "good", "Bearer", "Bearer ", "Bearergood", "Digest good"} {
		w := serve(h, "GET", "/api/v1/api-keys", "127.0.0.1:1", "Authorization", authz)
		if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%q: status %d, WWW-Authenticate %q; want 401 with a challenge", authz, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
}

// failingKeys answers every management call with err.
type failingKeys struct {
	fakeKeys
	err error
}

func (f *failingKeys) List(context.Context, apikey.Principal, ports.ListInput) (ports.KeyPage, error) {
	return ports.KeyPage{}, f.err
}

// TestInternalErrorsStayInternal: an error the error table does not know
// is answered as a bare 500 whose body holds none of its text (driver
// errors quote statements and values); the text goes to the log.
func TestInternalErrorsStayInternal(t *testing.T) {
	var logged syncBuffer
	keys := &failingKeys{err: errors.New(`pq: duplicate key value violates "api_keys_lookup_key" (lookup)=(SECRET-DETAIL)`)}
	s, err := httpapi.New(httpapi.Options{Keys: keys, Tokens: fakeTokens{},
		Logger: slog.New(slog.NewJSONHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	w := serve(s.Handler(), "GET", "/api/v1/api-keys", "127.0.0.1:1", "Authorization", "Bearer good")
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "SECRET-DETAIL") || strings.Contains(w.Body.String(), "pq:") ||
		!strings.Contains(w.Body.String(), `"internal_error"`) {
		t.Fatalf("500 answer %d %s", w.Code, w.Body)
	}
	if !strings.Contains(strings.Join(logged.lines(), "\n"), "SECRET-DETAIL") {
		t.Error("the internal error was not logged")
	}
}

// issuingKeys creates and rotates keys, handing out a secret.
type issuingKeys struct {
	fakeKeys
}

func (*issuingKeys) issued() ports.Issued {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return ports.Issued{Secret: "sk_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Key: apikey.Key{
		ID: "key_new", OrganizationID: "org_1", Name: "n", Environment: apikey.EnvTest,
		Scopes: apikey.Scopes{apikey.ScopeEventsRead}, CreatedAt: at, RotatedAt: &at}}
}

func (k *issuingKeys) Create(context.Context, apikey.Principal, ports.CreateInput) (ports.Issued, error) {
	return k.issued(), nil
}

func (k *issuingKeys) Rotate(context.Context, apikey.Principal, string, ports.RotateInput) (ports.Issued, error) {
	return k.issued(), nil
}

// TestSecretsAndVerdictsAreNotCached: every answer carrying a new secret
// (create, rotate) or a verification result says Cache-Control: no-store,
// so no proxy or browser cache keeps it.
func TestSecretsAndVerdictsAreNotCached(t *testing.T) {
	keys := &issuingKeys{}
	h := newServer(t, &keys.fakeKeys, nil)
	hk, err := httpapi.New(httpapi.Options{Keys: keys, Tokens: fakeTokens{}})
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range map[string]*http.Response{
		"create": serveBody(hk.Handler(), "POST", "/api/v1/api-keys", `{"name":"n","scopes":["events:read"]}`,
			"Authorization", "Bearer good", "Content-Type", "application/json").Result(),
		"rotate": serve(hk.Handler(), "POST", "/api/v1/api-keys/key_new/rotate", "127.0.0.1:1", "Authorization", "Bearer good").Result(),
		"verify": serve(h, "GET", "/api/v1/auth/verify", "127.0.0.1:1", "X-API-Key", validKey).Result(),
	} {
		if got := w.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", name, got)
		}
	}
}

// serveBody is serve with a request body, from 127.0.0.1.
func serveBody(h http.Handler, method, target, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:1"
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}
