package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWTRejected sends every kind of bad bearer token a careless verifier
// accepts, and checks each gets the same 401.
func TestJWTRejected(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e, "APIKEYS_JWT_ISSUER=https://auth.example.test", "APIKEYS_JWT_AUDIENCE=apikeys")
		secret := s.jwtSecret()
		now := time.Now()
		good := jwt.MapClaims{"sub": "user_1", "orgs": []string{"org_123"}, "exp": now.Add(time.Hour).Unix(),
			"iat": now.Add(-time.Minute).Unix(), "iss": "https://auth.example.test", "aud": "apikeys"}
		with := func(k string, v any) jwt.MapClaims {
			c := jwt.MapClaims{}
			for a, b := range good {
				c[a] = b
			}
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
			return c
		}
		valid := sign(t, jwt.SigningMethodHS256, secret, good)
		want(t, s.do("GET", "/api/v1/api-keys", "", bearer(valid)...), 200)
		// the CLI's token carries the configured issuer and audience
		want(t, s.do("GET", "/api/v1/api-keys", "", bearer(s.token("user_1", "org_123"))...), 200)

		none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
		parts := strings.Split(valid, ".")
		tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		bad := map[string]string{
			"alg none":          none,
			"HS384 same secret": sign(t, jwt.SigningMethodHS384, secret, good),
			"HS512 same secret": sign(t, jwt.SigningMethodHS512, secret, good),
			"other secret":      sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-another"), good),
			"expired":           sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-time.Hour).Unix())),
			"no exp":            sign(t, jwt.SigningMethodHS256, secret, with("exp", nil)),
			"wrong issuer":      sign(t, jwt.SigningMethodHS256, secret, with("iss", "https://evil.test")),
			"no issuer":         sign(t, jwt.SigningMethodHS256, secret, with("iss", nil)),
			"wrong audience":    sign(t, jwt.SigningMethodHS256, secret, with("aud", "other")),
			"not yet valid":     sign(t, jwt.SigningMethodHS256, secret, with("nbf", now.Add(time.Hour).Unix())),
			"no sub":            sign(t, jwt.SigningMethodHS256, secret, with("sub", nil)),
			"no iat (max_ttl)":  sign(t, jwt.SigningMethodHS256, secret, with("iat", nil)),
			"valid 100 years":   sign(t, jwt.SigningMethodHS256, secret, with("exp", now.AddDate(100, 0, 0).Unix())),
			"exp as a string":   sign(t, jwt.SigningMethodHS256, secret, with("exp", fmt.Sprint(now.Add(time.Hour).Unix()))),
			"EXP not exp":       sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "user_1", "iat": good["iat"], "EXP": good["exp"], "iss": good["iss"], "aud": good["aud"]}),
			"sub with newline":  sign(t, jwt.SigningMethodHS256, secret, with("sub", "user_1\nadmin")),
			"sub with NUL":      sign(t, jwt.SigningMethodHS256, secret, with("sub", "user\x00")),
			"org with space":    sign(t, jwt.SigningMethodHS256, secret, with("orgs", []string{"org_123 "})),
			"org with NUL":      sign(t, jwt.SigningMethodHS256, secret, with("orgs", []string{"org\x00"})),
			"crit header":       rawHS256(secret, `{"alg":"HS256","crit":["exp"]}`, good),
			"typ JOSE":          rawHS256(secret, `{"alg":"HS256","typ":"JOSE"}`, good),
			"duplicate orgs":    rawHS256(secret, `{"alg":"HS256"}`, good, `"orgs":["org_456"]`),
			"tampered":          tampered,
			"garbage":           "not.a.jwt",
		}
		for name, tok := range bad {
			r := s.do("GET", "/api/v1/api-keys", "", bearer(tok)...)
			if r.status != 401 {
				t.Errorf("%s: status %d: %s", name, r.status, r.body)
				continue
			}
			if code, _ := r.errorCode(t); code != "invalid_token" {
				t.Errorf("%s: code %q", name, code)
			}
			if strings.Contains(string(r.body), tok) {
				t.Errorf("%s: token echoed", name)
			}
		}
		for _, h := range [][]string{{}, {"Authorization", "Basic dXNlcjpwYXNz"}, {"Authorization", "Bearer "}} {
			r := s.do("GET", "/api/v1/api-keys", "", h...)
			if r.status != 401 {
				t.Errorf("%v: status %d", h, r.status)
			}
			r.errorCode(t)
		}
		if strings.Contains(s.logs(), valid) {
			t.Fatal("a token reached the log")
		}
		// Claim names are exact: ORGS is not orgs, so this token acts for
		// org_123 only, never org_456.
		mixed := sign(t, jwt.SigningMethodHS256, secret, with("ORGS", []string{"org_456"}))
		want(t, s.do("GET", "/api/v1/api-keys?organization_id=org_123", "", bearer(mixed)...), 200)
		want(t, s.do("GET", "/api/v1/api-keys?organization_id=org_456", "", bearer(mixed)...), 403)
	})
}

