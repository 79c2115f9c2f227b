// Package audit holds the audit event recorded for every key operation and
// every use of a key.
package audit

import "time"

// Action names what happened.
type Action string

// The recorded actions.
const (
	ActionKeyCreated    Action = "key.created"
	ActionKeyUsed       Action = "key.used"
	ActionKeyAuthFailed Action = "key.auth_failed"
	ActionKeyRotated    Action = "key.rotated"
	ActionKeyRevoked    Action = "key.revoked"
	// ActionAuditPurged records a retention purge; it belongs to no
	// organization.
	ActionAuditPurged Action = "audit.purged"
)

// Actions lists every action, for validating filters.
var Actions = []Action{ActionKeyCreated, ActionKeyUsed, ActionKeyAuthFailed, ActionKeyRotated, ActionKeyRevoked, ActionAuditPurged}

// Valid reports whether a is one of Actions.
func (a Action) Valid() bool {
	for _, x := range Actions {
		if a == x {
			return true
		}
	}
	return false
}

// Event is one audit record. Details holds action-specific facts (scopes of
// a created key, failure reason, ...) and never a secret or a hash.
type Event struct {
	ID             string
	Time           time.Time // UTC
	OrganizationID string
	Actor          string // "user:<sub>", "key:<id>", "anonymous" or "system:<job>"
	Action         Action
	KeyID          string
	RequestID      string
	TraceID        string
	Method         string
	Path           string
	ClientIP       string
	UserAgent      string
	Status         int    // HTTP status answered, where known
	Outcome        string // ok, unknown, checksum, malformed, missing, revoked, expired, scope_denied
	Scope          string // scope required by the request, if any
	Details        map[string]any
}

// IDPrefix starts every audit event id.
const IDPrefix = "evt_"
