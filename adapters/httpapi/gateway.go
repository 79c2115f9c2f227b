package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

// GatewayOptions configure the gateway mode: apikeys in front of the API,
// enforcing the route policy and proxying what it admits.
type GatewayOptions struct {
	// Upstream is the API's base URL; nil turns the gateway off.
	Upstream *url.URL
	// DialTimeout bounds connecting to the upstream (502 past it).
	DialTimeout time.Duration
	// ResponseTimeout bounds the wait for the upstream's response headers
	// (504 past it).
	ResponseTimeout time.Duration
	// MaxIdleConns is the keep-alive pool's size.
	MaxIdleConns int
	// IdleConnTimeout closes idle pooled connections.
	IdleConnTimeout time.Duration
	// Propagate writes the trace context of ctx into the headers of a
	// proxied request (W3C traceparent); nil leaves a client's own
	// traceparent as it came.
	Propagate func(ctx context.Context, h http.Header)
}

// Errors of the upstream, answered through errorTable.
var (
	errBadGateway     = errors.New("upstream unreachable")
	errGatewayTimeout = errors.New("upstream timed out")
)

// ownPrefixes are apikeys' own routes, never proxied: a path equal to one
// or below it is answered by apikeys (404 if it is no route of its own).
var ownPrefixes = []string{"/api/v1/api-keys", "/api/v1/auth", "/api/v1/audit-logs", "/healthz", "/readyz", "/metrics",
	"/api/v1/openapi.json", "/api/v1/openapi.yaml", "/docs"}

// own reports whether path belongs to apikeys.
func own(path string) bool {
	for _, p := range ownPrefixes {
		if rest, ok := strings.CutPrefix(path, p); ok && (rest == "" || rest[0] == '/') {
			return true
		}
	}
	return false
}

// gateway is the reverse proxy of the gateway mode.
type gateway struct {
	proxy     *httputil.ReverseProxy
	propagate func(ctx context.Context, h http.Header)
}

// proxied is what the gateway's proxy hooks need of one request, carried
// in its context.
type proxied struct {
	c          *gin.Context
	v          ports.Verification
	keyed      bool // v is a verification to record (not a public route)
	fromBearer bool // the key came in Authorization, which is stripped
	recorded   bool
}

type proxiedKey struct{}

// bufferPool lends the proxy its copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

// newGateway builds the proxy to o.Upstream.
func (s *Server) newGateway(o GatewayOptions) *gateway {
	dial := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:           dial.DialContext,
		MaxIdleConns:          o.MaxIdleConns,
		MaxIdleConnsPerHost:   o.MaxIdleConns,
		IdleConnTimeout:       o.IdleConnTimeout,
		ResponseHeaderTimeout: o.ResponseTimeout,
		TLSHandshakeTimeout:   o.DialTimeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     o.Upstream.Scheme == "https",
	}
	g := &gateway{propagate: o.Propagate}
	pool := &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
	g.proxy = &httputil.ReverseProxy{
		Transport:  t,
		BufferPool: pool,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(o.Upstream)
			s.rewrite(pr, g)
		},
		ModifyResponse: s.upstreamAnswered,
		ErrorHandler:   s.upstreamFailed,
	}
	return g
}

// proxy answers a request outside apikeys' own routes in gateway mode:
// the route policy and the key decide, as for forward auth; an admitted
// request goes to the upstream without the key and with the identity
// headers, and its use is recorded with the upstream's status.
func (s *Server) proxy(c *gin.Context) {
	c.Set(edgeRouteKey, true)
	d, v, ok := s.checkRoute(c, c.Request.Method, c.Request.RequestURI)
	if !ok {
		return
	}
	p := &proxied{c: c, v: v, keyed: d.NeedsKey()}
	if p.keyed {
		if v.Outcome != apikey.OutcomeOK {
			s.admit(c, v, verifyStatus(v.Outcome)) // records and refuses
			return
		}
		_, p.fromBearer, _ = s.edgeSecret(c)
		budgetHeaders(c, v)
	}
	ctx := context.WithValue(c.Request.Context(), proxiedKey{}, p)
	s.gateway.proxy.ServeHTTP(c.Writer, c.Request.WithContext(ctx))
}

