package httpapi

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
)

// Headers by which a reverse proxy doing forward auth (nginx auth_request,
// Traefik ForwardAuth, Caddy forward_auth) names the request it asks about.
// Each list is in order of preference.
var (
	originalMethodHeaders = []string{"X-Original-Method", "X-Forwarded-Method"}
	originalURIHeaders    = []string{"X-Original-Uri", "X-Forwarded-Uri"}
)

// trustedPeers holds the http.trusted_proxies addresses and networks.
type trustedPeers []netip.Prefix

// parseTrustedPeers parses addresses and CIDRs as gin's SetTrustedProxies
// takes them.
func parseTrustedPeers(list []string) (trustedPeers, error) {
	out := make(trustedPeers, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", s, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// contains reports whether the peer at ip (as gin's RemoteIP gives it) is
// trusted.
func (t trustedPeers) contains(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// trusts reports whether the peer at remoteAddr (host:port, as in
// http.Request.RemoteAddr) is trusted.
func (t trustedPeers) trusts(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	return t.contains(ap.Addr().String())
}

// originalRequest returns the method and path of the request an answer is
// about: the request's own, unless the peer is one of
// http.trusted_proxies and names another in X-Original-Method /
// X-Forwarded-Method and X-Original-Uri / X-Forwarded-Uri (forward auth),
// exactly as X-Forwarded-For is believed only from them. forwarded says
// whether either was taken from a proxy's header. The query string is
// dropped: callers sometimes put secrets there.
//
// A trusted proxy's method must be an RFC 9110 token and its URI an
// origin-form path without control characters (of any length: the audit
// trail keeps its first 512 bytes); anything else is refused
// (400 invalid_method / invalid_path, naming the header) rather than
// recorded, since a proxy that sends it is broken or passes a client's
// header through. From an untrusted peer these headers are ignored.
func (s *Server) originalRequest(c *gin.Context) (method, path string, forwarded bool, err error) {
	method, path = c.Request.Method, c.Request.URL.EscapedPath()
	if !s.trusted.contains(c.RemoteIP()) {
		return method, path, false, nil
	}
	if name, m := firstHeader(c, originalMethodHeaders...); name != "" {
		if !validMethod(m) {
			return "", "", false, &apikey.ValidationError{Field: name, Code: "invalid_method",
				Message: name + " must be an HTTP method (an RFC 9110 token such as GET)"}
		}
		method, forwarded = m, true
	}
	if name, uri := firstHeader(c, originalURIHeaders...); name != "" {
		p, _, _ := strings.Cut(uri, "?")
		if !validOriginPath(p) {
			return "", "", false, &apikey.ValidationError{Field: name, Code: "invalid_path",
				Message: name + " must be a path starting with /, without control characters"}
		}
		path, forwarded = p, true
	}
	return method, path, forwarded, nil
}

// firstHeader returns the first of names the request carries with a
// non-blank value, and that value without its optional whitespace (RFC
// 9110 OWS: spaces and tabs only; a no-break space is part of the value).
func firstHeader(c *gin.Context, names ...string) (name, value string) {
	for _, n := range names {
		if v := strings.Trim(c.GetHeader(n), " \t"); v != "" {
			return n, v
		}
	}
	return "", ""
}

// validMethod reports whether m is an RFC 9110 method: a token, 1*tchar.
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if !isTchar(m[i]) {
			return false
		}
	}
	return true
}

// isTchar reports whether c is an RFC 9110 tchar: "!" / "#" / "$" / "%" /
// "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" /
// DIGIT / ALPHA.
func isTchar(c byte) bool {
	return isAlnumByte(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isAlnumByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// validOriginPath reports whether p is an origin-form path: it starts
// with "/" and holds no control character (bytes other than those are
// recorded, made valid UTF-8 by the audit event's constructor).
func validOriginPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return false
		}
	}
	return true
}

// forwardTarget returns the method and the raw request target (path and
// query, still percent-encoded) of the request a forward-auth call checks.
// From a trusted proxy (http.trusted_proxies) it believes
// X-Original-Method/X-Original-URI (nginx) and
// X-Forwarded-Method/X-Forwarded-Uri (Traefik, Caddy), under the grammar
// originalRequest applies; from anyone else those headers are ignored.
// A proxy sets its own pair and passes the client's headers on (a client
// behind nginx could send X-Forwarded-Uri, one behind Caddy
// X-Original-URI), so two that disagree are refused, never chosen
// between. Without them the original request is the call's own request
// line with prefix stripped (Envoy's HTTP mode appends the original path
// to the path it calls): /api/v1/auth/forward/api/v1/x is GET /api/v1/x.
// A call that names no original request is refused.
func (s *Server) forwardTarget(c *gin.Context, prefix string) (method, target string, err error) {
	method = c.Request.Method
	if s.trusted.contains(c.RemoteIP()) {
		var m string
		if m, err = agreeing(c, originalMethodHeaders); err != nil {
			return "", "", err
		}
		if m != "" {
			if !validMethod(m) {
				return "", "", &apikey.ValidationError{Field: originalMethodHeaders[0], Code: "invalid_method",
					Message: originalMethodHeaders[0] + " must be an HTTP method (an RFC 9110 token such as GET)"}
			}
			method = m
		}
		if target, err = agreeing(c, originalURIHeaders); err != nil {
			return "", "", err
		}
		if p, _, _ := strings.Cut(target, "?"); target != "" && !validOriginPath(p) {
			return "", "", &apikey.ValidationError{Field: originalURIHeaders[0], Code: "invalid_path",
				Message: originalURIHeaders[0] + " must be a path starting with /, without control characters"}
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

// agreeing returns the value of whichever of the two headers names is
// set, and refuses two different values.
func agreeing(c *gin.Context, names []string) (string, error) {
	a, b := names[0], names[1]
	va, vb := strings.Trim(c.GetHeader(a), " \t"), strings.Trim(c.GetHeader(b), " \t")
	if va != "" && vb != "" && va != vb {
		return "", &apikey.ValidationError{Field: b, Code: "invalid_request",
			Message: fmt.Sprintf("%s and %s name different requests: the proxy must set one and clear the other", a, b)}
	}
	if va != "" {
		return va, nil
	}
	return vb, nil
}
