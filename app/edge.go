package app

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentauri/apikeys/adapters/httpapi"
)

// forwardPath is the route of the forward-auth endpoint; edge.forward_prefix
// must start with it.
const forwardPath = "/api/v1/auth/forward"

// validateEdge checks the edge settings: the forward prefix, the gateway's
// upstream and timeouts, the gRPC address, and that the gateway and the
// ext_authz listener have a route policy to enforce.
func (c Config) validateEdge(p *problems) {
	if fp := c.Edge.ForwardPrefix; fp != forwardPath && !strings.HasPrefix(fp, forwardPath+"/") {
		p.add("edge.forward_prefix", "must be %s or a path below it, got %q", forwardPath, fp)
	} else if strings.HasSuffix(fp, "/") || strings.Contains(fp, "//") {
		p.add("edge.forward_prefix", "must not end with / or hold //, got %q", fp)
	}
	if g := c.Gateway; g.Upstream != "" {
		u, err := url.Parse(g.Upstream)
		switch {
		case err != nil:
			p.add("gateway.upstream", "%v", err)
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			p.add("gateway.upstream", "must be an absolute http:// or https:// URL such as http://127.0.0.1:9000, got %q", g.Upstream)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			p.add("gateway.upstream", "must not hold credentials, a query or a fragment")
		}
		p.positive(map[string]time.Duration{
			"gateway.dial_timeout": g.DialTimeout, "gateway.response_timeout": g.ResponseTimeout,
			"gateway.idle_conn_timeout": g.IdleConnTimeout,
		})
		if g.MaxIdleConns < 1 {
			p.add("gateway.max_idle_conns", "must be at least 1, got %d", g.MaxIdleConns)
		}
		if c.Routes == nil {
			p.add("gateway.upstream", "needs a route policy (routes: or routes_file:, see docs/routes.md): without one every request would be refused")
		}
	}
	if c.GRPC.Addr != "" {
		if _, _, err := net.SplitHostPort(c.GRPC.Addr); err != nil {
			p.add("grpc.addr", "must be host:port such as 127.0.0.1:9191: %v", err)
		} else if c.GRPC.Addr == c.HTTP.Addr {
			p.add("grpc.addr", "must differ from http.addr")
		}
		if c.Routes == nil {
			p.add("grpc.addr", "needs a route policy (routes: or routes_file:, see docs/routes.md): without one every request would be refused")
		}
	}
}

// gatewayOptions returns the HTTP adapter's gateway options: none while
// gateway.upstream is empty.
func (c Config) gatewayOptions(propagate func(context.Context, http.Header)) httpapi.GatewayOptions {
	g := c.Gateway
	if g.Upstream == "" {
		return httpapi.GatewayOptions{}
	}
	u, _ := url.Parse(g.Upstream) // Validate parsed it
	return httpapi.GatewayOptions{Upstream: u, DialTimeout: g.DialTimeout, ResponseTimeout: g.ResponseTimeout,
		MaxIdleConns: g.MaxIdleConns, IdleConnTimeout: g.IdleConnTimeout, Propagate: propagate}
}
