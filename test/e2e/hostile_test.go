package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// hostile is the corpus of hostile identifiers and values (issue 11 §2):
// NUL, overlong and invalid UTF-8, lone surrogates, bidi overrides,
// zero-width and look-alike characters, values past every length, huge
// and malformed numbers, times past year 9999 and before year 1000, and
// cursors carrying each of those.
var hostile = []string{
	"\x00", "key_x\x00", "org_123\x00", "\xc0\x80", "key_\xc0\x80", "\xff", "org_123\xff", "\xed\xa0\x80",
	"org_123\u202e", "\u202ekey_x", "\u200b", "org_123\u200b", "\u2066x\u2069", "org_123 ", " org_123", "org_123\u00a0",
	"ORG_123", " ", "", strings.Repeat("a", 129), strings.Repeat("k", 3000),
	"99999999999999999999999999", "-1", "0", "1e400", "0x10", "NaN",
	"9999-12-31T23:59:59-23:59", "10000-01-01T00:00:00Z", "0000-01-01T00:00:00+23:59", "0999-12-31T00:00:00Z",
	"9999-12-31T23:59:59.999999999Z", "2262-04-12T00:00:00Z",
	"key_" + strings.Repeat("Z", 60), "key_" + strings.Repeat("Z", 61), "evt_" + strings.Repeat("Z", 20),
	"%00", "../../etc/passwd", "'; DROP TABLE api_keys; --", `\u0000`, "true\x00",
	"sk_test_" + strings.Repeat("\xff", 32), "sk_live_\u202e" + strings.Repeat("A", 29), "sk_test_" + strings.Repeat("A", 32) + "\x00",
	cursorOf("99999999999999999999.key_a"), cursorOf("253402300800000000.key_abc"), cursorOf("253402300800000000.evt_abc"),
	cursorOf("253402300799999999.key_abc"), cursorOf("253402300799999999.evt_abc"), cursorOf("-99999999999999.key_a"),
	cursorOf("1.key_\x00"), cursorOf("1.evt_\x00"), cursorOf("1.\xff\xfe"), cursorOf("1.key_a\u202e"), cursorOf("1."),
	cursorOf("9223372036854775807.evt_a"), cursorOf("-9223372036854775808.key_a"),
}

// cursorOf encodes raw as the API's cursors are encoded.
func cursorOf(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }

// jsonString writes v as a JSON string literal keeping its bytes as they
// are (encoding/json would replace invalid UTF-8): only quotes,
// backslashes and control bytes are escaped.
func jsonString(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// rawJWT signs payload, written by hand, with HS256.
func rawJWT(secret []byte, payload string) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(head))
	return head + "." + enc.EncodeToString(m.Sum(nil))
}

// sendable reports whether an HTTP client can carry v in a header value
// (no control bytes); the server never sees the others.
func sendable(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return false
		}
	}
	return v != ""
}

// probe is one request of the corpus.
type probe struct {
	name, method, path, body string
	headers                  []string
}

// answer is what a probe is compared on across databases.
type answer struct {
	status      int
	code, field string
}

