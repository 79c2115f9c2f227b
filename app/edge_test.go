package app

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentauri/apikeys/core/routes"
)

func TestLoadReadsTheRoutesSection(t *testing.T) {
	p := writeFile(t, "http:\n  addr: 127.0.0.1:0\nroutes:\n  rules:\n    - {methods: [GET], path: /a/**, scopes: [triggers:read]}\n")
	cfg, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Routes.Match("GET", "/a/1"); d.Kind != routes.Matched || d.Line != 5 {
		t.Fatalf("GET /a/1: %+v, want the rule at line 5", d)
	}
	// A mistake in the section names its file and line, and so does
	// an unknown setting beside it.
	p = writeFile(t, "routes:\n  rules:\n    - {methods: [GET], path: /a, scopes: [nope]}\n")
	if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), p+`: line 3: routes.rules[0].scopes[0]`) && !strings.Contains(err.Error(), p+": line 3") {
		t.Fatalf("bad rule: %v", err)
	}
	if _, err := Load(writeFile(t, "routes:\n  rules: []\nroute: {}\n"), nil); err == nil || !strings.Contains(err.Error(), `unknown setting "route"`) {
		t.Fatalf("unknown setting: %v", err)
	}
}

func TestLoadReadsTheShippedRoutesFile(t *testing.T) {
	example := filepath.Join("..", "configs", "routes.example.yaml")
	cfg, err := Load(writeFile(t, "routes_file: "+example+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		scope        string
	}{
		{"GET", "/api/v1/triggers", "triggers:read"},
		{"DELETE", "/api/v1/triggers/t1", "triggers:write"},
		{"GET", "/api/v1/events", "events:read"},
		{"GET", "/api/v1/organizations/o1", "organizations:read"},
		{"PATCH", "/api/v1/organizations/o1", "organizations:write"},
	} {
		d := cfg.Routes.Match(c.method, c.path)
		if d.Kind != routes.Matched || len(d.Scopes) != 1 || string(d.Scopes[0]) != c.scope {
			t.Errorf("%s %s: %+v, want %s", c.method, c.path, d, c.scope)
		}
	}
	if d := cfg.Routes.Match("GET", "/api/v1/other"); d.Kind != routes.NoRoute {
		t.Errorf("unlisted route: %+v, want no_route", d)
	}
	// The environment names the file too.
	cfg, err = Load(writeFile(t, "{}\n"), []string{"APIKEYS_ROUTES_FILE=" + example})
	if err != nil || cfg.Routes == nil || cfg.Routes.Len() != 5 {
		t.Fatalf("APIKEYS_ROUTES_FILE: %v, %v", cfg.Routes, err)
	}
}

func TestEdgeSettingsAreValidated(t *testing.T) {
	policy := "routes:\n  rules: []\n"
	for want, c := range map[string]struct{ file, env string }{
		"gateway.upstream: must be an absolute":   {policy, "APIKEYS_GATEWAY_UPSTREAM=ftp://127.0.0.1:9000"},
		"gateway.upstream: must not hold":         {policy, "APIKEYS_GATEWAY_UPSTREAM=http://u:p@127.0.0.1:9000"},
		"gateway.upstream: needs a route policy":  {"{}\n", "APIKEYS_GATEWAY_UPSTREAM=http://127.0.0.1:9000"},
		"gateway.response_timeout":                {policy + "gateway:\n  upstream: http://127.0.0.1:1\n", "APIKEYS_GATEWAY_RESPONSE_TIMEOUT=0s"},
		"grpc.addr: must be host:port":            {policy, "APIKEYS_GRPC_ADDR=9191"},
		"grpc.addr: needs a route policy":         {"{}\n", "APIKEYS_GRPC_ADDR=127.0.0.1:9191"},
		"grpc.addr: must differ from http.addr":   {policy, "APIKEYS_GRPC_ADDR=127.0.0.1:8080"},
		"edge.forward_prefix: must be /api/v1/au": {"{}\n", "APIKEYS_EDGE_FORWARD_PREFIX=/auth"},
		"edge.forward_prefix: must not end with":  {"{}\n", "APIKEYS_EDGE_FORWARD_PREFIX=/api/v1/auth/forward/"},
	} {
		_, err := Load(writeFile(t, c.file), []string{c.env})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", c.env, err, want)
		}
	}
	cfg, err := Load(writeFile(t, policy), []string{"APIKEYS_GATEWAY_UPSTREAM=http://127.0.0.1:9000", "APIKEYS_GRPC_ADDR=127.0.0.1:9191",
		"APIKEYS_EDGE_ACCEPT_BEARER=true", "APIKEYS_EDGE_FORWARD_PREFIX=/api/v1/auth/forward/svc"})
	if err != nil || !cfg.Edge.AcceptBearer || cfg.Gateway.Upstream != "http://127.0.0.1:9000" || cfg.Edge.ForwardPrefix != "/api/v1/auth/forward/svc" {
		t.Fatalf("%+v, %v", cfg.Edge, err)
	}
}
