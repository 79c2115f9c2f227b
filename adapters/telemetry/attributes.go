package telemetry

import (
	"context"
	"errors"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentauri/apikeys/core/apikey"
)

// The apikeys attribute namespace, used where no semantic convention
// exists. None of them ever holds a secret, a hash or a lookup digest.
const (
	// AttrKeyID is the key id (key_…): the attribute to search for every
	// request made with one key.
	AttrKeyID = attribute.Key("apikey.id")
	// AttrEnvironment is the key's environment: test or live.
	AttrEnvironment = attribute.Key("apikey.environment")
	// AttrOrganizationID is the organization owning the key.
	AttrOrganizationID = attribute.Key("organization.id")
	// AttrScopeRequired is the scope a verification asked for.
	AttrScopeRequired = attribute.Key("apikey.scope.required")
	// AttrOutcome is the result of a verification: ok, unknown, checksum,
	// malformed, missing, revoked, expired, scope_denied, invalid_request
	// or error.
	AttrOutcome = attribute.Key("apikey.outcome")
	// AttrCacheHit says whether a verification was answered from the
	// in-process verification cache, without a database read or Argon2id.
	AttrCacheHit = attribute.Key("apikey.cache_hit")
	// AttrActor is who called a management operation: user:<sub> or key:<id>.
	AttrActor = attribute.Key("apikey.actor")
	// AttrOperation names a management operation in metrics: create, list,
	// get, rotate or revoke.
	AttrOperation = attribute.Key("apikey.operation")
	// AttrListCount is how many keys a list call returned.
	AttrListCount = attribute.Key("apikey.list.count")
	// AttrAuditEventID is the id (evt_…) of the audit event a span's
	// operation recorded; the event in turn carries the span's trace id.
	AttrAuditEventID = attribute.Key("audit.event_id")
	// AttrAuditBatchSize is how many usage events one audit flush wrote.
	AttrAuditBatchSize = attribute.Key("audit.batch.size")
	// AttrArgon2Operation is hash or verify.
	AttrArgon2Operation = attribute.Key("argon2id.operation")
)

// OutcomeInvalidRequest is the telemetry outcome of a verification refused
// for bad input (an unknown scope name) before any key was looked at.
const OutcomeInvalidRequest = "invalid_request"

// errorType classifies err for error.type: a short, fixed vocabulary (or a
// Go type name), never the error's text, which may quote stored values.
func errorType(err error) string {
	var ve *apikey.ValidationError
	var de *apikey.DeniedError
	var se *apikey.ScopeError
	switch {
	case errors.As(err, &ve):
		return ve.Code
	case errors.As(err, &de):
		return de.Code
	case errors.As(err, &se):
		return "insufficient_scope"
	case errors.As(err, new(*apikey.RateLimitError)):
		return "rate_limited"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, apikey.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, apikey.ErrNotFound):
		return "not_found"
	case errors.Is(err, apikey.ErrConflict):
		return "conflict"
	case errors.Is(err, apikey.ErrRevoked):
		return "revoked"
	case errors.Is(err, apikey.ErrUnauthenticated):
		return "unauthenticated"
	case errors.Is(err, apikey.ErrForbidden):
		return "forbidden"
	}
	return semconv.ErrorTypeOther.Value.AsString()
}

// serverFault reports whether err is the service's failure rather than the
// caller's: only those set a span's status to Error.
func serverFault(err error) bool {
	switch errorType(err) {
	case "unavailable", "timeout", semconv.ErrorTypeOther.Value.AsString():
		return true
	}
	return false
}

// endWithError records err's class on span; the status description is the
// class too, never err.Error().
func endWithError(span trace.Span, err error) {
	if err == nil {
		return
	}
	et := errorType(err)
	span.SetAttributes(semconv.ErrorTypeKey.String(et))
	if serverFault(err) {
		span.SetStatus(codes.Error, et)
	}
}

// safeKeyID returns id if it has the shape of a key id, else "": ids come
// from request paths, where a caller may paste anything, even a secret.
func safeKeyID(id string) string {
	if !apikey.ValidKeyID(id) {
		return ""
	}
	return id
}

// environmentOf names the environment a presented secret claims (its
// sk_test_/sk_live_ prefix), or "unknown" if it is not well-formed. Only
// the parsed environment leaves this function, never the secret.
func environmentOf(secret string) string {
	env, err := apikey.Parse(secret)
	switch {
	case err == nil:
		return string(env)
	case errors.Is(err, apikey.ErrChecksum):
		for _, e := range []apikey.Environment{apikey.EnvTest, apikey.EnvLive} {
			if strings.HasPrefix(secret, e.Prefix()) {
				return string(e)
			}
		}
	}
	return "unknown"
}