// hostileProbes sends every value of the corpus to every route and
// parameter: paths, query strings, JSON bodies, token claims and headers.
func hostileProbes(s *server, tok, keyID, secret string) []probe {
	var out []probe
	add := func(slot, method, path, body string, headers ...string) {
		out = append(out, probe{name: slot, method: method, path: path, body: body, headers: headers})
	}
	bearerJSON := jsonBearer(tok)
	now := time.Now().Unix()
	for _, h := range hostile {
		q := url.QueryEscape(h)
		p := url.PathEscape(h)
		tag := fmt.Sprintf("%q", h)
		// Paths of every key route.
		add("GET key "+tag, "GET", "/api/v1/api-keys/"+p, "", bearer(tok)...)
		add("GET usage "+tag, "GET", "/api/v1/api-keys/"+p+"/usage", "", bearer(tok)...)
		add("POST rotate "+tag, "POST", "/api/v1/api-keys/"+p+"/rotate", "", bearer(tok)...)
		add("DELETE key "+tag, "DELETE", "/api/v1/api-keys/"+p, "", bearer(tok)...)
		// The same with a managing key, whose use is recorded with the
		// path and query the caller chose.
		add("GET key by a key "+tag, "GET", "/api/v1/api-keys/"+p, "", "X-API-Key", secret)
		add("list by a key cursor="+tag, "GET", "/api/v1/api-keys?cursor="+q, "", "X-API-Key", secret)
		// Query strings.
		for _, param := range []string{"organization_id", "cursor", "limit", "include_revoked"} {
			add("list "+param+"="+tag, "GET", "/api/v1/api-keys?"+param+"="+q, "", bearer(tok)...)
		}
		for _, param := range []string{"organization_id", "key_id", "action", "actor", "since", "until", "limit", "cursor", "unattributed"} {
			add("audit "+param+"="+tag, "GET", "/api/v1/audit-logs?"+param+"="+q, "", bearer(tok)...)
		}
		for _, param := range []string{"cursor", "limit"} {
			add("usage "+param+"="+tag, "GET", "/api/v1/api-keys/"+keyID+"/usage?"+param+"="+q, "", bearer(tok)...)
		}
		add("verify scope="+tag, "GET", "/api/v1/auth/verify?scope="+q, "", "X-API-Key", secret)
		add("verify "+tag+"=x", "GET", "/api/v1/auth/verify?"+q+"=x", "", "X-API-Key", secret)
		// Bodies.
		v := jsonString(h)
		add("create name="+tag, "POST", "/api/v1/api-keys", `{"name":`+v+`,"scopes":["events:read"]}`, bearerJSON...)
		add("create organization_id="+tag, "POST", "/api/v1/api-keys", `{"name":"x","organization_id":`+v+`,"scopes":["events:read"]}`, bearerJSON...)
		add("create scopes="+tag, "POST", "/api/v1/api-keys", `{"name":"x","scopes":[`+v+`]}`, bearerJSON...)
		add("create environment="+tag, "POST", "/api/v1/api-keys", `{"name":"x","scopes":["events:read"],"environment":`+v+`}`, bearerJSON...)
		add("create expires_at="+tag, "POST", "/api/v1/api-keys", `{"name":"x","scopes":["events:read"],"expires_at":`+v+`}`, bearerJSON...)
		add("create rate_limit.window="+tag, "POST", "/api/v1/api-keys", `{"name":"x","scopes":["events:read"],"rate_limit":{"limit":1,"window":`+v+`}}`, bearerJSON...)
		add("create rate_limit.limit="+tag, "POST", "/api/v1/api-keys", `{"name":"x","scopes":["events:read"],"rate_limit":{"limit":`+h+`,"window":"1m"}}`, bearerJSON...)
		add("create "+tag+" member", "POST", "/api/v1/api-keys", `{`+v+`:1,"name":"x","scopes":["events:read"]}`, bearerJSON...)
		// Token claims, signed with the server's own secret.
		claims := fmt.Sprintf(`"exp":%d,"iat":%d`, now+600, now)
		add("token sub="+tag, "GET", "/api/v1/api-keys", "", bearer(rawJWT(s.jwtSecret(), `{"sub":`+v+`,"orgs":["org_123"],`+claims+`}`))...)
		add("token orgs="+tag, "GET", "/api/v1/api-keys", "", bearer(rawJWT(s.jwtSecret(), `{"sub":"u","orgs":[`+v+`],`+claims+`}`))...)
		add("token orgs="+tag+" audit", "GET", "/api/v1/audit-logs", "", bearer(rawJWT(s.jwtSecret(), `{"sub":"u","orgs":[`+v+`],`+claims+`}`))...)
		// Headers, where an HTTP client can send the value at all.
		if sendable(h) {
			add("X-API-Key="+tag, "GET", "/api/v1/auth/verify", "", "X-API-Key", h)
			add("X-API-Key="+tag+" management", "GET", "/api/v1/api-keys", "", "X-API-Key", h)
			add("Authorization=Bearer "+tag, "GET", "/api/v1/api-keys", "", "Authorization", "Bearer "+h)
			add("User-Agent="+tag, "POST", "/api/v1/api-keys", `{"name":"ua","scopes":["events:read"]}`, append(jsonBearer(tok), "User-Agent", h)...)
			add("X-Request-Id="+tag, "GET", "/api/v1/auth/verify", "", "X-API-Key", secret, "X-Request-Id", h)
			add("X-Original-Uri="+tag, "GET", "/api/v1/auth/verify", "", "X-API-Key", secret, "X-Original-Uri", h, "X-Original-Method", h)
		}
	}
	for _, path := range []string{"/api/v1/api-keys/", "/api/v1/auth/verify/", "/api/v1/audit-logs/", "/api/v1/api-keys/{id}/", "/api/v1/api-keys/{id}/usage/"} {
		add("trailing slash "+path, "GET", strings.ReplaceAll(path, "{id}", keyID), "", bearer(tok)...)
	}
	return out
}

