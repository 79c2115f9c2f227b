package jwtauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/agentauri/apikeys/core/apikey"
)

var (
	ctx    = context.Background()
	secret = []byte("test-secret-of-at-least-32-bytes!!")
	now    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func newVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = secret
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v.setNow(func() time.Time { return now })
	return v
}

// sign makes a token with arbitrary claims and method.
func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// valid returns claims Verify accepts at now (issuer and audience aside).
func valid() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":  "user_1",
		"orgs": []any{"org_a", "org_b"},
		"iat":  now.Add(-time.Minute).Unix(),
		"exp":  now.Add(time.Hour).Unix(),
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// hmacToken signs header.payload with secret using HMAC-SHA256 whatever the
// header says: the algorithm-confusion attack.
func hmacToken(header, payload string, key []byte) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(head))
	return head + "." + enc.EncodeToString(m.Sum(nil))
}

func wantReason(t *testing.T, v *Verifier, token, reason string) {
	t.Helper()
	p, err := v.Verify(ctx, token)
	if err == nil {
		t.Fatalf("Verify succeeded with %+v, want %q", p, reason)
	}
	if !errors.Is(err, apikey.ErrUnauthenticated) {
		t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Reason != reason {
		t.Fatalf("Verify error = %q, want reason %q", err, reason)
	}
	if token != "" && strings.Contains(err.Error(), token) {
		t.Fatal("error contains the token")
	}
	if p.Subject != "" || p.Organizations != nil {
		t.Fatalf("failed Verify returned principal %+v", p)
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{Secret: secret[:MinSecretLen-1]}); err == nil {
		t.Fatal("New accepted a short secret")
	} else if strings.Contains(err.Error(), string(secret[:MinSecretLen-1])) {
		t.Fatal("error reveals the secret")
	}
	if _, err := New(Config{Secret: secret, Leeway: -time.Second}); err == nil {
		t.Fatal("New accepted a negative leeway")
	}
	key := slices.Clone(secret)
	v, err := New(Config{Secret: key})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Mint("u", nil, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	clear(key) // the verifier keeps its own copy
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("Verify after the caller cleared its secret: %v", err)
	}
}

func TestValidToken(t *testing.T) {
	v := newVerifier(t, Config{})
	p, err := v.Verify(ctx, sign(t, jwt.SigningMethodHS256, secret, valid()))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "user_1" || !slices.Equal(p.Organizations, []string{"org_a", "org_b"}) || p.KeyID != "" {
		t.Fatalf("Verify = %+v", p)
	}
	if p.Actor() != "user:user_1" || !p.MemberOf("org_b") {
		t.Fatalf("principal %+v", p)
	}
}

func TestOrgs(t *testing.T) {
	v := newVerifier(t, Config{})
	for name, orgs := range map[string]any{"empty": []any{}, "absent": nil} {
		t.Run(name, func(t *testing.T) {
			c := with(valid(), "orgs", orgs)
			if orgs == nil {
				delete(c, "orgs")
			}
			p, err := v.Verify(ctx, sign(t, jwt.SigningMethodHS256, secret, c))
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Organizations) != 0 || p.MemberOf("") {
				t.Fatalf("Organizations = %q", p.Organizations)
			}
		})
	}
	null := hmacToken(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"u","orgs":null,"exp":`+itoa(now.Add(time.Hour).Unix())+`}`, secret)
	if p, err := v.Verify(ctx, null); err != nil || len(p.Organizations) != 0 {
		t.Fatalf("orgs null: %+v, %v", p, err)
	}
	bad := map[string]any{
		"string":        "org_a",
		"number":        7,
		"object":        map[string]any{"org_a": true},
		"numbers":       []any{1, 2},
		"mixed":         []any{"org_a", 2},
		"nested arrays": []any{[]any{"org_a"}},
		"bool":          true,
	}
	for name, orgs := range bad {
		t.Run(name, func(t *testing.T) {
			wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "orgs", orgs)), ReasonOrgsType)
		})
	}
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "orgs", []any{"org_a", ""})), ReasonOrganization)
	nullElem := hmacToken(`{"alg":"HS256"}`, `{"sub":"u","orgs":["a",null],"exp":`+itoa(now.Add(time.Hour).Unix())+`}`, secret)
	wantReason(t, v, nullElem, ReasonOrgsType)
}

func itoa(n int64) string {
	b, _ := jwt.NewNumericDate(time.Unix(n, 0)).MarshalJSON()
	return string(b)
}

func TestSubject(t *testing.T) {
	v := newVerifier(t, Config{})
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "sub", nil)), ReasonNoSubject)
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "sub", "")), ReasonNoSubject)
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "sub", strings.Repeat("x", 201))), ReasonSubject)
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "sub", 42)), ReasonSubject)
	// 200 characters, more than 200 bytes: accepted.
	long := strings.Repeat("é", MaxSubjectLen)
	p, err := v.Verify(ctx, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "sub", long)))
	if err != nil || p.Subject != long {
		t.Fatalf("200-character sub: %v", err)
	}
}

func TestSigningMethods(t *testing.T) {
	v := newVerifier(t, Config{})
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid())
	wantReason(t, v, none, ReasonMethod)
	wantReason(t, v, strings.TrimSuffix(none, ".")+".c2ln", ReasonMethod)
	wantReason(t, v, sign(t, jwt.SigningMethodHS384, secret, valid()), ReasonMethod)
	wantReason(t, v, sign(t, jwt.SigningMethodHS512, secret, valid()), ReasonMethod)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, v, sign(t, jwt.SigningMethodRS256, rsaKey, valid()), ReasonMethod)
	// Algorithm confusion: an RS256 header over an HMAC made with the secret.
	payload := `{"sub":"user_1","orgs":[],"exp":` + itoa(now.Add(time.Hour).Unix()) + `}`
	wantReason(t, v, hmacToken(`{"alg":"RS256","typ":"JWT"}`, payload, secret), ReasonMethod)
	wantReason(t, v, hmacToken(`{"alg":"HS256 ","typ":"JWT"}`, payload, secret), ReasonMethod)
	wantReason(t, v, hmacToken(`{"alg":"hs256","typ":"JWT"}`, payload, secret), ReasonMethod)
	wantReason(t, v, hmacToken(`{"typ":"JWT"}`, payload, secret), ReasonMethod)
	wantReason(t, v, hmacToken(`{"alg":256}`, payload, secret), ReasonMethod)
	// The same construction with HS256 is a valid token: the test is sound.
	if _, err := v.Verify(ctx, hmacToken(`{"alg":"HS256","typ":"JWT"}`, payload, secret)); err != nil {
		t.Fatalf("hand-made HS256 token: %v", err)
	}
}

func TestSignature(t *testing.T) {
	v := newVerifier(t, Config{})
	tok := sign(t, jwt.SigningMethodHS256, secret, valid())
	dot := strings.LastIndexByte(tok, '.')
	sig := []byte(tok[dot+1:])
	sig[0] ^= 0x01
	wantReason(t, v, tok[:dot+1]+string(sig), ReasonSignature)
	wantReason(t, v, tok[:dot+1], ReasonSignature)

	// Changing the payload under the original signature.
	parts := strings.Split(tok, ".")
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","orgs":["org_a","org_b","org_c"],"exp":` +
		itoa(now.Add(time.Hour).Unix()) + `}`))
	wantReason(t, v, parts[0]+"."+forged+"."+parts[2], ReasonSignature)

	other := []byte("another-secret-of-at-least-32-bytes")
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, other, valid()), ReasonSignature)

	// The last base64 character of a 32-byte signature has two unused bits;
	// strict decoding refuses variants that differ only there.
	last := tok[len(tok)-1]
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		if byte(c) == last {
			continue
		}
		if _, err := v.Verify(ctx, tok[:len(tok)-1]+string(c)); err == nil {
			t.Fatalf("token with last character %c accepted", c)
		}
	}
}

