package httpapi

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
)

// trustedPeers is the parsed http.trusted_proxies: the addresses whose
// claims about the original request (X-Forwarded-*, X-Original-*) are
// believed.
type trustedPeers []netip.Prefix

// parseTrusted parses addresses and CIDRs as gin's SetTrustedProxies does.
func parseTrusted(list []string) (trustedPeers, error) {
	out := make(trustedPeers, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// trusts reports whether the peer at remoteAddr (host:port, as in
// http.Request.RemoteAddr) is a trusted proxy.
func (t trustedPeers) trusts(remoteAddr string) bool {
	if len(t) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// originalRequest returns the method and the raw request target (path and
// query, still percent-encoded) of the request a forward-auth call checks.
// From a trusted proxy (http.trusted_proxies) it believes
// X-Original-Method/X-Original-URI (nginx) and
// X-Forwarded-Method/X-Forwarded-Uri (Traefik, Caddy); from anyone else
// those headers are ignored. Without them the original request is the
// call's own request line with prefix stripped (Envoy's HTTP mode appends
// the original path to the path it calls): /api/v1/auth/forward/api/v1/x
// is GET /api/v1/x. A call that names no original request is refused.
func (s *Server) originalRequest(c *gin.Context, prefix string) (method, target string, err error) {
	method = c.Request.Method
	if s.trusted.trusts(c.Request.RemoteAddr) {
		// A proxy sets its own pair and passes the client's headers on:
		// a client behind nginx could send X-Forwarded-Uri, one behind
		// Caddy X-Original-URI. Two that disagree are refused, never
		// chosen between.
		var m string
		if m, err = agreeing(c, "X-Original-Method", "X-Forwarded-Method"); err != nil {
			return "", "", err
		}
		if m != "" {
			method = m
		}
		if target, err = agreeing(c, "X-Original-Uri", "X-Forwarded-Uri"); err != nil {
			return "", "", err
		}
	}
	if target == "" {
		if rest, ok := strings.CutPrefix(c.Request.RequestURI, prefix); ok && strings.HasPrefix(rest, "/") {
			target = rest
		}
	}
	if target == "" {
		return "", "", &apikey.ValidationError{Field: "X-Forwarded-Uri", Code: "invalid_request", Message: fmt.Sprintf(
			"name the request to check: X-Original-URI (nginx) or X-Forwarded-Uri from a proxy listed in http.trusted_proxies, or its path appended to %s", prefix)}
	}
	return method, target, nil
}

// agreeing returns the value of header a or b, whichever is set, and
// refuses two different values.
func agreeing(c *gin.Context, a, b string) (string, error) {
	va, vb := firstHeader(c, a), firstHeader(c, b)
	if va != "" && vb != "" && va != vb {
		return "", &apikey.ValidationError{Field: b, Code: "invalid_request",
			Message: fmt.Sprintf("%s and %s name different requests: the proxy must set one and clear the other", a, b)}
	}
	if va != "" {
		return va, nil
	}
	return vb, nil
}
