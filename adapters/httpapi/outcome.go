package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

// codeInsufficientScope is the code of a 403 for a missing scope.
const codeInsufficientScope = "insufficient_scope"

// verifyStatuses is the one mapping of a decided verification's outcome to
// the HTTP status answered for it. Every outcome the core can decide has a
// row (a test checks it); an undecided verification is an error, answered
// through writeError.
var verifyStatuses = map[apikey.Outcome]int{
	apikey.OutcomeOK:           http.StatusOK,
	apikey.OutcomeScopeDenied:  http.StatusForbidden,
	apikey.OutcomeMissing:      http.StatusUnauthorized,
	apikey.OutcomeMalformed:    http.StatusUnauthorized,
	apikey.OutcomeChecksum:     http.StatusUnauthorized,
	apikey.OutcomeUnknown:      http.StatusUnauthorized,
	apikey.OutcomeRevoked:      http.StatusUnauthorized,
	apikey.OutcomeExpired:      http.StatusUnauthorized,
	apikey.OutcomeRotated:      http.StatusUnauthorized,
	apikey.OutcomeRateLimited:  http.StatusTooManyRequests,
	apikey.OutcomeThrottled:    http.StatusTooManyRequests,
	apikey.OutcomeIPNotAllowed: http.StatusForbidden,
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
		refuse(c, v)
		return false
	}
	if err != nil {
		s.writeError(c, err)
		return false
	}
	return true
}

// refuse answers a verification whose outcome is not OutcomeOK: one 401
// body for every key that does not authenticate, 403 ip_not_allowed for a
// client address the key's allowlist refuses (naming the address, as this
// service resolved it), 403 insufficient_scope naming the required scopes
// the key lacks, 429 with Retry-After for a spent budget.
func refuse(c *gin.Context, v ports.Verification) {
	budgetHeaders(c, v)
	switch st := verifyStatus(v.Outcome); {
	case v.Outcome == apikey.OutcomeIPNotAllowed:
		abort(c, st, codeIPNotAllowed, fmt.Sprintf("the API key may not be used from %s", v.Request.ClientIP), "")
	case st == http.StatusUnauthorized:
		c.Header("WWW-Authenticate", `ApiKey realm="apikeys", header="X-API-Key"`)
		abort(c, st, codeInvalidKey, msgInvalidKey, "")
	case st == http.StatusForbidden:
		abort(c, st, codeInsufficientScope, (&apikey.ScopeError{Required: v.Missing, Granted: v.Key.Scopes}).Error(), "")
	case v.Outcome == apikey.OutcomeRateLimited:
		abort(c, st, codeRateLimited, msgRateLimited, "")
	case v.Outcome == apikey.OutcomeThrottled:
		abort(c, st, codeThrottled, msgThrottled, "")
	default:
		abort(c, st, "internal_error", "internal error", "")
	}
}

// budgetHeaders writes the request budget of a verification: the IETF
// RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers for a
// key's own budget (on success, on a missing scope and on 429 — never on a
// 401, which would tell a revoked key from an unknown one), and
// Retry-After on every 429. A limiter that failed open knows no budget:
// nothing is written then.
func budgetHeaders(c *gin.Context, v ports.Verification) {
	d := v.Budget
	if d.Limit == 0 || d.FailedOpen {
		return
	}
	h := c.Writer.Header()
	switch v.Outcome {
	case apikey.OutcomeOK, apikey.OutcomeScopeDenied, apikey.OutcomeRateLimited:
		h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("RateLimit-Reset", strconv.FormatInt(d.ResetSeconds(), 10))
	}
	if verifyStatus(v.Outcome) == http.StatusTooManyRequests {
		h.Set("Retry-After", strconv.FormatInt(d.RetryAfterSeconds(), 10))
	}
}