func TestMalformed(t *testing.T) {
	v := newVerifier(t, Config{})
	wantReason(t, v, "", ReasonMissing)
	wantReason(t, v, strings.Repeat("a", MaxTokenLen+1), ReasonTooLong)
	for _, tok := range []string{"abc", "a.b", "a.b.c.d", "!!.!!.!!", "e30.bm90IGpzb24.c2ln"} {
		wantReason(t, v, tok, ReasonMalformed)
	}
	wantReason(t, v, "e30.e30.", ReasonMethod) // header {} names no algorithm
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "exp", "tomorrow")), ReasonDateType)
}

func TestExpiry(t *testing.T) {
	v := newVerifier(t, Config{})
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "exp", nil)), ReasonNoExp)
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "exp", now.Unix())), ReasonExpired)
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "exp", now.Add(-time.Hour).Unix())), ReasonExpired)

	lenient := newVerifier(t, Config{Leeway: 30 * time.Second})
	if _, err := lenient.Verify(ctx, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "exp", now.Add(-20*time.Second).Unix()))); err != nil {
		t.Fatalf("token expired 20s ago with 30s leeway: %v", err)
	}
	wantReason(t, lenient, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "exp", now.Add(-40*time.Second).Unix())), ReasonExpired)
}

func TestNotBeforeAndIssuedAt(t *testing.T) {
	v := newVerifier(t, Config{})
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "nbf", now.Add(time.Minute).Unix())), ReasonNotYetValid)
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "nbf", now.Add(-time.Minute).Unix()))); err != nil {
		t.Fatalf("nbf in the past: %v", err)
	}
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "iat", now.Add(time.Minute).Unix())), ReasonIssuedInFuture)
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "iat", nil))); err != nil {
		t.Fatalf("no iat: %v", err)
	}

	lenient := newVerifier(t, Config{Leeway: time.Minute})
	for _, claim := range []string{"nbf", "iat"} {
		tok := sign(t, jwt.SigningMethodHS256, secret, with(valid(), claim, now.Add(30*time.Second).Unix()))
		if _, err := lenient.Verify(ctx, tok); err != nil {
			t.Fatalf("%s 30s ahead with 1m leeway: %v", claim, err)
		}
	}
}

