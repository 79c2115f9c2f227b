package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/routes"
	"github.com/agentauri/apikeys/ports"
)

// Identity headers: what the forward-auth endpoint answers and the gateway
// adds to proxied requests, in canonical form.
const (
	hdrKeyID       = "X-Key-Id"
	hdrOrgID       = "X-Organization-Id"
	hdrScopes      = "X-Scopes"
	hdrEnvironment = "X-Key-Environment"
)

// identityHeaders are the headers a client must never choose: the gateway
// removes any it sent before adding its own.
var identityHeaders = []string{hdrKeyID, hdrOrgID, hdrScopes, hdrEnvironment}

// SetIdentity writes the identity headers of verified key k into h:
// X-Key-Id, X-Organization-Id, X-Key-Environment and X-Scopes
// (comma-separated).
func SetIdentity(h http.Header, k apikey.Verified) {
	h[hdrKeyID] = []string{k.KeyID}
	h[hdrOrgID] = []string{k.OrganizationID}
	h[hdrEnvironment] = []string{string(k.Environment)}
	h[hdrScopes] = []string{k.Scopes.Join(",")}
}

// stripIdentity removes every header a client could forge identity with:
// the identity headers and any other X-Key-* header.
func stripIdentity(h http.Header) {
	for _, n := range identityHeaders {
		delete(h, n)
	}
	for n := range h {
		if len(n) > 6 && strings.EqualFold(n[:6], "X-Key-") {
			delete(h, n)
		}
	}
}

// edgeSecret returns the key the request presents at the edge
// (EdgeSecret).
func (s *Server) edgeSecret(c *gin.Context) (secret string, fromBearer bool, err error) {
	return EdgeSecret(c.GetHeader(apiKeyHeader), c.GetHeader("Authorization"), s.acceptBearer)
}

// EdgeSecret returns the key a request presents at the edge (forward
// auth, gateway, ext_authz) from its X-API-Key and Authorization headers:
// X-API-Key, or with acceptBearer (edge.accept_bearer) an
// Authorization: Bearer sk_... (fromBearer true: that header is stripped
// before the upstream too). A bearer token that is not an API key is the
// API's own and is left alone. Both at once are refused
// (ambiguous_credentials).
func EdgeSecret(apiKey, authorization string, acceptBearer bool) (secret string, fromBearer bool, err error) {
	if !acceptBearer {
		return apiKey, false, nil
	}
	scheme, token, ok := strings.Cut(authorization, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(token, "sk_") {
		return apiKey, false, nil
	}
	if apiKey != "" {
		return "", false, &apikey.ValidationError{Field: "Authorization", Code: "ambiguous_credentials",
			Message: "send the API key in either X-API-Key or Authorization, not both"}
	}
	return token, true, nil
}

// checkRoute decides a request at the edge: the route policy's decision
// for method and target, then the key's verification against it. It
// returns the decision, and for a route needing a key, the decided
// verification (not yet recorded). On false it has answered: 400 for a
// path or method no rule can safely be chosen for, 403 no_route_policy,
// or the error of a verification that decided nothing (503, ...).
func (s *Server) checkRoute(c *gin.Context, method, target string) (routes.Decision, ports.Verification, bool) {
	d := s.routes.Match(method, target)
	if err := d.Err(); err != nil {
		s.writeError(c, err)
		return d, ports.Verification{}, false
	}
	if !d.NeedsKey() {
		return d, ports.Verification{}, true
	}
	secret, _, err := s.edgeSecret(c)
	if err != nil {
		s.writeError(c, err)
		return d, ports.Verification{}, false
	}
	ri := s.requestInfo(c)
	ri.Method = method
	ri.Path, _, _ = strings.Cut(target, "?") // queries may hold secrets
	v, err := s.keys.Verify(c.Request.Context(), ports.VerifyInput{
		Secret: secret, Scopes: d.Scopes.Strings(), Environments: d.Environments, Request: ri,
	})
	if err != nil {
		s.writeError(c, err)
		return d, ports.Verification{}, false
	}
	return d, v, true
}
