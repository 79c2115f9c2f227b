package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/routes"
	"github.com/agentauri/apikeys/ports"
)

// ExtAuthzOptions configure the Envoy external-authorization service.
type ExtAuthzOptions struct {
	Keys   ports.KeyService // required
	Routes *routes.Policy   // nil: every request is refused (no_route_policy)
	// AcceptBearer also takes a key from authorization: Bearer sk_...
	AcceptBearer bool
	Logger       *slog.Logger // nil: discard
	// Tracer and Propagator, when both set, give each check a server span
	// continuing the trace context of the checked request's headers.
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
	// RetryAfter is the Retry-After of 503 answers, in seconds (default 1).
	RetryAfter int
}

// ExtAuthz is Envoy's external authorization over gRPC
// (envoy.service.auth.v3.Authorization/Check), for Envoy and Istio: each
// CheckRequest is decided by the route policy and the key's verification,
// answered like the forward-auth endpoint (the statuses, codes and
// envelope of this package) and audited like /auth/verify. It also serves
// the standard gRPC health service.
type ExtAuthz struct {
	authv3.UnimplementedAuthorizationServer
	o      ExtAuthzOptions
	health *health.Server
}

// The service name the health service reports, besides "" (the server).
const extAuthzService = "envoy.service.auth.v3.Authorization"

// NewExtAuthz returns the service.
func NewExtAuthz(o ExtAuthzOptions) (*ExtAuthz, error) {
	if o.Keys == nil {
		return nil, fmt.Errorf("httpapi: ExtAuthz needs Keys")
	}
	if o.Routes == nil {
		p, err := routes.New(nil, routes.DefaultDeny)
		if err != nil {
			return nil, err
		}
		o.Routes = p
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 1
	}
	return &ExtAuthz{o: o, health: health.NewServer()}, nil
}

// Register adds the authorization and health services to g, both
// reported serving.
func (s *ExtAuthz) Register(g *grpc.Server) {
	authv3.RegisterAuthorizationServer(g, s)
	healthpb.RegisterHealthServer(g, s.health)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(extAuthzService, healthpb.HealthCheckResponse_SERVING)
}

// Shutdown reports the services not serving, so that Envoy's health
// checks stop sending before the listener closes.
func (s *ExtAuthz) Shutdown() { s.health.Shutdown() }

// Identity and secret headers, as Envoy names them (lower case).
var envoyIdentityHeaders = []string{"x-key-id", "x-organization-id", "x-scopes", "x-key-environment"}

// Check decides one request. Refusals are answers (a DeniedHttpResponse
// with the status and JSON envelope of the HTTP API), never gRPC errors,
// so that Envoy's failure_mode_allow can never let them through.
func (s *ExtAuthz) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	hr := req.GetAttributes().GetRequest().GetHttp()
	headers := headerMap(hr)
	if s.o.Tracer != nil && s.o.Propagator != nil {
		ctx = s.o.Propagator.Extract(ctx, propagation.MapCarrier(headers))
		var span trace.Span
		ctx, span = s.o.Tracer.Start(ctx, "ext_authz Check", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", hr.GetMethod())))
		defer span.End()
		resp := s.check(ctx, req, hr, headers)
		code := int(resp.GetDeniedResponse().GetStatus().GetCode())
		if code == 0 {
			code = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", code))
		if code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(code))
		}
		return resp, nil
	}
	return s.check(ctx, req, hr, headers), nil
}