func TestIssuerAudience(t *testing.T) {
	v := newVerifier(t, Config{Issuer: "https://auth.example", Audience: "apikeys"})
	good := with(valid(), "iss", "https://auth.example", "aud", "apikeys")
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodHS256, secret, good)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodHS256, secret, with(good, "aud", []any{"other", "apikeys"}))); err != nil {
		t.Fatalf("aud array containing ours: %v", err)
	}
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(good, "iss", "https://evil.example")), ReasonIssuer)
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(good, "iss", nil)), ReasonNoIssuer)
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(good, "aud", "other")), ReasonAudience)
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(good, "aud", []any{"a", "b"})), ReasonAudience)
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, with(good, "aud", nil)), ReasonNoAudience)

	// Unconfigured, iss and aud are not checked.
	plain := newVerifier(t, Config{})
	if _, err := plain.Verify(ctx, sign(t, jwt.SigningMethodHS256, secret, with(valid(), "iss", "anyone", "aud", "anything"))); err != nil {
		t.Fatal(err)
	}
}

func TestMint(t *testing.T) {
	v := newVerifier(t, Config{Issuer: "apikeys-cli", Audience: "apikeys"})
	tok, err := v.Mint("alice", []string{"org_a"}, time.Hour, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "alice" || !slices.Equal(p.Organizations, []string{"org_a"}) {
		t.Fatalf("Verify(Mint) = %+v", p)
	}
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sub", "orgs", "iat", "exp", "iss", "aud"} {
		if _, ok := c[k]; !ok {
			t.Errorf("minted token lacks %q", k)
		}
	}
	if exp, _ := c.GetExpirationTime(); !exp.Equal(now.Add(59 * time.Minute)) {
		t.Errorf("exp = %v", exp)
	}

	noOrgs, err := v.Mint("bob", nil, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mustSegment(t, noOrgs, 1)), `"orgs":[]`) {
		t.Errorf("token without orgs does not carry an empty array: %s", mustSegment(t, noOrgs, 1))
	}

	expired, err := v.Mint("alice", nil, time.Minute, now.Add(-2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, v, expired, ReasonExpired)

	for name, f := range map[string]func() (string, error){
		"empty sub":   func() (string, error) { return v.Mint("", nil, time.Hour, now) },
		"long sub":    func() (string, error) { return v.Mint(strings.Repeat("x", 201), nil, time.Hour, now) },
		"empty org":   func() (string, error) { return v.Mint("a", []string{"org", ""}, time.Hour, now) },
		"zero ttl":    func() (string, error) { return v.Mint("a", nil, 0, now) },
		"negative tt": func() (string, error) { return v.Mint("a", nil, -time.Hour, now) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("Mint with %s succeeded", name)
		}
	}

	// A token minted without issuer/audience fails a verifier requiring them.
	bare := newVerifier(t, Config{})
	tok, err = bare.Mint("alice", nil, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, v, tok, ReasonNoIssuer)
}

func mustSegment(t *testing.T, tok string, i int) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRealClock(t *testing.T) {
	v, err := New(Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Mint("alice", nil, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkVerify(b *testing.B) {
	v, err := New(Config{Secret: secret, Issuer: "i", Audience: "a"})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := v.Mint("alice", []string{"org_a", "org_b"}, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