// rawHS256 signs a hand-written header over claims, plus extra JSON
// members appended verbatim (to repeat a member name).
func rawHS256(secret []byte, header string, claims jwt.MapClaims, extra ...string) string {
	payload, _ := json.Marshal(claims)
	if len(extra) > 0 {
		payload = append(payload[:len(payload)-1], []byte(","+strings.Join(extra, ",")+"}")...)
	}
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(payload)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(head))
	return head + "." + enc.EncodeToString(m.Sum(nil))
}

// TestCrossOrganizationIsNotFound checks another organization's key looks
// exactly like a key that does not exist.
func TestCrossOrganizationIsNotFound(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		owner := s.token("user_1", "org_123")
		other := s.token("user_2", "org_456")
		r := s.do("POST", "/api/v1/api-keys", `{"name":"A","organization_id":"org_123","scopes":["events:read"]}`, jsonBearer(owner)...)
		want(t, r, 201)
		id := r.json(t)["id"].(string)
		secret := r.json(t)["key"].(string)

		r = s.do("POST", "/api/v1/api-keys", `{"name":"M","organization_id":"org_456","scopes":["api-keys:manage","events:read"]}`, jsonBearer(other)...)
		want(t, r, 201)
		otherKey := r.json(t)["key"].(string)

		unknown := s.do("GET", "/api/v1/api-keys/key_DoesNotExist0000", "", bearer(other)...)
		want(t, unknown, 404)
		for _, creds := range [][]string{bearer(other), {"X-API-Key", otherKey}} {
			for _, req := range []struct{ method, path string }{
				{"GET", "/api/v1/api-keys/" + id},
				{"POST", "/api/v1/api-keys/" + id + "/rotate"},
				{"DELETE", "/api/v1/api-keys/" + id},
			} {
				r := s.do(req.method, req.path, "", creds...)
				if r.status != 404 || string(r.body) != string(unknown.body) {
					t.Errorf("%s %s with %s: %d %s (unknown id answers %s)", req.method, req.path, creds[0], r.status, r.body, unknown.body)
				}
			}
		}
		r = s.do("GET", "/api/v1/api-keys?organization_id=org_123", "", bearer(other)...)
		want(t, r, 403)
		r = s.do("POST", "/api/v1/api-keys", `{"name":"x","organization_id":"org_123","scopes":["events:read"]}`, jsonBearer(other)...)
		want(t, r, 403)
		r = s.do("GET", "/api/v1/api-keys", "", bearer(other)...)
		if strings.Contains(string(r.body), id) {
			t.Fatal("other organization's key listed")
		}
		// The key still works: nothing above touched it.
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret), 200)
	})
}

var allScopes = []string{"triggers:read", "triggers:write", "events:read", "organizations:read", "organizations:write", "api-keys:manage"}

func subset(mask int) []string {
	var out []string
	for i, s := range allScopes {
		if mask&(1<<i) != 0 {
			out = append(out, s)
		}
	}
	return out
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// TestKeyCannotEscalateScopes gives a caller key every subset of the six
// scopes and checks what it may create: only with api-keys:manage, and
// only scopes it holds itself.
func TestKeyCannotEscalateScopes(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		manage := 1 << 5
		for mask := 1; mask < 64; mask++ {
			have := subset(mask)
			r := s.do("POST", "/api/v1/api-keys", fmt.Sprintf(`{"name":"caller %d","organization_id":"org_123","scopes":%s}`, mask, quoteAll(have)), jsonBearer(tok)...)
			want(t, r, 201)
			caller := r.json(t)["key"].(string)
			hdr := []string{"X-API-Key", caller, "Content-Type", "application/json"}
			for _, w := range []int{mask, 63, mask | (1 << (mask % 5)), 1} {
				req := subset(w)
				r := s.do("POST", "/api/v1/api-keys", fmt.Sprintf(`{"name":"child","scopes":%s}`, quoteAll(req)), hdr...)
				allowed := mask&manage != 0 && w&^mask == 0
				switch {
				case allowed && r.status != 201:
					t.Fatalf("have %v create %v: %d %s", have, req, r.status, r.body)
				case !allowed && r.status != 403:
					t.Fatalf("have %v create %v: %d %s, want 403", have, req, r.status, r.body)
				case !allowed:
					if code, _ := r.errorCode(t); code != "insufficient_scope" {
						t.Fatalf("code %s", code)
					}
				case allowed:
					if r.json(t)["organization_id"] != "org_123" {
						t.Fatalf("child key org %s", r.body)
					}
				}
			}
		}
	})
}