func (s *ExtAuthz) check(ctx context.Context, req *authv3.CheckRequest, hr *authv3.AttributeContext_HttpRequest, headers map[string]string) *authv3.CheckResponse {
	method, target := hr.GetMethod(), hr.GetPath()
	d := s.o.Routes.Match(method, target)
	if err := d.Err(); err != nil {
		return s.errorResponse(ctx, err)
	}
	remove := []string{"x-api-key"}
	if !d.NeedsKey() {
		return allow(nil, append(remove, envoyIdentityHeaders...))
	}
	secret, fromBearer, err := EdgeSecret(headers["x-api-key"], headers["authorization"], s.o.AcceptBearer)
	if err != nil {
		return s.errorResponse(ctx, err)
	}
	if fromBearer {
		remove = append(remove, "authorization")
	}
	ri := audit.Request{
		Method:    method,
		ClientIP:  req.GetAttributes().GetSource().GetAddress().GetSocketAddress().GetAddress(),
		UserAgent: headers["user-agent"],
		RequestID: NewRequestID(),
	}
	ri.Path, _, _ = strings.Cut(target, "?")
	if cid := headers["x-request-id"]; audit.ValidClientRequestID(cid) {
		ri.ClientRequestID = cid
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		ri.TraceID = sc.TraceID().String()
		if sc.IsSampled() {
			ri.SpanID = sc.SpanID().String()
		}
	}
	v, err := s.o.Keys.Verify(ctx, ports.VerifyInput{Secret: secret, Scopes: d.Scopes.Strings(), Environments: d.Environments, Request: ri})
	if err != nil {
		return s.errorResponse(ctx, err)
	}
	if v.Outcome != apikey.OutcomeOK {
		st, code, msg := Refusal(v)
		_ = s.o.Keys.Record(ctx, v, st) // refused whether or not it is recorded
		h := http.Header{}
		RefusalHeaders(h, v)
		return denied(st, h, Envelope(code, msg, ""))
	}
	if err := s.o.Keys.Record(ctx, v, http.StatusOK); err != nil {
		return s.errorResponse(ctx, err) // no verification succeeds unrecorded
	}
	h := http.Header{}
	SetIdentity(h, v.Key)
	BudgetHeaders(h, v)
	return allow(h, remove)
}

// errorResponse denies with ErrorAnswer's answer to err.
func (s *ExtAuthz) errorResponse(ctx context.Context, err error) *authv3.CheckResponse {
	st, code, msg, field := ErrorAnswer(err)
	h := http.Header{}
	switch {
	case st == http.StatusServiceUnavailable:
		h.Set("Retry-After", strconv.Itoa(s.o.RetryAfter))
		s.o.Logger.WarnContext(ctx, "ext_authz: unavailable", slog.String("error", err.Error()))
	case st >= http.StatusInternalServerError:
		s.o.Logger.ErrorContext(ctx, "ext_authz: internal error", slog.String("error", err.Error()))
	}
	return denied(st, h, Envelope(code, msg, field))
}

// headerMap returns the checked request's headers, lower-cased, from
// headers or (Envoy's encode_raw_headers) header_map.
func headerMap(hr *authv3.AttributeContext_HttpRequest) map[string]string {
	if h := hr.GetHeaders(); len(h) > 0 {
		return h
	}
	out := map[string]string{}
	for _, hv := range hr.GetHeaderMap().GetHeaders() {
		v := hv.GetValue()
		if v == "" {
			v = string(hv.GetRawValue())
		}
		out[strings.ToLower(hv.GetKey())] = v
	}
	return out
}

// allow allows the request, adding (overwriting) the headers add and
// removing those named in remove.
func allow(add http.Header, remove []string) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(grpccodes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers: options(add), HeadersToRemove: remove,
		}},
	}
}

// denied refuses the request with status, headers and a JSON body.
func denied(status int, h http.Header, body []byte) *authv3.CheckResponse {
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	code := grpccodes.PermissionDenied
	if status == http.StatusUnauthorized {
		code = grpccodes.Unauthenticated
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(status)}, Headers: options(h), Body: string(body),
		}},
	}
}

// options turns h into header options that overwrite what is there.
func options(h http.Header) []*corev3.HeaderValueOption {
	out := make([]*corev3.HeaderValueOption, 0, len(h))
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: strings.ToLower(k), Value: v},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			})
		}
	}
	return out
}
