package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/orgpolicy"
	"github.com/agentauri/apikeys/core/routes"
)

// errorBody is the one JSON error envelope of the API:
// {"error":{"code":"invalid_scope","message":"...","field":"scopes[1]"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Public messages for the authentication failures. Every failure of an API
// key gets the same body, so a caller cannot tell an unknown key from a
// revoked or expired one.
const (
	codeInvalidKey  = "invalid_api_key"
	msgInvalidKey   = "the API key is missing, invalid, expired or revoked"
	codeUnauth      = "unauthenticated"
	msgUnauth       = "send Authorization: Bearer <JWT> or X-API-Key: <key>"
	codeUnavailable = "service_unavailable"
	msgUnavailable  = "the service is temporarily unavailable; retry shortly"
)

// errorEntry is one row of the error->HTTP table.
type errorEntry struct {
	target  error
	status  int
	code    string
	message string
}

// errorTable maps the domain errors of operations (management, audit log)
// to statuses and public messages. Order matters only where one error
// wraps another. Verification outcomes are not errors: verifyAnswers maps
// them.
var errorTable = []errorEntry{
	{apikey.ErrNotFound, http.StatusNotFound, "not_found", "no such API key"},
	{apikey.ErrRevoked, http.StatusConflict, "key_revoked", "the API key is revoked"},
	{apikey.ErrExpired, http.StatusConflict, "key_expired", "the API key has expired; set a new expiry instead of rotating it"},
	{apikey.ErrConflict, http.StatusConflict, "conflict", "the key was changed concurrently; retry"},
	{apikey.ErrUnavailable, http.StatusServiceUnavailable, codeUnavailable, msgUnavailable},
	{apikey.ErrUnauthenticated, http.StatusUnauthorized, codeUnauth, msgUnauth},
	{routes.ErrNoRoute, http.StatusForbidden, "no_route_policy", "no route policy covers this request"},
	{apikey.ErrForbidden, http.StatusForbidden, "forbidden", "you may not do this"},
	{errBadGateway, http.StatusBadGateway, "bad_gateway", "the upstream API could not be reached"},
	{errGatewayTimeout, http.StatusGatewayTimeout, "gateway_timeout", "the upstream API did not answer in time"},
}

// writeError answers err with ErrorAnswer's answer (and Retry-After on
// 429 and 503). Errors ErrorAnswer does not know are logged and answered
// as a bare 500, never with their text.
func (s *Server) writeError(c *gin.Context, err error) {
	st, code, msg, field := ErrorAnswer(err)
	var re *apikey.RateLimitError
	switch {
	case errors.As(err, &re):
		c.Header("Retry-After", strconv.FormatInt(max(1, int64((re.RetryAfter+time.Second-1)/time.Second)), 10))
	case st == http.StatusServiceUnavailable:
		c.Header("Retry-After", s.retryAfter)
		s.log.WarnContext(c.Request.Context(), "unavailable", slog.String("error", err.Error()), slog.String("request_id", requestID(c)))
	case st == http.StatusInternalServerError:
		s.log.ErrorContext(c.Request.Context(), "internal error", slog.String("error", err.Error()), slog.String("request_id", requestID(c)))
	}
	abort(c, st, code, msg, field)
}

// ErrorAnswer is the status, code, message and field answered for err,
// for every adapter (HTTP, ext_authz): a ValidationError as 400 with its
// code and field, an organization policy's refusal (orgpolicy.Error) as
// 422 with its code and field, a DeniedError as 403 with its code and field, a
// ScopeError as 403 insufficient_scope, a RateLimitError as 429, the
// domain errors through errorTable, anything else a bare 500.
func ErrorAnswer(err error) (status int, code, message, field string) {
	var ve *apikey.ValidationError
	var de *apikey.DeniedError
	var se *apikey.ScopeError
	var re *apikey.RateLimitError
	var pe *orgpolicy.Error
	switch {
	case errors.As(err, &pe):
		return http.StatusUnprocessableEntity, pe.Code, pe.Message, pe.Field
	case errors.As(err, &re):
		return http.StatusTooManyRequests, codeRateLimited, "too many requests that hash a secret; retry after the time in Retry-After", ""
	case errors.As(err, &ve):
		return http.StatusBadRequest, ve.Code, ve.Message, ve.Field
	case errors.As(err, &de):
		return http.StatusForbidden, de.Code, de.Message, de.Field
	case errors.As(err, &se):
		return http.StatusForbidden, codeInsufficientScope, se.Error(), ""
	}
	for _, e := range errorTable {
		if errors.Is(err, e.target) {
			return e.status, e.code, e.message, ""
		}
	}
	return http.StatusInternalServerError, "internal_error", "internal error", ""
}

func abort(c *gin.Context, status int, code, message, field string) {
	nginxCode(c, code)
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: code, Message: message, Field: field}})
}