// TestVerifyFailuresLookAlike checks that every kind of bad key gets the
// same 401 body, so a caller learns nothing about why.
func TestVerifyFailuresLookAlike(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		mk := func(body string) (string, string) {
			r := s.do("POST", "/api/v1/api-keys", body, jsonBearer(tok)...)
			want(t, r, 201)
			return r.json(t)["id"].(string), r.json(t)["key"].(string)
		}
		_, live := mk(`{"name":"live","scopes":["events:read"],"environment":"live"}`)
		if !strings.HasPrefix(live, "sk_live_") {
			t.Fatalf("live key %q", live)
		}
		revokedID, revoked := mk(`{"name":"r","scopes":["events:read"]}`)
		rotatedID, rotated := mk(`{"name":"o","scopes":["events:read"]}`)
		exp := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
		_, expiring := mk(`{"name":"e","scopes":["events:read"],"expires_at":"` + exp + `"}`)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", expiring), 200)
		want(t, s.do("DELETE", "/api/v1/api-keys/"+revokedID, "", bearer(tok)...), 204)
		want(t, s.do("POST", "/api/v1/api-keys/"+rotatedID+"/rotate", "", bearer(tok)...), 200)
		time.Sleep(1600 * time.Millisecond) // past the expiry

		last := "a"
		if live[len(live)-1] == 'a' {
			last = "b"
		}
		checksum := live[:len(live)-1] + last
		random := "sk_test_" + strings.Repeat("A", 32)
		cases := map[string][]string{
			"missing":   {},
			"empty":     {"X-API-Key", ""},
			"malformed": {"X-API-Key", "sk_test_abc123def456ghi789jkl012mno345"},
			"checksum":  {"X-API-Key", checksum},
			"random":    {"X-API-Key", random},
			"revoked":   {"X-API-Key", revoked},
			"rotated":   {"X-API-Key", rotated},
			"expired":   {"X-API-Key", expiring},
		}
		var first string
		for name, h := range cases {
			r := s.do("GET", "/api/v1/auth/verify", "", h...)
			if r.status != 401 {
				t.Errorf("%s: %d %s", name, r.status, r.body)
				continue
			}
			if first == "" {
				first = string(r.body)
			}
			if string(r.body) != first {
				t.Errorf("%s: body %s differs from %s", name, r.body, first)
			}
		}
		r := s.do("GET", "/api/v1/auth/verify?scope=triggers:write", "", "X-API-Key", live)
		want(t, r, 403)
		if code, _ := r.errorCode(t); code != "insufficient_scope" {
			t.Fatalf("code %s", code)
		}
		r = s.do("GET", "/api/v1/auth/verify?scope=triggers:admin", "", "X-API-Key", live)
		want(t, r, 400)
		if code, field := r.errorCode(t); code != "invalid_scope" || field != "scope" {
			t.Fatalf("code %s field %s", code, field)
		}
		r = s.do("GET", "/api/v1/auth/verify?scope=events:read", "", "X-API-Key", live)
		want(t, r, 200)
		if r.header.Get("X-Key-Environment") != "live" || r.json(t)["environment"] != "live" {
			t.Fatalf("environment %s", r.body)
		}
	})
}

// TestManagementWithAPIKey uses a key holding api-keys:manage instead of a
// JWT, and a key without it.
func TestManagementWithAPIKey(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		r := s.do("POST", "/api/v1/api-keys", `{"name":"admin","organization_id":"org_123","scopes":["api-keys:manage","triggers:read"]}`, jsonBearer(tok)...)
		want(t, r, 201)
		admin := r.json(t)["key"].(string)
		r = s.do("POST", "/api/v1/api-keys", `{"name":"reader","organization_id":"org_123","scopes":["triggers:read"]}`, jsonBearer(tok)...)
		want(t, r, 201)
		reader := r.json(t)["key"].(string)
		readerID := r.json(t)["id"].(string)

		r = s.do("GET", "/api/v1/api-keys", "", "X-API-Key", admin)
		want(t, r, 200)
		if r.json(t)["total"] != float64(2) {
			t.Fatalf("list %s", r.body)
		}
		r = s.do("POST", "/api/v1/api-keys/"+readerID+"/rotate", "", "X-API-Key", admin)
		want(t, r, 200)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", reader), 401)
		want(t, s.do("DELETE", "/api/v1/api-keys/"+readerID, "", "X-API-Key", admin), 204)

		r = s.do("POST", "/api/v1/api-keys", `{"name":"x","organization_id":"org_123","scopes":["triggers:read"]}`, jsonBearer(tok)...)
		noManage := r.json(t)["key"].(string)
		r = s.do("GET", "/api/v1/api-keys", "", "X-API-Key", noManage)
		want(t, r, 403)
		r = s.do("GET", "/api/v1/api-keys", "", "X-API-Key", "sk_test_"+strings.Repeat("B", 32))
		want(t, r, 401)
		r = s.do("GET", "/api/v1/api-keys", "", "X-API-Key", admin, "Authorization", "Bearer "+tok)
		want(t, r, 400)
	})
}

// TestTokenCommandRefusals: `apikeys token` refuses to print a token the
// service would refuse or that could manage nothing.
func TestTokenCommandRefusals(t *testing.T) {
	s := start(t, env{driver: "sqlite"})
	for args, msg := range map[string]string{
		"token --sub user_1":                       "--org is required",
		"token --sub user_1 --org org_1 --ttl 48h": "exceeds jwt.max_ttl",
		"token --sub user_1 --org bad_org!":        "not an organization id",
	} {
		cmd := exec.Command(binary, append(strings.Fields(args), "--config", filepath.Join("..", "..", "configs", "default.yaml"))...)
		cmd.Env = s.env
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), msg) {
			t.Errorf("apikeys %s: %v, %s; want a failure saying %q", args, err, out, msg)
		}
	}
}
