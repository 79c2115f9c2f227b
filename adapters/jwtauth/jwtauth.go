// Package jwtauth verifies the Bearer tokens that identify users of the
// management API: HS256 JSON Web Tokens carrying the user in "sub" and the
// organizations they may act for in "orgs". It also mints such tokens for
// the CLI and for tests.
package jwtauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/agentauri/apikeys/core/apikey"
)

// Limits.
const (
	MinSecretLen  = 32   // bytes
	MaxSubjectLen = 200  // characters
	MaxTokenLen   = 8192 // bytes; longer tokens are refused unparsed
)

const alg = "HS256"

// Config configures a Verifier.
type Config struct {
	Secret   []byte        // HMAC key, at least MinSecretLen bytes
	Issuer   string        // required "iss" when not empty
	Audience string        // required in "aud" when not empty
	Leeway   time.Duration // clock skew allowed on exp, nbf and iat
}

// Error is a token verification failure. Reason is short and public (it
// never contains the token); errors.Is(err, apikey.ErrUnauthenticated) holds.
type Error struct {
	Reason string
}

// Error returns "unauthenticated: " followed by the reason.
// Error returns "unauthenticated: " followed by the reason.
func (e *Error) Error() string { return "unauthenticated: " + e.Reason }

// Unwrap returns apikey.ErrUnauthenticated.
func (e *Error) Unwrap() error { return apikey.ErrUnauthenticated }

// Public reasons of verification failures.
const (
	ReasonMissing         = "missing token"
	ReasonTooLong         = "token too long"
	ReasonMalformed       = "token malformed"
	ReasonMethod          = "unexpected signing method"
	ReasonSignature       = "token signature invalid"
	ReasonNoExp           = "token has no exp"
	ReasonExpired         = "token expired"
	ReasonNotYetValid     = "token not valid yet"
	ReasonIssuedInFuture  = "token issued in the future"
	ReasonNoIssuer        = "token has no iss"
	ReasonIssuer          = "token issuer invalid"
	ReasonNoAudience      = "token has no aud"
	ReasonAudience        = "token audience invalid"
	ReasonNoSubject       = "token has no sub"
	ReasonSubjectTooLong  = "token sub too long"
	ReasonOrgsType        = "token orgs must be an array of strings"
	ReasonOrgsEmptyString = "token orgs must not contain empty strings"
	ReasonInvalid         = "token invalid"
)

func fail(reason string) error { return &Error{Reason: reason} }

// Verifier checks and mints tokens. It is safe for concurrent use.
type Verifier struct {
	secret   []byte
	issuer   string
	audience string
	parser   *jwt.Parser
	now      func() time.Time // nil means time.Now; tests may set it
}

// New returns a Verifier for cfg. It refuses a secret shorter than
// MinSecretLen bytes and a negative leeway, and copies the secret.
func New(cfg Config) (*Verifier, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("jwtauth: secret must be at least %d bytes, got %d", MinSecretLen, len(cfg.Secret))
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("jwtauth: leeway must not be negative, got %s", cfg.Leeway)
	}
	v := &Verifier{secret: append([]byte(nil), cfg.Secret...), issuer: cfg.Issuer, audience: cfg.Audience}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{alg}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithStrictDecoding(), // one encoding per token: no malleable signature bits
		jwt.WithTimeFunc(v.clock),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

func (v *Verifier) clock() time.Time {
	if v.now != nil {
		return v.now()
	}
	return time.Now()
}

// claims is what Verify reads. orgs is decoded after the signature has been
// checked, so an unsigned token learns nothing about claim validation.
type claims struct {
	jwt.RegisteredClaims
	Orgs json.RawMessage `json:"orgs,omitempty"`
}

// Verify checks token and returns the user it proves. Every failure is an
// *Error wrapping apikey.ErrUnauthenticated.
func (v *Verifier) Verify(token string) (apikey.Principal, error) {
	if token == "" {
		return apikey.Principal{}, fail(ReasonMissing)
	}
	if len(token) > MaxTokenLen {
		return apikey.Principal{}, fail(ReasonTooLong)
	}
	var c claims
	tok, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, errors.New("unexpected signing method")
		}
		return v.secret, nil
	})
	if err != nil {
		return apikey.Principal{}, fail(v.reason(tok, &c, err))
	}
	if c.Subject == "" {
		return apikey.Principal{}, fail(ReasonNoSubject)
	}
	if utf8.RuneCountInString(c.Subject) > MaxSubjectLen {
		return apikey.Principal{}, fail(ReasonSubjectTooLong)
	}
	orgs := []string{}
	if len(c.Orgs) > 0 && string(c.Orgs) != "null" {
		if err := json.Unmarshal(c.Orgs, &orgs); err != nil || orgs == nil {
			return apikey.Principal{}, fail(ReasonOrgsType)
		}
	}
	for _, o := range orgs {
		if o == "" {
			return apikey.Principal{}, fail(ReasonOrgsEmptyString)
		}
	}
	return apikey.Principal{Subject: c.Subject, Organizations: orgs}, nil
}

// reason maps a parser error to a public reason. Checks go from the token's
// shape to its signature to its claims, so that the first defect is named.
func (v *Verifier) reason(tok *jwt.Token, c *claims, err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ReasonMalformed
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return ReasonMethod
	case tok != nil && tok.Method != nil && tok.Method.Alg() != alg:
		return ReasonMethod
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ReasonSignature
	case c.ExpiresAt == nil:
		return ReasonNoExp
	case errors.Is(err, jwt.ErrTokenExpired):
		return ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonIssuedInFuture
	case v.issuer != "" && c.Issuer == "":
		return ReasonNoIssuer
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ReasonIssuer
	case v.audience != "" && len(c.Audience) == 0:
		return ReasonNoAudience
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ReasonAudience
	}
	return ReasonInvalid
}

// mintClaims is what Mint writes.
type mintClaims struct {
	jwt.RegisteredClaims
	Orgs []string `json:"orgs"`
}

// Mint returns an HS256 token for sub and orgs, issued at now and expiring
// ttl later, with the configured issuer and audience. It refuses what
// Verify would refuse: an empty or over-long sub, an empty organization,
// and a non-positive ttl.
func (v *Verifier) Mint(sub string, orgs []string, ttl time.Duration, now time.Time) (string, error) {
	switch {
	case sub == "":
		return "", errors.New("jwtauth: sub is empty")
	case utf8.RuneCountInString(sub) > MaxSubjectLen:
		return "", fmt.Errorf("jwtauth: sub longer than %d characters", MaxSubjectLen)
	case ttl <= 0:
		return "", fmt.Errorf("jwtauth: ttl must be positive, got %s", ttl)
	}
	for i, o := range orgs {
		if o == "" {
			return "", fmt.Errorf("jwtauth: orgs[%d] is empty", i)
		}
	}
	c := mintClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			Issuer:    v.issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Orgs: append([]string{}, orgs...),
	}
	if v.audience != "" {
		c.Audience = jwt.ClaimStrings{v.audience}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(v.secret)
	if err != nil {
		return "", fmt.Errorf("jwtauth: sign token: %w", err)
	}
	return s, nil
}
