// Package httpapi is the HTTP adapter of apikeys (and the gRPC ext_authz
// service, whose answers are HTTP answers): gin routes, JSON shapes,
// authentication middleware (JWT bearer tokens and X-API-Key) and the one
// table that maps domain errors to HTTP answers.
package httpapi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/routes"
	"github.com/agentauri/apikeys/ports"
)

// TokenVerifier proves a bearer token and says who presented it. A refusal
// wraps apikey.ErrUnauthenticated (answered 401), or apikey.ErrUnavailable
// when the token cannot be checked for now (503). Its error text says why
// and is logged at debug level: it must never contain the token.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (apikey.Principal, error)
}

// Options configure the HTTP adapter.
type Options struct {
	Keys ports.KeyService // required
	// Orgs serves GET and PATCH /api/v1/organizations/{id}; nil leaves
	// them out.
	Orgs   ports.OrganizationService
	Tokens TokenVerifier // required
	Logger *slog.Logger  // nil: discard
	// TrustedProxies lists addresses or CIDRs whose X-Forwarded-For and
	// X-Real-IP headers are believed (from anyone else the socket address is
	// the client IP), and whose X-Original-Method/-Uri and
	// X-Forwarded-Method/-Uri name the request a verification is about
	// (see originalRequest).
	TrustedProxies []string
	// MaxBodyBytes caps request bodies (default 64 KiB); larger ones get 413.
	MaxBodyBytes int64
	// Ready reports whether the service can serve (database reachable,
	// migrations current); nil means always ready.
	Ready func(ctx context.Context) error
	// ReadyDetails, when set, adds its entries to the body of a 200
	// /readyz (e.g. the state of identity providers, which does not make
	// the service unready).
	ReadyDetails func() map[string]any
	// RetryAfter is the Retry-After value of 503 answers (default 1s).
	RetryAfter time.Duration
	// Trace returns the trace id of a request's context and the span id of
	// its span when that is sampled, if tracing is on; audit events carry
	// both (the span id in memory only, for telemetry's links).
	Trace func(ctx context.Context) (traceID, spanID string)
	// Audit serves GET /api/v1/audit-logs and /api/v1/api-keys/{id}/usage;
	// nil leaves those endpoints out.
	Audit ports.AuditService
	// Middleware runs first on every request (e.g. tracing, metrics).
	Middleware []gin.HandlerFunc
	// Reference, when set, is served at /api/v1/openapi.json, .yaml and
	// /docs.
	Reference *Reference
	// Extra lets the composition root mount more routes (e.g. /metrics).
	Extra func(r *gin.Engine)
	// VerifyLogLevel is the level of the access-log line of GET
	// /api/v1/auth/verify (default info, like every other request). The
	// audit trail already records each verification with its request id,
	// client IP, path and status, so a busy deployment may lower it to
	// debug and spare a log write per verification.
	VerifyLogLevel slog.Level
	// ThrottleDelay holds each 429 too_many_failed_attempts this long
	// before it is sent, MaxThrottled of them at most at a time (past it
	// they are sent at once); 0 sends them at once.
	ThrottleDelay time.Duration
	MaxThrottled  int
	// Routes is the route policy the forward-auth endpoint and the
	// gateway enforce; nil refuses every request they see (403
	// no_route_policy).
	Routes *routes.Policy
	// AcceptBearer also takes a key from Authorization: Bearer sk_... at
	// the edge (forward auth, gateway).
	AcceptBearer bool
	// ForwardPrefix is what the forward-auth endpoint strips from its own
	// request target to find the original one (default
	// /api/v1/auth/forward).
	ForwardPrefix string
	// Gateway, when its Upstream is set, proxies every request outside
	// apikeys' own routes to the upstream, enforcing Routes.
	Gateway GatewayOptions
}

// Server is the HTTP API.
type Server struct {
	keys       ports.KeyService
	orgs       ports.OrganizationService
	tokens     TokenVerifier
	log        *slog.Logger
	maxBody    int64
	ready      func(ctx context.Context) error
	details    func() map[string]any
	retryAfter string
	trace      func(ctx context.Context) (traceID, spanID string)
	audit      ports.AuditService
	engine     *gin.Engine
	verifyLog  slog.Level
	tarpit     tarpit

	trusted       trustedPeers
	routes        *routes.Policy
	acceptBearer  bool
	forwardPrefix string
	gateway       *gateway
}

