package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

const principalKey = "apikeys.principal"

// authenticate proves the caller of a management endpoint: a bearer JWT, or
// an API key holding api-keys:manage (whose use is recorded like any other).
func (s *Server) authenticate(c *gin.Context) { s.authenticateFor(c, manageScopes) }

var manageScopes = []string{string(apikey.ScopeAPIKeysManage)}

// authenticateWith returns the middleware proving the caller of an
// endpoint whose API keys must hold scopes (none: any valid key, the use
// case deciding what it may do).
func (s *Server) authenticateWith(scopes ...apikey.Scope) gin.HandlerFunc {
	names := make([]string, len(scopes))
	for i, sc := range scopes {
		names[i] = string(sc)
	}
	return func(c *gin.Context) { s.authenticateFor(c, names) }
}

// authenticateFor proves the caller: a bearer JWT, or an API key holding
// scopes.
func (s *Server) authenticateFor(c *gin.Context, scopes []string) {
	authz := c.GetHeader("Authorization")
	secret := c.GetHeader(apiKeyHeader)
	switch {
	case authz != "" && secret != "":
		abort(c, http.StatusBadRequest, "ambiguous_credentials", "send either Authorization or X-API-Key, not both", "Authorization")
	case authz != "":
		scheme, token, ok := strings.Cut(authz, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			c.Header("WWW-Authenticate", `Bearer realm="apikeys"`)
			abort(c, http.StatusUnauthorized, codeUnauth, "Authorization must be \"Bearer <JWT>\"", "Authorization")
			return
		}
		p, err := s.tokens.Verify(c.Request.Context(), strings.TrimSpace(token))
		if err != nil {
			// Why, for the operator; the caller gets one answer whatever
			// the reason. The error never holds the token.
			s.log.DebugContext(c.Request.Context(), "bearer token refused",
				slog.Any("refusal", err), slog.String("request_id", requestID(c)))
			if errors.Is(err, apikey.ErrUnavailable) {
				s.writeError(c, err) // the token's provider is unreachable: 503, retry
				return
			}
			c.Header("WWW-Authenticate", `Bearer realm="apikeys", error="invalid_token"`)
			abort(c, http.StatusUnauthorized, "invalid_token", "the bearer token is invalid or expired", "Authorization")
			return
		}
		c.Set(principalKey, p)
		c.Next()
	case secret != "":
		v, err := s.keys.Verify(c.Request.Context(), ports.VerifyInput{
			Secret: secret, Scopes: scopes, Request: s.requestInfo(c),
		})
		if err != nil {
			s.writeError(c, err)
			return
		}
		// A refusal is recorded with its status; a success before the
		// operation has run, with the status not known yet (0).
		status := 0
		if v.Outcome != apikey.OutcomeOK {
			status = verifyStatus(v.Outcome)
		}
		if !s.admit(c, v, status) {
			return
		}
		c.Set(principalKey, apikey.Principal{KeyID: v.Key.KeyID, Organizations: []string{v.Key.OrganizationID},
			Scopes: v.Key.Scopes, Environment: v.Key.Environment})
		c.Next()
	default:
		c.Header("WWW-Authenticate", `Bearer realm="apikeys"`)
		abort(c, http.StatusUnauthorized, codeUnauth, msgUnauth, "")
	}
}

func principal(c *gin.Context) apikey.Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(apikey.Principal)
	return pr
}
