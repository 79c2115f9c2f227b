// Package console is the web console of apikeys, served at /console:
// server-rendered pages (html/template, embedded with go:embed, no
// script or style inline) through which the people who own keys list,
// create, rotate and revoke them and read the audit trail. It acts only
// through the use cases the HTTP API uses (ports.KeyService,
// ports.AuditService), as the signed-in user's principal: the same
// checks, the same audit actor.
package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is the path the console is served under.
const Prefix = "/console"

// cookieName names the session cookie; csrfCookie the double-submit
// cookie of the sign-in form (which comes before any session).
const (
	cookieName = "apikeys_console"
	csrfCookie = "apikeys_console_signin"
)

// contentSecurityPolicy allows only the console's own files: no inline
// script or style, no framing, forms posted to the console only.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// DevUser is the user the development sign-in signs in as.
type DevUser struct {
	Subject       string
	Organizations []string
}

// Options configure the console.
type Options struct {
	Keys  ports.KeyService   // required
	Audit ports.AuditService // required
	// ErrorAnswer is the API's one error table (httpapi.ErrorAnswer): the
	// console shows every refusal in the API's words.
	ErrorAnswer func(err error) (status int, code, message, field string) // required
	// DevSignIn, when set, offers a one-click sign-in as this user. Only
	// for development.
	DevSignIn *DevUser
	// IdleTimeout and AbsoluteTimeout end a session unused for so long,
	// or that old; MaxSessions bounds the sessions held (the least
	// recently used goes first).
	IdleTimeout, AbsoluteTimeout time.Duration
	MaxSessions                  int
	// SecureCookie marks the session cookie Secure even when the request
	// did not arrive over TLS (TLS ended at a proxy).
	SecureCookie bool
	// Trace returns the trace and span ids of a request's context, for
	// the audit events (as the API records them); nil: none.
	Trace  func(ctx context.Context) (traceID, spanID string)
	Logger *slog.Logger // nil: discard
	// Now is the clock of sessions; nil: time.Now.
	Now func() time.Time
}

// Console serves the web console.
type Console struct {
	o      Options
	store  *sessions
	pages  map[string]*template.Template
	mux    *http.ServeMux
	static http.Handler
}

// New builds the console, refusing missing dependencies or bad limits.
func New(o Options) (*Console, error) {
	if o.Keys == nil || o.Audit == nil || o.ErrorAnswer == nil {
		return nil, errors.New("console: Keys, Audit and ErrorAnswer are required")
	}
	if o.IdleTimeout <= 0 || o.AbsoluteTimeout <= 0 || o.MaxSessions <= 0 {
		return nil, errors.New("console: IdleTimeout, AbsoluteTimeout and MaxSessions must be positive")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	c := &Console{o: o, store: newSessions(o.MaxSessions, o.IdleTimeout, o.AbsoluteTimeout, o.Now), pages: pages,
		static: http.StripPrefix(Prefix+"/static/", http.FileServerFS(sub))}
	c.routes()
	return c, nil
}

// parsePages parses each page together with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		out[base] = t
	}
	return out, nil
}

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET "+Prefix+"/static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		c.static.ServeHTTP(w, r)
	})
	m.HandleFunc("GET "+Prefix+"/sign-in", c.signInPage)
	m.HandleFunc("POST "+Prefix+"/sign-in/dev", c.devSignIn)
	m.HandleFunc("POST "+Prefix+"/sign-out", c.signOut)
	m.HandleFunc("GET "+Prefix+"/{$}", c.signedIn(c.home))
	m.HandleFunc("GET "+Prefix+"/orgs", c.signedIn(c.home))
	org := Prefix + "/orgs/{org}"
	m.HandleFunc("GET "+org+"/keys", c.signedIn(c.listKeys))
	m.HandleFunc("GET "+org+"/keys/new", c.signedIn(c.newKeyPage))
	m.HandleFunc("POST "+org+"/keys", c.signedIn(c.csrf(c.createKey)))
	m.HandleFunc("GET "+org+"/keys/{id}", c.signedIn(c.keyDetail))
	m.HandleFunc("GET "+org+"/keys/{id}/secret", c.signedIn(c.showSecret))
	m.HandleFunc("POST "+org+"/keys/{id}/rotate", c.signedIn(c.csrf(c.rotateKey)))
	m.HandleFunc("GET "+org+"/keys/{id}/revoke", c.signedIn(c.revokePage))
	m.HandleFunc("POST "+org+"/keys/{id}/revoke", c.signedIn(c.csrf(c.revokeKey)))
	m.HandleFunc("GET "+org+"/audit", c.signedIn(c.auditPage))
	m.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		c.renderStatus(w, r, nil, http.StatusNotFound, "Not found", "no such page")
	})
	c.mux = m
}

// Mount serves the console under Prefix on r. The request id and client
// address recorded in audit events are the ones the engine's middleware
// assigned (the X-Request-Id it set, gin's ClientIP with its trusted
// proxies), as for the API.
func (c *Console) Mount(r *gin.Engine) {
	h := func(g *gin.Context) {
		ctx := context.WithValue(g.Request.Context(), clientKey{}, clientInfo{
			ip: g.ClientIP(), requestID: g.Writer.Header().Get("X-Request-Id"),
		})
		c.ServeHTTP(g.Writer, g.Request.WithContext(ctx))
	}
	r.Any(Prefix, h)
	r.Any(Prefix+"/*rest", h)
}

// ServeHTTP serves one console request with the security headers every
// console answer carries.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.URL.Path == Prefix {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	c.mux.ServeHTTP(w, r)
}

type clientKey struct{}

type clientInfo struct{ ip, requestID string }

// requestInfo describes r for audit records, as the API does.
func (c *Console) requestInfo(r *http.Request) audit.Request {
	ci, _ := r.Context().Value(clientKey{}).(clientInfo)
	ri := audit.Request{
		Method: r.Method, Path: r.URL.EscapedPath(), ClientIP: ci.ip, UserAgent: r.UserAgent(), RequestID: ci.requestID,
	}
	if ri.ClientIP == "" {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			ri.ClientIP = host
		}
	}
	if c.o.Trace != nil {
		ri.TraceID, ri.SpanID = c.o.Trace(r.Context())
	}
	return ri
}

// principal is the signed-in user as the use cases see a user of the API.
func principal(ss *session) apikey.Principal {
	return apikey.Principal{Subject: ss.subject, Organizations: ss.organizations}
}
