package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

// Codes of the 403 answers of a verification: a missing scope, a key
// environment the route does not admit.
const (
	codeInsufficientScope    = "insufficient_scope"
	codeForbiddenEnvironment = "forbidden_environment"
)

// verifyStatuses is the one mapping of a decided verification's outcome to
// the HTTP status answered for it. Every outcome the core can decide has a
// row (a test checks it); an undecided verification is an error, answered
// through writeError.
var verifyStatuses = map[apikey.Outcome]int{
	apikey.OutcomeOK:           http.StatusOK,
	apikey.OutcomeScopeDenied:  http.StatusForbidden,
	apikey.OutcomeEnvDenied:    http.StatusForbidden,
	apikey.OutcomeIPNotAllowed: http.StatusForbidden,
	apikey.OutcomeMissing:      http.StatusUnauthorized,
	apikey.OutcomeMalformed:    http.StatusUnauthorized,
	apikey.OutcomeChecksum:     http.StatusUnauthorized,
	apikey.OutcomeUnknown:      http.StatusUnauthorized,
	apikey.OutcomeRevoked:      http.StatusUnauthorized,
	apikey.OutcomeExpired:      http.StatusUnauthorized,
	apikey.OutcomeRotated:      http.StatusUnauthorized,
	apikey.OutcomeRateLimited:  http.StatusTooManyRequests,
	apikey.OutcomeThrottled:    http.StatusTooManyRequests,
}

// Codes and messages of the 429 answers.
const (
	codeRateLimited  = "rate_limited"
	msgRateLimited   = "the API key's request budget is spent; retry after the time in Retry-After"
	codeThrottled    = "too_many_failed_attempts"
	codeIPNotAllowed = "ip_not_allowed"
	msgThrottled     = "too many failed authentications from this address; retry after the time in Retry-After"
)

// verifyStatus is the status answered for outcome o.
func verifyStatus(o apikey.Outcome) int {
	if st, ok := verifyStatuses[o]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// admit records v with status, the answer given for it (0: not known yet),
// and reports whether the request may go on as the verified key. If not,
// it has answered: the refusal of a verification that failed (whether or
// not its event could be recorded), or 503 for a valid key whose use the
// audit trail cannot take, since no verification succeeds unrecorded.
func (s *Server) admit(c *gin.Context, v ports.Verification, status int) bool {
	err := s.keys.Record(c.Request.Context(), v, status)
	if v.Outcome != apikey.OutcomeOK {
		if v.Outcome == apikey.OutcomeThrottled {
			s.tarpit.hold(c.Request.Context())
		}
		refuse(c, v)
		return false
	}
	if err != nil {
		s.writeError(c, err)
		return false
	}
	return true
}

// refuse answers a verification whose outcome is not OutcomeOK with
// Refusal's answer.
func refuse(c *gin.Context, v ports.Verification) {
	st, code, msg := Refusal(v)
	RefusalHeaders(c.Writer.Header(), v)
	abort(c, st, code, msg, "")
}

// wwwAuthenticate is the challenge of every 401 of an API key.
const wwwAuthenticate = `ApiKey realm="apikeys", header="X-API-Key"`

// Refusal is the answer to a verification whose outcome is not OutcomeOK,
// for every adapter that answers one (HTTP, ext_authz): one 401 for every
// key that does not authenticate, 403 ip_not_allowed for a client address
// the key's allowlist refuses (naming the address, as this service
// resolved it), 403 insufficient_scope naming the required scopes the key
// lacks, 403 forbidden_environment, 429 for a spent budget.
func Refusal(v ports.Verification) (status int, code, message string) {
	switch st := verifyStatus(v.Outcome); {
	case v.Outcome == apikey.OutcomeIPNotAllowed:
		return st, codeIPNotAllowed, fmt.Sprintf("the API key may not be used from %s", v.Request.ClientIP)
	case st == http.StatusUnauthorized:
		return st, codeInvalidKey, msgInvalidKey
	case v.Outcome == apikey.OutcomeEnvDenied:
		return st, codeForbiddenEnvironment, fmt.Sprintf("a %s key may not call this route", v.Key.Environment)
	case st == http.StatusForbidden:
		return st, codeInsufficientScope, (&apikey.ScopeError{Required: v.Missing, Granted: v.Key.Scopes}).Error()
	case v.Outcome == apikey.OutcomeRateLimited:
		return st, codeRateLimited, msgRateLimited
	case v.Outcome == apikey.OutcomeThrottled:
		return st, codeThrottled, msgThrottled
	default:
		return st, "internal_error", "internal error"
	}
}

// RefusalHeaders writes the headers of Refusal's answer into h: the
// budget (BudgetHeaders), and WWW-Authenticate on a 401.
func RefusalHeaders(h http.Header, v ports.Verification) {
	BudgetHeaders(h, v)
	if verifyStatus(v.Outcome) == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", wwwAuthenticate)
	}
}

// Envelope is the JSON error envelope of code, message and field.
func Envelope(code, message, field string) []byte {
	b, _ := json.Marshal(errorBody{Error: errorDetail{Code: code, Message: message, Field: field}})
	return b
}

// budgetHeaders writes the budget of v into the answer (BudgetHeaders).
func budgetHeaders(c *gin.Context, v ports.Verification) { BudgetHeaders(c.Writer.Header(), v) }

// BudgetHeaders writes the request budget of a verification into h: the IETF
// RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers for a
// key's own budget (on success, on a missing scope and on 429 — never on a
// 401, which would tell a revoked key from an unknown one), and
// Retry-After on every 429. A limiter that failed open knows no budget:
// nothing is written then.
func BudgetHeaders(h http.Header, v ports.Verification) {
	d := v.Budget
	if d.Limit == 0 || d.FailedOpen {
		return
	}
	switch v.Outcome {
	case apikey.OutcomeOK, apikey.OutcomeScopeDenied, apikey.OutcomeEnvDenied, apikey.OutcomeRateLimited:
		h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("RateLimit-Reset", strconv.FormatInt(d.ResetSeconds(), 10))
	}
	if verifyStatus(v.Outcome) == http.StatusTooManyRequests {
		h.Set("Retry-After", strconv.FormatInt(d.RetryAfterSeconds(), 10))
	}
}
