package httpapi_test

import (
	"context"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/routes"
	"github.com/agentauri/apikeys/ports"
)

const authzKey = "sk_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// authzKeys admits authzKey with triggers:read and keeps what it was asked.
type authzKeys struct {
	ports.KeyService
	secret   string
	req      audit.Request
	ctx      context.Context
	recorded int
}

func (f *authzKeys) Verify(ctx context.Context, in ports.VerifyInput) (ports.Verification, error) {
	f.secret, f.req, f.ctx = in.Secret, in.Request, ctx
	v := ports.Verification{Outcome: apikey.OutcomeUnknown, Request: in.Request}
	if in.Secret == authzKey {
		v.Outcome = apikey.OutcomeOK
		v.Key = apikey.Verified{KeyID: "key_1", OrganizationID: "org_1", Scopes: apikey.Scopes{apikey.ScopeTriggersRead}, Environment: apikey.EnvTest}
	}
	return v, nil
}

func (f *authzKeys) Record(_ context.Context, _ ports.Verification, status int) error {
	f.recorded = status
	return nil
}

func newService(t *testing.T, keys *authzKeys, o httpapi.ExtAuthzOptions) *httpapi.ExtAuthz {
	t.Helper()
	p, err := routes.New([]routes.Rule{
		{Methods: []string{"GET"}, Path: "/api/v1/triggers/**", Scopes: []string{"triggers:read"}},
		{Methods: []string{"GET"}, Path: "/api/v1/status", Public: true},
	}, routes.DefaultDeny)
	if err != nil {
		t.Fatal(err)
	}
	o.Keys, o.Routes = keys, p
	s, err := httpapi.NewExtAuthz(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func request(method, path string, headers map[string]string, raw bool) *authv3.CheckRequest {
	hr := &authv3.AttributeContext_HttpRequest{Method: method, Path: path}
	if raw { // Envoy's encode_raw_headers: header_map instead of headers
		hm := &corev3.HeaderMap{}
		for k, v := range headers {
			hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
		}
		hr.HeaderMap = hm
	} else {
		hr.Headers = headers
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "198.51.100.4"}}}},
		Request: &authv3.AttributeContext_Request{Http: hr},
	}}
}

// TestCheckContinuesTheTrace: the check's span is a child of the span
// named by the checked request's traceparent, and the verification runs
// inside it, whichever header encoding Envoy uses.
func TestCheckContinuesTheTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	keys := &authzKeys{}
	s := newService(t, keys, httpapi.ExtAuthzOptions{Tracer: tp.Tracer("test"), Propagator: propagation.TraceContext{}})
	for _, raw := range []bool{false, true} {
		resp, err := s.Check(context.Background(), request("GET", "/api/v1/triggers", map[string]string{
			"x-api-key": authzKey, "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "user-agent": "ua",
		}, raw))
		if err != nil || resp.GetOkResponse() == nil {
			t.Fatalf("raw %v: %v, %v", raw, resp, err)
		}
		sc := trace.SpanContextFromContext(keys.ctx)
		if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || keys.req.TraceID != sc.TraceID().String() || keys.req.UserAgent != "ua" ||
			keys.req.ClientIP != "198.51.100.4" || keys.recorded != 200 {
			t.Fatalf("raw %v: trace %v, request %+v, recorded %d", raw, sc.TraceID(), keys.req, keys.recorded)
		}
	}
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Parent().SpanID().String() != "00f067aa0ba902b7" || spans[0].SpanKind() != trace.SpanKindServer {
		t.Fatalf("spans %v", spans)
	}
}

// TestCheckBearerAndPublicRoutes: a authzKey in authorization (accept_bearer)
// is taken and the header removed; a public route passes with every
// identity header and the authzKey removed, so none can be forged.
func TestCheckBearerAndPublicRoutes(t *testing.T) {
	keys := &authzKeys{}
	s := newService(t, keys, httpapi.ExtAuthzOptions{AcceptBearer: true})
	resp, err := s.Check(context.Background(), request("GET", "/api/v1/triggers", map[string]string{"authorization": "Bearer " + authzKey}, false))
	if err != nil || resp.GetOkResponse() == nil || keys.secret != authzKey {
		t.Fatalf("bearer: %v, %v", resp, err)
	}
	if rm := resp.GetOkResponse().GetHeadersToRemove(); len(rm) != 2 || rm[1] != "authorization" {
		t.Fatalf("bearer: removes %v", rm)
	}
	resp, err = s.Check(context.Background(), request("GET", "/api/v1/triggers", map[string]string{"authorization": "Bearer " + authzKey, "x-api-key": authzKey}, false))
	if err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 400 {
		t.Fatalf("both: %v, %v", resp, err)
	}
	resp, err = s.Check(context.Background(), request("GET", "/api/v1/status", map[string]string{"x-key-id": "key_forged"}, false))
	if err != nil || resp.GetOkResponse() == nil || len(resp.GetOkResponse().GetHeaders()) != 0 || len(resp.GetOkResponse().GetHeadersToRemove()) != 5 {
		t.Fatalf("public: %v, %v", resp, err)
	}
}
