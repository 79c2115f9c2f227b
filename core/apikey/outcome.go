package apikey

import "errors"

// Outcomes of a verification, as recorded in audit events and telemetry.
const (
	OutcomeOK          = "ok"
	OutcomeMissing     = "missing"
	OutcomeMalformed   = "malformed"
	OutcomeChecksum    = "checksum"
	OutcomeUnknown     = "unknown"
	OutcomeRevoked     = "revoked"
	OutcomeExpired     = "expired"
	OutcomeScopeDenied = "scope_denied"
	OutcomeError       = "error" // the verification could not be decided (e.g. database down)
)

// Outcome names the result of a verification that ended with err: OutcomeOK
// for nil, one of the other Outcome constants for the authentication
// failures, and OutcomeError for anything else.
func Outcome(err error) string {
	if err == nil {
		return OutcomeOK
	}
	var se *ScopeError
	switch {
	case errors.As(err, &se):
		return OutcomeScopeDenied
	case errors.Is(err, ErrMissingKey):
		return OutcomeMissing
	case errors.Is(err, ErrMalformedKey):
		return OutcomeMalformed
	case errors.Is(err, ErrChecksum):
		return OutcomeChecksum
	case errors.Is(err, ErrUnknownKey):
		return OutcomeUnknown
	case errors.Is(err, ErrRevoked):
		return OutcomeRevoked
	case errors.Is(err, ErrExpired):
		return OutcomeExpired
	}
	return OutcomeError
}
