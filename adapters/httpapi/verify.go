package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

// verifyPath is the route of verify.
const verifyPath = "/api/v1/auth/verify"

// verify answers GET /api/v1/auth/verify: 200 with the key's identity for
// a valid key holding every scope asked for (scope=, repeatable), 401 with
// one body for any missing, unknown, revoked, expired or rotated-away key,
// 403 naming the scopes it lacks, 400 for a query it does not understand. Reverse proxies (nginx auth_request, Traefik ForwardAuth) call
// it and copy the X-Key-Id, X-Organization-Id and X-Scopes headers.
func (s *Server) verify(c *gin.Context) {
	ri := s.requestInfo(c)
	// A trusted proxy doing forward auth names the request it is checking.
	var err error
	if ri.Method, ri.Path, _, err = s.originalRequest(c); err != nil {
		s.writeError(c, err)
		return
	}
	scopes, err := verifyQuery(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	v, err := s.keys.Verify(c.Request.Context(), ports.VerifyInput{Secret: c.GetHeader(apiKeyHeader), Scopes: scopes, Request: ri})
	if err != nil {
		s.writeError(c, err)
		return
	}
	if !s.admit(c, v, verifyStatus(v.Outcome)) {
		return
	}
	s.answerVerified(c, v)
}

// answerVerified writes the 200 of a successful verification, the same
// from /auth/verify and the forward-auth endpoint: the budget and identity
// headers, X-Key-Secret ("current", or "previous" for the secret a
// rotation with a grace period replaced, with X-Key-Secret-Expires-At),
// and the identity as JSON.
func (s *Server) answerVerified(c *gin.Context, v ports.Verification) {
	budgetHeaders(c, v)
	k := v.Key
	h := c.Writer.Header()
	SetIdentity(h, k)
	secret := string(apikey.SecretCurrent)
	if k.Previous() {
		secret = string(apikey.SecretPrevious)
		if k.SecretExpiresAt != nil {
			h.Set("X-Key-Secret-Expires-At", k.SecretExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	h.Set("X-Key-Secret", secret)
	h.Set("Cache-Control", "no-store")
	body, err := verifyBody(verifyJSON{
		Valid: true, KeyID: k.KeyID, OrganizationID: k.OrganizationID, Environment: string(k.Environment),
		Scopes: scopeStrings(k.Scopes), Name: k.Name, ExpiresAt: k.ExpiresAt, RateLimit: budgetOf(v),
		Metadata: k.Metadata, Secret: secret, SecretExpiresAt: k.SecretExpiresAt,
	})
	if err != nil { // a struct of strings, times and numbers: never
		abort(c, http.StatusInternalServerError, "internal_error", "internal error", "")
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	c.Status(http.StatusOK)
	_, _ = c.Writer.Write(body)
}

// scopeParam is the one query parameter of GET /api/v1/auth/verify.
const scopeParam = "scope"

// verifyQuery returns the scope names a verification requires: every
// scope parameter (all are required). Any other parameter is refused with
// invalid_query naming it, so that a misspelt scope parameter (Scope,
// scope[], scopes) never silently verifies without the scope check.
func verifyQuery(c *gin.Context) ([]string, error) {
	if c.Request.URL.RawQuery == "" {
		return nil, nil
	}
	q := c.Request.URL.Query() // strictQuery has refused what does not parse
	for name := range q {
		if name != scopeParam {
			return nil, unknownParam(q, scopeParam)
		}
	}
	return q[scopeParam], nil
}

// unknownParam is the invalid_query refusal of the first parameter of q
// (in byte order, so the answer does not vary) not among known.
func unknownParam(q url.Values, known ...string) error {
	var names []string
	for name := range q {
		if !slices.Contains(known, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	name := names[0]
	if len(name) > 64 {
		name = strings.ToValidUTF8(name[:64], "") + "…"
	}
	return &apikey.ValidationError{Field: name, Code: "invalid_query",
		Message: fmt.Sprintf("unknown query parameter %q (this endpoint takes %s)", name, strings.Join(known, ", "))}
}