// New builds the HTTP API, refusing missing dependencies or bad proxies.
func New(o Options) (*Server, error) {
	if o.Keys == nil || o.Tokens == nil {
		return nil, errors.New("httpapi: Keys and Tokens are required")
	}
	s := &Server{keys: o.Keys, orgs: o.Orgs, tokens: o.Tokens, log: o.Logger, maxBody: o.MaxBodyBytes, ready: o.Ready, details: o.ReadyDetails, trace: o.Trace, audit: o.Audit, verifyLog: o.VerifyLogLevel}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = 64 << 10
	}
	ra := o.RetryAfter
	if ra <= 0 {
		ra = time.Second
	}
	s.retryAfter = strconv.Itoa(int((ra + time.Second - 1) / time.Second))
	s.tarpit = newTarpit(o.ThrottleDelay, o.MaxThrottled)
	if err := s.edgeOptions(o); err != nil {
		return nil, err
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// A path that differs from a route by a trailing slash or by case is
	// not that route: it gets the JSON 404 like any unknown path, never a
	// redirect (gin's 301 carries an HTML body, its 307 none, and behind
	// nginx auth_request a redirect turns into a 500).
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.ForwardedByClientIP = true
	r.RemoteIPHeaders = []string{"X-Forwarded-For", "X-Real-IP"}
	proxies := o.TrustedProxies
	if len(proxies) == 0 {
		proxies = nil
	}
	if err := r.SetTrustedProxies(proxies); err != nil {
		return nil, fmt.Errorf("http.trusted_proxies: %w", err)
	}
	trusted, err := parseTrustedPeers(proxies)
	if err != nil {
		return nil, fmt.Errorf("http.trusted_proxies: %w", err)
	}
	s.trusted = trusted
	// Middleware (tracing) wraps everything else, so that the access log
	// and the panic log carry the request's trace and span ids.
	r.Use(o.Middleware...)
	r.Use(s.recover, s.requestID, s.accessLog)
	r.NoRoute(func(c *gin.Context) {
		if s.gateway != nil && !own(c.Request.URL.Path) {
			s.proxy(c)
			return
		}
		abort(c, http.StatusNotFound, "not_found", "no such endpoint", "")
	})
	r.NoMethod(func(c *gin.Context) {
		abort(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this endpoint", "")
	})

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.readyz)

	v1 := r.Group("/api/v1", s.strictQuery)
	v1.GET("/auth/verify", s.verify)
	// Outside v1's strictQuery: below the endpoint, the query is the
	// original request's, for the route policy to judge.
	r.Any(forwardPath, s.forward)
	r.Any(forwardPath+"/*rest", s.forward)
	keys := v1.Group("/api-keys", s.authenticate)
	keys.POST("", s.createKey)
	keys.GET("", s.listKeys)
	keys.GET("/:id", s.getKey)
	keys.POST("/:id/rotate", s.rotateKey)
	keys.PATCH("/:id", s.updateKey)
	keys.DELETE("/:id", s.revokeKey)
	s.auditRoutes(v1)
	s.organizationRoutes(v1)
	if err := s.referenceRoutes(r, v1, o.Reference); err != nil {
		return nil, err
	}
	if o.Extra != nil {
		o.Extra(r)
	}
	s.engine = r
	return s, nil
}

// edgeOptions sets what the forward-auth endpoint and the gateway need.
func (s *Server) edgeOptions(o Options) error {
	var err error
	s.routes, s.acceptBearer, s.forwardPrefix = o.Routes, o.AcceptBearer, o.ForwardPrefix
	if s.routes == nil {
		if s.routes, err = routes.New(nil, routes.DefaultDeny); err != nil {
			return err
		}
	}
	if s.forwardPrefix == "" {
		s.forwardPrefix = forwardPath
	}
	if o.Gateway.Upstream != nil {
		s.gateway = s.newGateway(o.Gateway)
	}
	return nil
}

// edgeRouteKey marks, in the gin context, a request the edge answered
// (forward auth, gateway): its access-log line is at VerifyLogLevel, the
// audit trail recording each.
const edgeRouteKey = "apikeys.edge"

// Handler returns the http.Handler serving the API.
func (s *Server) Handler() http.Handler { return s.engine }

// Engine returns the gin engine, for mounting more routes.
func (s *Server) Engine() *gin.Engine { return s.engine }

func (s *Server) readyz(c *gin.Context) {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.log.WarnContext(c.Request.Context(), "not ready", slog.String("error", err.Error()))
			c.Header("Retry-After", s.retryAfter)
			abort(c, http.StatusServiceUnavailable, "not_ready", "not ready: "+publicReadyReason(err), "")
			return
		}
	}
	body := gin.H{}
	if s.details != nil {
		for k, v := range s.details() {
			body[k] = v
		}
	}
	body["status"] = "ready"
	c.JSON(http.StatusOK, body)
}

// ErrMigrationsPending is returned by a Ready function when the schema is
// behind the code.
var ErrMigrationsPending = errors.New("migrations pending")

func publicReadyReason(err error) string {
	if errors.Is(err, ErrMigrationsPending) {
		return "database migrations are pending"
	}
	return "database unreachable"
}

