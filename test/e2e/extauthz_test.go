package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// envoyExtAuthzAddr reads configs/gateways/envoy.yaml as YAML and returns
// the address of the cluster its ext_authz filter sends CheckRequests to.
func envoyExtAuthzAddr(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "gateways", "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		StaticResources struct {
			Listeners []struct {
				FilterChains []struct {
					Filters []struct {
						TypedConfig struct {
							HTTPFilters []struct {
								Name        string `yaml:"name"`
								TypedConfig struct {
									GRPCService struct {
										EnvoyGRPC struct {
											ClusterName string `yaml:"cluster_name"`
										} `yaml:"envoy_grpc"`
									} `yaml:"grpc_service"`
									FailureModeAllow *bool `yaml:"failure_mode_allow"`
								} `yaml:"typed_config"`
							} `yaml:"http_filters"`
						} `yaml:"typed_config"`
					} `yaml:"filters"`
				} `yaml:"filter_chains"`
			} `yaml:"listeners"`
			Clusters []struct {
				Name           string `yaml:"name"`
				LoadAssignment struct {
					Endpoints []struct {
						LBEndpoints []struct {
							Endpoint struct {
								Address struct {
									SocketAddress struct {
										Address   string `yaml:"address"`
										PortValue int    `yaml:"port_value"`
									} `yaml:"socket_address"`
								} `yaml:"address"`
							} `yaml:"endpoint"`
						} `yaml:"lb_endpoints"`
					} `yaml:"endpoints"`
				} `yaml:"load_assignment"`
			} `yaml:"clusters"`
		} `yaml:"static_resources"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("envoy.yaml: %v", err)
	}
	cluster := ""
	for _, l := range cfg.StaticResources.Listeners {
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				for _, hf := range f.TypedConfig.HTTPFilters {
					if hf.Name == "envoy.filters.http.ext_authz" {
						cluster = hf.TypedConfig.GRPCService.EnvoyGRPC.ClusterName
						if fm := hf.TypedConfig.FailureModeAllow; fm == nil || *fm {
							t.Fatal("envoy.yaml: failure_mode_allow must be false, said explicitly")
						}
					}
				}
			}
		}
	}
	for _, c := range cfg.StaticResources.Clusters {
		if c.Name == cluster && cluster != "" {
			sa := c.LoadAssignment.Endpoints[0].LBEndpoints[0].Endpoint.Address.SocketAddress
			return fmt.Sprintf("%s:%d", sa.Address, sa.PortValue)
		}
	}
	t.Fatalf("envoy.yaml: no cluster %q for the ext_authz filter", cluster)
	return ""
}

// envoyCheck is a CheckRequest shaped as Envoy's ext_authz filter sends
// it for a request from client (ip:port) to method target.
func envoyCheck(client, method, target string, headers map[string]string) *authv3.CheckRequest {
	ip, port, _ := strings.Cut(client, ":")
	var p uint32
	_, _ = fmt.Sscan(port, &p)
	h := map[string]string{
		":authority": "api.example.com", ":method": method, ":path": target, ":scheme": "http",
		"user-agent": "curl/8.5.0", "accept": "*/*", "x-forwarded-proto": "http",
		"x-request-id": "5f4dcc3b-5aa7-4f1c-9d9a-0c2d1f7e1a10", "x-envoy-expected-rq-timeout-ms": "15000",
	}
	for k, v := range headers {
		h[k] = v
	}
	addr := func(a string, port uint32) *corev3.Address {
		return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: a, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Address: addr(ip, p)},
		Destination: &authv3.AttributeContext_Peer{Address: addr("10.0.0.5", 8000)},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "1234567890", Method: method, Headers: h, Path: target, Host: "api.example.com", Scheme: "http", Protocol: "HTTP/1.1",
		}},
	}}
}

// TestEnvoyExtAuthz: a real gRPC client sends Envoy-shaped CheckRequests
// to apikeys' grpc.addr, the address configs/gateways/envoy.yaml names:
// allowed (identity added, key removed), denied for scope, unknown,
// revoked, no route, rate-limited, each with the JSON envelope; the health
// service answers; the audit trail has the client and the original path.
// On every database.
func TestEnvoyExtAuthz(t *testing.T) {
	addr := envoyExtAuthzAddr(t)
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e, "APIKEYS_ROUTES_FILE="+exampleRoutes, "APIKEYS_GRPC_ADDR="+addr)
		tok := s.token("user_1", "org_123")
		reader, other, revoked := edgeKeys(t, s, tok)
		_, limited := createKey(t, s, tok, `{"name":"limited","organization_id":"org_123","scopes":["triggers:read"],"rate_limit":{"limit":1,"window":"1h"}}`)

		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
		if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health: %v, %v", hc, err)
		}
		client := authv3.NewAuthorizationClient(conn)
		check := func(method, target, key string, extra ...string) *authv3.CheckResponse {
			t.Helper()
			h := map[string]string{}
			if key != "" {
				h["x-api-key"] = key
			}
			for i := 0; i+1 < len(extra); i += 2 {
				h[extra[i]] = extra[i+1]
			}
			resp, err := client.Check(ctx, envoyCheck("203.0.113.9:51234", method, target, h))
			if err != nil {
				t.Fatalf("%s %s: %v", method, target, err)
			}
			return resp
		}

		resp := check("GET", "/api/v1/triggers?page=2", reader, "x-key-id", "key_forged", "x-request-id", "ea-ok")
		okr := resp.GetOkResponse()
		if okr == nil {
			t.Fatalf("allowed: %v", resp)
		}
		added := map[string]string{}
		for _, o := range okr.GetHeaders() {
			added[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
			if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
				t.Errorf("%s is appended to, not overwritten: a client's value would stay", o.GetHeader().GetKey())
			}
		}
		if !strings.HasPrefix(added["x-key-id"], "key_") || added["x-organization-id"] != "org_123" ||
			added["x-scopes"] != "triggers:read,events:read" || added["x-key-environment"] != "test" {
			t.Fatalf("identity headers: %v", added)
		}
		if rm := okr.GetHeadersToRemove(); len(rm) != 1 || rm[0] != "x-api-key" {
			t.Fatalf("headers to remove: %v", rm)
		}

		for _, c := range []struct {
			method, target, key string
			status              int32
			code                string
		}{
			{"GET", "/api/v1/triggers", other, 403, "insufficient_scope"},
			{"GET", "/api/v1/triggers", otherLast(reader), 401, "invalid_api_key"},
			{"GET", "/api/v1/triggers", "sk_test_" + strings.Repeat("A", 32), 401, "invalid_api_key"},
			{"GET", "/api/v1/triggers", revoked, 401, "invalid_api_key"},
			{"GET", "/api/v1/triggers", "", 401, "invalid_api_key"},
			{"DELETE", "/api/v1/triggers/trg_1", reader, 403, "insufficient_scope"},
			{"GET", "/api/v1/billing", reader, 403, "no_route_policy"},
			{"GET", "/api/v1/triggers/%2e%2e/admin", reader, 400, "invalid_path"},
			{"GET", "/api/v1/triggers", limited, 200, ""},
			{"GET", "/api/v1/triggers", limited, 429, "rate_limited"},
		} {
			resp := check(c.method, c.target, c.key)
			if c.status == 200 {
				if resp.GetOkResponse() == nil {
					t.Fatalf("%s %s: %v", c.method, c.target, resp)
				}
				continue
			}
			d := resp.GetDeniedResponse()
			if d == nil || int32(d.GetStatus().GetCode()) != c.status {
				t.Fatalf("%s %s: %v, want %d", c.method, c.target, resp, c.status)
			}
			var env struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(d.GetBody()), &env); err != nil || env.Error.Code != c.code {
				t.Fatalf("%s %s: body %s, want code %s", c.method, c.target, d.GetBody(), c.code)
			}
			hs := map[string]string{}
			for _, o := range d.GetHeaders() {
				hs[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
			}
			if hs["content-type"] != "application/json" || (c.status == 401) != (hs["www-authenticate"] != "") || (c.status == 429) != (hs["retry-after"] != "") {
				t.Fatalf("%s %s: headers %v", c.method, c.target, hs)
			}
		}

		eventually(t, 5*time.Second, "the ext_authz use in the audit trail", func() bool {
			for _, ev := range s.auditLog("/api/v1/audit-logs?action=key.used", bearer(tok)...) {
				if ev["client_request_id"] == "ea-ok" {
					wantFields(t, "ext_authz use", ev, map[string]any{"method": "GET", "path": "/api/v1/triggers", "client_ip": "203.0.113.9",
						"status": float64(200), "user_agent": "curl/8.5.0"})
					return true
				}
			}
			return false
		})
	})
}
