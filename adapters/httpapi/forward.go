package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

// forwardPath is the route of the forward-auth endpoint; its subtree
// takes the original path appended (Envoy's HTTP mode).
const forwardPath = "/api/v1/auth/forward"

// compatParam is the query parameter of forwardPath that asks for answers
// nginx auth_request can pass on (compat=nginx).
const compatParam = "compat"

// Headers of an nginx-compatible refusal: the status and code apikeys
// meant, which nginx would otherwise turn into a 500.
const (
	hdrAuthStatus = "X-Auth-Status"
	hdrAuthCode   = "X-Auth-Code"
)

// forward answers /api/v1/auth/forward (any method), the forward-auth
// check of nginx auth_request, Caddy forward_auth, Traefik ForwardAuth
// and Envoy's HTTP ext_authz: it finds the original request
// (forwardTarget), applies the route policy and verifies the key like
// /auth/verify, recording the use under the original method, path and
// client address. 200 carries the identity headers (none for a public
// route); refusals are /auth/verify's, in the JSON envelope.
func (s *Server) forward(c *gin.Context) {
	c.Set(edgeRouteKey, true)
	if c.Param("rest") == "" {
		// Only the bare endpoint takes parameters: below it, the query is
		// the original request's.
		q := c.Request.URL.Query()
		if len(q) > 1 || len(q) == 1 && q.Get(compatParam) == "" {
			s.writeError(c, unknownParam(q, compatParam))
			return
		}
		switch q.Get(compatParam) {
		case "":
		case "nginx":
			c.Writer = &nginxWriter{ResponseWriter: c.Writer}
		default:
			abort(c, http.StatusBadRequest, "invalid_query", `compat must be "nginx"`, compatParam)
			return
		}
	}
	c.Header("Cache-Control", "no-store")
	method, target, err := s.forwardTarget(c, s.forwardPrefix)
	if err != nil {
		s.writeError(c, err)
		return
	}
	d, v, ok := s.checkRoute(c, method, target)
	if !ok {
		return
	}
	if !d.NeedsKey() {
		// Empty identity headers, not none: proxies that copy them
		// (Caddy's copy_headers, Traefik's authResponseHeaders) then
		// replace whatever the client sent under those names with
		// nothing, where an absent one would leave it, or (Caddy 2.6) set
		// the unreplaced placeholder.
		h := c.Writer.Header()
		for _, n := range identityHeaders {
			h[n] = []string{""}
		}
		c.JSON(http.StatusOK, gin.H{"valid": true, "public": true})
		return
	}
	if !s.admit(c, v, verifyStatus(v.Outcome)) {
		return
	}
	answerVerified(c, v)
}

// nginxCode, in compat=nginx mode, names the code of a refusal in
// X-Auth-Code: nginx does not pass on the body of an auth_request answer,
// and its error pages rebuild the envelope from this header.
func nginxCode(c *gin.Context, code string) {
	if _, ok := c.Writer.(*nginxWriter); ok {
		c.Writer.Header().Set(hdrAuthCode, code)
	}
}

// nginxWriter turns every status nginx auth_request does not pass on
// (anything but 2xx, 401 and 403: nginx makes those a 500) into 403, with
// the status apikeys meant in X-Auth-Status; Retry-After and the other
// headers are kept, for the nginx configuration to copy
// (docs/gateways.md).
type nginxWriter struct {
	gin.ResponseWriter
}

// WriteHeader writes code, or 403 and X-Auth-Status: code.
func (w *nginxWriter) WriteHeader(code int) {
	if code/100 != 2 && code != http.StatusUnauthorized && code != http.StatusForbidden {
		w.Header().Set(hdrAuthStatus, strconv.Itoa(code))
		code = http.StatusForbidden
	}
	w.ResponseWriter.WriteHeader(code)
}