// TestHostileInputNeverFails sends the hostile corpus to every route and
// parameter on every database: no answer is a 5xx, every error is the
// JSON envelope, the audit trail still verifies, the server logs no
// error, and every database gives the same answers (issue 11 §2).
func TestHostileInputNeverFails(t *testing.T) {
	answers := map[string]map[string]answer{}
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		keyID, secret := createKey(t, s, tok, `{"name":"probe","organization_id":"org_123","scopes":["events:read","api-keys:manage"]}`)
		got := map[string]answer{}
		for _, pr := range hostileProbes(s, tok, keyID, secret) {
			r := s.do(pr.method, pr.path, pr.body, pr.headers...)
			a := answer{status: r.status}
			if r.status >= 400 {
				var body struct {
					Error struct{ Code, Field, Message string } `json:"error"`
				}
				if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
					t.Errorf("%s: %d without the error envelope: %q", pr.name, r.status, r.body)
				}
				a.code, a.field = body.Error.Code, body.Error.Field
			}
			if r.status >= 500 {
				t.Errorf("%s: %d %s", pr.name, r.status, r.body)
			}
			if _, dup := got[pr.name]; dup {
				t.Fatalf("probe %s twice", pr.name)
			}
			got[pr.name] = a
		}
		// The audit trail took every event it was given, and verifies.
		time.Sleep(300 * time.Millisecond)
		if out := s.cli("audit", "verify"); !strings.Contains(out, "no problems found") {
			t.Errorf("audit verify after the corpus:\n%s", out)
		}
		if logs := s.logs(); strings.Contains(logs, `"level":"ERROR"`) || strings.Contains(logs, "panic") {
			t.Errorf("the server logged an error or a panic:\n%s", errorLines(logs))
		}
		answers[e.driver] = got
	})
	compareAnswers(t, answers)
}

// errorLines returns the ERROR lines of a server log.
func errorLines(logs string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, "panic") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// compareAnswers fails for every probe two databases answered differently.
func compareAnswers(t *testing.T, answers map[string]map[string]answer) {
	t.Helper()
	drivers := make([]string, 0, len(answers))
	for d := range answers {
		drivers = append(drivers, d)
	}
	sort.Strings(drivers)
	if len(drivers) < 2 {
		t.Logf("answers compared across %d database(s) only", len(drivers))
		return
	}
	ref := answers[drivers[0]]
	for _, d := range drivers[1:] {
		for name, a := range ref {
			if b, ok := answers[d][name]; !ok || a != b {
				t.Errorf("%s: %s answered %+v, %s answered %+v", name, drivers[0], a, d, b)
			}
		}
	}
}
