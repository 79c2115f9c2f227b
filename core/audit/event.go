// Package audit holds the audit event recorded for every key operation and
// every use of a key.
package audit

import (
	"strings"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
)

// Action names what happened.
type Action string

// The recorded actions.
const (
	ActionKeyCreated    Action = "key.created"
	ActionKeyUsed       Action = "key.used"
	ActionKeyAuthFailed Action = "key.auth_failed"
	ActionKeyRotated    Action = "key.rotated"
	ActionKeyRevoked    Action = "key.revoked"
	ActionKeyUpdated    Action = "key.updated"
	// ActionOrganizationUpdated records a change of an organization's
	// key policy.
	ActionOrganizationUpdated Action = "organization.updated"
	// ActionAuditPurged records a retention purge; it belongs to no
	// organization.
	ActionAuditPurged Action = "audit.purged"
)

// Actions lists every action, for validating filters.
var Actions = []Action{ActionKeyCreated, ActionKeyUsed, ActionKeyAuthFailed, ActionKeyRotated, ActionKeyRevoked, ActionKeyUpdated, ActionOrganizationUpdated, ActionAuditPurged}

// Valid reports whether a is one of Actions.
func (a Action) Valid() bool {
	for _, x := range Actions {
		if a == x {
			return true
		}
	}
	return false
}

// Usage reports whether a records a verification (key.used or
// key.auth_failed): the events written one per verification, by far the
// most numerous.
func (a Action) Usage() bool { return a == ActionKeyUsed || a == ActionKeyAuthFailed }

// AnonymousActor is the actor of a failed verification that names no key.
const AnonymousActor = "anonymous"

// UsageActor returns the actor of a usage event about keyID: "key:" +
// keyID, or AnonymousActor when no key is known. A usage event always has
// this actor, which lets stores find usage events by actor through their
// key.
func UsageActor(keyID string) string {
	if keyID == "" {
		return AnonymousActor
	}
	return "key:" + keyID
}

// UsageKeyID is the inverse of UsageActor: the key id whose usage events
// have actor, and whether any usage event can have it.
func UsageKeyID(actor string) (string, bool) {
	if actor == AnonymousActor {
		return "", true
	}
	id, ok := strings.CutPrefix(actor, "key:")
	if !ok || id == "" {
		return "", false
	}
	return id, true
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
	Status         int            // HTTP status answered, where known
	Outcome        apikey.Outcome // of a verification (usage events); "" for changes
	Scope          string         // scopes required by the request, comma-separated (ScopeSeparator); "" if none
	Details        map[string]any
	// ClientRequestID is the id the client gave the request (its
	// X-Request-Id, when ValidClientRequestID accepted it); "" if none.
	// RequestID is always the server's own.
	ClientRequestID string
	// SpanID is the sampled span of the request (Request.SpanID), kept in
	// memory only: stores do not record it and the hash chain does not
	// cover it. It lets telemetry link the write of a usage event to the
	// span of the request it records.
	SpanID string
}

// IDPrefix starts every audit event id.
const IDPrefix = apikey.EventIDPrefix