// strictQuery refuses a query string that does not parse, rather than
// silently reading it as empty.
func (s *Server) strictQuery(c *gin.Context) {
	if !validQuery(c.Request.URL.RawQuery) {
		abort(c, http.StatusBadRequest, "invalid_query", "the query string is malformed", "query")
		return
	}
	c.Next()
}

// validQuery reports whether url.ParseQuery accepts q, without building
// the values it would return (gin parses the query again when a handler
// reads it): no semicolon, and every % followed by two hex digits.
func validQuery(q string) bool {
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return false
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// Header names are written in their canonical form (textproto), which a
// lookup or a Set would otherwise compute, and allocate, on every request.
const (
	requestIDHeader       = "X-Request-Id"
	clientRequestIDHeader = "X-Client-Request-Id"
	apiKeyHeader          = "X-Api-Key" //nolint:gosec // a header name, not a credential
)

// clientRequestIDKey is where requestID keeps the client's request id in
// the gin context.
const clientRequestIDKey = "apikeys.client_request_id"

// requestID gives every request an id the server made, recorded as the
// request id and echoed in X-Request-Id: a client can never choose the id
// the audit trail and the logs file a request under. A client's own
// X-Request-Id is kept apart, only when audit.ValidClientRequestID accepts
// it, and echoed back in X-Client-Request-Id so the client can correlate
// (no such header means it was dropped).
func (s *Server) requestID(c *gin.Context) {
	id := NewRequestID()
	c.Set(requestIDHeader, id)
	c.Header(requestIDHeader, id)
	if cid := c.GetHeader(requestIDHeader); audit.ValidClientRequestID(cid) {
		c.Set(clientRequestIDKey, cid)
		c.Header(clientRequestIDHeader, cid)
	}
	c.Next()
}

// NewRequestID returns a request id the server made: req_ + 32 hex
// digits. Every adapter that answers requests (HTTP, ext_authz) files
// them under ids of this form.
func NewRequestID() string {
	const hexdigits = "0123456789abcdef"
	var b [16]byte
	_, _ = rand.Read(b[:])
	var out [32]byte
	for i, v := range b {
		out[2*i] = hexdigits[v>>4]
		out[2*i+1] = hexdigits[v&0x0f]
	}
	return "req_" + string(out[:])
}

func requestID(c *gin.Context) string { return c.GetString(requestIDHeader) }

// clientRequestID is the client's request id, "" when it sent none or one
// that was dropped.
func clientRequestID(c *gin.Context) string { return c.GetString(clientRequestIDKey) }

// probePaths are the routes of probes and scrapes, called every few
// seconds by orchestrators and Prometheus: their access-log lines are
// debug, or they would bury the requests that matter.
var probePaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// accessLog writes one line per request: method, route, status,
// duration_ms (milliseconds, a float), client_ip and request_id. It logs
// the route without the query string and no headers, so no credential can
// reach the log. Verifications are logged at VerifyLogLevel, probes and
// scrapes at debug, everything else at info.
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	level := slog.LevelInfo
	switch route := c.FullPath(); {
	case route == verifyPath || c.GetBool(edgeRouteKey):
		level = s.verifyLog
	case probePaths[route]:
		level = slog.LevelDebug
	}
	if !s.log.Enabled(c.Request.Context(), level) {
		return
	}
	route := c.FullPath()
	if route == "" && s.gateway != nil && c.GetBool(edgeRouteKey) {
		route = c.Request.URL.Path // a proxied request: no route of apikeys'
	}
	attrs := [7]slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("path", route),
		slog.Int("status", c.Writer.Status()),
		slog.Float64("duration_ms", float64(time.Since(start))/float64(time.Millisecond)),
		slog.String("client_ip", c.ClientIP()),
		slog.String("request_id", requestID(c)),
	}
	n := 6
	if cid := clientRequestID(c); cid != "" {
		attrs[n] = slog.String("client_request_id", cid)
		n++
	}
	s.log.LogAttrs(c.Request.Context(), level, "request", attrs[:n]...)
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(r)
			}
			s.log.ErrorContext(c.Request.Context(), "panic", slog.String("panic", fmt.Sprint(r)), slog.String("request_id", requestID(c)))
			abort(c, http.StatusInternalServerError, "internal_error", "internal error", "")
		}
	}()
	c.Next()
}

// requestInfo describes the current request for audit records.
func (s *Server) requestInfo(c *gin.Context) audit.Request {
	ri := audit.Request{
		Method:          c.Request.Method,
		Path:            c.Request.URL.EscapedPath(),
		ClientIP:        c.ClientIP(),
		UserAgent:       c.Request.UserAgent(),
		RequestID:       requestID(c),
		ClientRequestID: clientRequestID(c),
	}
	if s.trace != nil {
		ri.TraceID, ri.SpanID = s.trace(c.Request.Context())
	}
	return ri
}
