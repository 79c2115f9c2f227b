package apikey

// Outcome is the result of one verification of a presented key. The core
// computes it once, when the verification is decided; audit events,
// telemetry and the HTTP adapter's status mapping all read this value and
// never re-derive it from an error.
type Outcome string

// The outcomes of a verification.
const (
	OutcomeOK           Outcome = "ok"                 // the key is valid (and holds the required scope)
	OutcomeMissing      Outcome = "missing"            // no key was presented
	OutcomeMalformed    Outcome = "malformed"          // not in the key format
	OutcomeChecksum     Outcome = "checksum"           // the checksum does not match
	OutcomeUnknown      Outcome = "unknown"            // no key has this secret
	OutcomeRevoked      Outcome = "revoked"            // the key is revoked
	OutcomeExpired      Outcome = "expired"            // the key is past its expiry time
	OutcomeRotated      Outcome = "rotated"            // the secret was the key's until a rotation replaced it (and its grace period ended)
	OutcomeScopeDenied  Outcome = "scope_denied"       // the key lacks the required scope
	OutcomeEnvDenied    Outcome = "environment_denied" // the route does not admit keys of the key's environment
	OutcomeRateLimited  Outcome = "rate_limited"       // the key is valid but its request budget is spent
	OutcomeThrottled    Outcome = "throttled"          // the client address has failed to authenticate too often
	OutcomeIPNotAllowed Outcome = "ip_not_allowed"     // the key is valid but its IP allowlist refuses the client address
	OutcomeError        Outcome = "error"              // undecided: a dependency failed (database down, ...)
)

// Outcomes lists every outcome, in the order above.
var Outcomes = []Outcome{
	OutcomeOK, OutcomeMissing, OutcomeMalformed, OutcomeChecksum, OutcomeUnknown,
	OutcomeRevoked, OutcomeExpired, OutcomeRotated, OutcomeScopeDenied, OutcomeEnvDenied, OutcomeRateLimited, OutcomeThrottled, OutcomeIPNotAllowed, OutcomeError,
}

// Unauthenticated reports whether the outcome means the presented key does
// not prove who the caller is: missing, malformed, checksum, unknown,
// revoked, expired or rotated. Every such outcome gets the same answer, so a caller
// cannot tell them apart.
func (o Outcome) Unauthenticated() bool {
	switch o {
	case OutcomeMissing, OutcomeMalformed, OutcomeChecksum, OutcomeUnknown, OutcomeRevoked, OutcomeExpired, OutcomeRotated:
		return true
	}
	return false
}

// Identified reports whether the outcome is about a key the secret was
// proven to be (or, for revoked, expired and rotated, was): its events
// name the key. The others name none.
func (o Outcome) Identified() bool {
	switch o {
	case OutcomeOK, OutcomeScopeDenied, OutcomeEnvDenied, OutcomeRateLimited, OutcomeRevoked, OutcomeExpired, OutcomeRotated, OutcomeIPNotAllowed:
		return true
	}
	return false
}

// Decided reports whether the verification reached a verdict (every
// outcome but OutcomeError).
func (o Outcome) Decided() bool { return o != OutcomeError && o != "" }
