package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/ports"
)

// verifyPath is the route of verify.
const verifyPath = "/api/v1/auth/verify"

// verify answers GET /api/v1/auth/verify: 200 with the key's identity for
// a valid key (and the required scope, if asked), 401 with one body for any
// missing, unknown, revoked, expired or rotated-away key, 403 when the scope
// is missing. Reverse proxies (nginx auth_request, Traefik ForwardAuth) call
// it and copy the X-Key-Id, X-Organization-Id and X-Scopes headers.
func (s *Server) verify(c *gin.Context) {
	ri := s.requestInfo(c)
	// A proxy doing forward auth names the request it is checking.
	// The query string is dropped: callers sometimes put secrets there.
	if uri := firstHeader(c, "X-Original-Uri", "X-Forwarded-Uri"); uri != "" {
		ri.Path, _, _ = strings.Cut(uri, "?")
	}
	if m := firstHeader(c, "X-Original-Method", "X-Forwarded-Method"); m != "" {
		ri.Method = m
	}
	v, err := s.keys.Verify(c.Request.Context(), ports.VerifyInput{Secret: c.GetHeader(apiKeyHeader), Scope: c.Query("scope"), Request: ri})
	if err != nil {
		s.writeError(c, err)
		return
	}
	if !s.admit(c, v, verifyStatus(v.Outcome)) {
		return
	}
	k := v.Key
	h := c.Writer.Header()
	h.Set("X-Key-Id", k.KeyID)
	h.Set("X-Organization-Id", k.OrganizationID)
	h.Set("X-Key-Environment", string(k.Environment))
	h.Set("X-Scopes", k.Scopes.Join(","))
	h.Set("Cache-Control", "no-store")
	c.JSON(http.StatusOK, verifyJSON{
		Valid: true, KeyID: k.KeyID, OrganizationID: k.OrganizationID, Environment: string(k.Environment),
		Scopes: scopeStrings(k.Scopes), Name: k.Name, ExpiresAt: k.ExpiresAt,
	})
}

func firstHeader(c *gin.Context, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(c.GetHeader(n)); v != "" {
			if len(v) > 2048 {
				v = v[:2048]
			}
			return v
		}
	}
	return ""
}