// rewrite shapes the request to the upstream: no key, no identity a
// client chose, the verified identity, X-Forwarded-*/Forwarded naming the
// client as far as it is believed, and the trace context.
func (s *Server) rewrite(pr *httputil.ProxyRequest, g *gateway) {
	p, _ := pr.In.Context().Value(proxiedKey{}).(*proxied)
	h := pr.Out.Header
	delete(h, apiKeyHeader)
	stripIdentity(h)
	if p != nil {
		if p.fromBearer {
			delete(h, "Authorization")
		}
		if p.keyed {
			SetIdentity(h, p.v.Key)
		}
	}
	in := pr.In
	trusted := s.trusted.trusts(in.RemoteAddr)
	peer := in.RemoteAddr
	if ap, err := netip.ParseAddrPort(in.RemoteAddr); err == nil {
		peer = ap.Addr().Unmap().String()
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	host := in.Host
	// Rewrite starts without the client's X-Forwarded-For, -Host and
	// -Proto; a trusted proxy's are carried on.
	xff := peer
	if trusted {
		if prior := strings.Join(in.Header.Values("X-Forwarded-For"), ", "); prior != "" {
			xff = prior + ", " + peer
		}
		if v := in.Header.Get("X-Forwarded-Proto"); v == "http" || v == "https" {
			proto = v
		}
		if v := in.Header.Get("X-Forwarded-Host"); v != "" {
			host = v
		}
	}
	h["X-Forwarded-For"] = []string{xff}
	h["X-Forwarded-Proto"] = []string{proto}
	h["X-Forwarded-Host"] = []string{host}
	fwd := forwardedElement(peer, host, proto)
	if prior := strings.Join(in.Header.Values("Forwarded"), ", "); trusted && prior != "" {
		fwd = prior + ", " + fwd
	}
	h["Forwarded"] = []string{fwd}
	if p != nil {
		h["X-Real-Ip"] = []string{p.c.ClientIP()}
	} else {
		delete(h, "X-Real-Ip")
	}
	if g.propagate != nil {
		g.propagate(in.Context(), h)
	}
}

// forwardedElement is one RFC 7239 Forwarded element.
func forwardedElement(peer, host, proto string) string {
	node := peer
	if strings.Contains(peer, ":") {
		node = `"[` + peer + `]"` // an IPv6 address is quoted and bracketed
	}
	return "for=" + node + ";host=" + quoteIfNeeded(host) + ";proto=" + proto
}

// quoteIfNeeded quotes a Forwarded value that is not a token.
func quoteIfNeeded(v string) string {
	for i := 0; i < len(v); i++ {
		if !isTokenByte(v[i]) {
			return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
		}
	}
	return v
}

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// upstreamAnswered records the verification with the upstream's status
// once its response headers arrive, before anything reaches the client:
// an answer whose use the audit trail cannot take becomes 503.
func (s *Server) upstreamAnswered(resp *http.Response) error {
	p, _ := resp.Request.Context().Value(proxiedKey{}).(*proxied)
	if p == nil || !p.keyed {
		return nil
	}
	p.recorded = true
	return s.keys.Record(p.c.Request.Context(), p.v, resp.StatusCode)
}

// upstreamFailed answers a request the upstream did not: 502 when it
// cannot be reached, 504 when it did not answer in time, and 503 when the
// audit trail refused its answer's record; in the JSON envelope.
func (s *Server) upstreamFailed(_ http.ResponseWriter, r *http.Request, err error) {
	p, _ := r.Context().Value(proxiedKey{}).(*proxied)
	if p == nil {
		return
	}
	c := p.c
	if p.recorded {
		// upstreamAnswered's Record failed: nothing of the answer went out.
		s.writeError(c, err)
		return
	}
	status, cause := http.StatusBadGateway, errBadGateway
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &op) && op.Op == "dial":
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		status, cause = http.StatusGatewayTimeout, errGatewayTimeout
	}
	s.log.WarnContext(c.Request.Context(), "upstream failed", "error", err.Error(), "request_id", requestID(c))
	if p.keyed {
		_ = s.keys.Record(c.Request.Context(), p.v, status) // the request failed anyway
	}
	s.writeError(c, cause)
}
