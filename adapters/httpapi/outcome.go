package httpapi

import (
	"net/http"

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
	apikey.OutcomeOK:          http.StatusOK,
	apikey.OutcomeScopeDenied: http.StatusForbidden,
	apikey.OutcomeMissing:     http.StatusUnauthorized,
	apikey.OutcomeMalformed:   http.StatusUnauthorized,
	apikey.OutcomeChecksum:    http.StatusUnauthorized,
	apikey.OutcomeUnknown:     http.StatusUnauthorized,
	apikey.OutcomeRevoked:     http.StatusUnauthorized,
	apikey.OutcomeExpired:     http.StatusUnauthorized,
}

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
// body for every key that does not authenticate, 403 insufficient_scope
// naming the required scopes the key lacks.
func refuse(c *gin.Context, v ports.Verification) {
	switch st := verifyStatus(v.Outcome); st {
	case http.StatusUnauthorized:
		c.Header("WWW-Authenticate", `ApiKey realm="apikeys", header="X-API-Key"`)
		abort(c, st, codeInvalidKey, msgInvalidKey, "")
	case http.StatusForbidden:
		abort(c, st, codeInsufficientScope, (&apikey.ScopeError{Required: v.Missing, Granted: v.Key.Scopes}).Error(), "")
	default:
		abort(c, st, "internal_error", "internal error", "")
	}
}
