package audit

import (
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/agentauri/apikeys/core/apikey"
)

// Request describes the request that caused an event, as the audit trail
// records it. The driving adapter fills it from what it believes of the
// request (the client address through trusted proxies); fields it does not
// know stay empty.
type Request struct {
	Method    string
	Path      string
	ClientIP  string
	UserAgent string
	// RequestID is the id the server made for the request, never one a
	// client sent.
	RequestID string
	// ClientRequestID is the id the client sent for the request (its
	// X-Request-Id), kept only when ValidClientRequestID accepts it.
	ClientRequestID string
	TraceID         string
	// SpanID is the W3C span id (16 hex digits) of the request's span, set
	// only when that span is sampled. Events carry it in memory only (see
	// Event.SpanID).
	SpanID string
}

// MaxClientRequestIDLen is the longest client request id kept.
const MaxClientRequestIDLen = 64

// ValidClientRequestID reports whether id may be recorded as a client's
// request id: 1 to MaxClientRequestIDLen characters among A-Z a-z 0-9 and
// . _ : - (UUIDs, ULIDs, "trace:span" pairs, ...). Anything else (spaces,
// control characters, quotes, non-ASCII, longer values) is dropped rather
// than cleaned, so the audit trail never holds a value a client shaped to
// look like something else.
func ValidClientRequestID(id string) bool {
	if id == "" || len(id) > MaxClientRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch ch := id[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case ch == '.', ch == '_', ch == ':', ch == '-':
		default:
			return false
		}
	}
	return true
}

// Event ids: IDPrefix, the event's time in milliseconds since 1970 as
// idTimeLen base62 digits, then random base62 characters (71 bits). Later
// events get ids that sort after earlier ones, so that stores append them
// at the end of their primary-key index instead of at random places: at
// thousands of verifications a second, random ids dirtied a different
// index page for almost every event.
const (
	// IDLen is the length of an event id after IDPrefix.
	IDLen     = 20
	idTimeLen = 8 // 62⁸ ms reach beyond the year 8000
)

// base62 are the digits of event-id timestamps, in ASCII order so that the
// ids sort as byte strings in the order of their times.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewID returns the id of an event at t, drawing its random part from
// entropy.
func NewID(entropy io.Reader, t time.Time) (string, error) {
	r, err := apikey.RandomString(entropy, IDLen-idTimeLen)
	if err != nil {
		return "", err
	}
	var ts [idTimeLen]byte
	ms := uint64(max(t.UnixMilli(), 0))
	for i := idTimeLen - 1; i >= 0; i-- {
		ts[i] = base62[ms%62]
		ms /= 62
	}
	return IDPrefix + string(ts[:]) + r, nil
}

// Stamp is an event's identity: its id and its time (UTC, microseconds).
type Stamp struct {
	ID   string
	Time time.Time
}

// NewStamp returns the stamp of an event happening at now.
func NewStamp(entropy io.Reader, now time.Time) (Stamp, error) {
	at := now.UTC().Truncate(time.Microsecond)
	id, err := NewID(entropy, at)
	if err != nil {
		return Stamp{}, err
	}
	return Stamp{ID: id, Time: at}, nil
}

// Change returns the event of a change (creation, rotation, revocation) that
// actor made to key keyID of organization org during req. Details are the
// action's facts; never a secret or a hash.
func Change(s Stamp, action Action, actor, org, keyID string, req Request, details map[string]any) Event {
	ev := withRequest(Event{ID: s.ID, Time: s.Time, OrganizationID: org, Actor: actor, Action: action, KeyID: keyID, Details: details}, req)
	return ev
}

// FieldChange is one field a change of a key changed, with its value before
// and after, as the API shows them (never a secret or a hash).
type FieldChange struct {
	Field         string
	Before, After any
}

// Updated returns the key.updated event of a change actor made to the fields
// of key keyID of organization org during req: details "changes" maps each
// changed field to {"before": ..., "after": ...}.
func Updated(s Stamp, actor, org, keyID string, req Request, changes []FieldChange) Event {
	return Change(s, ActionKeyUpdated, actor, org, keyID, req, changesDetails(changes))
}

// OrganizationUpdated returns the organization.updated event of a change
// actor made to the key policy of organization org during req: details
// "changes" maps each changed setting to {"before": ..., "after": ...}.
func OrganizationUpdated(s Stamp, actor, org string, req Request, changes []FieldChange) Event {
	return Change(s, ActionOrganizationUpdated, actor, org, "", req, changesDetails(changes))
}

// changesDetails are the details of an event of changes: "changes" maps
// each changed field to {"before": ..., "after": ...}.
func changesDetails(changes []FieldChange) map[string]any {
	m := make(map[string]any, len(changes))
	for _, c := range changes {
		m[c.Field] = map[string]any{"before": c.Before, "after": c.After}
	}
	return map[string]any{"changes": m}
}

// Use returns the event of one verification: key.used when the outcome is
// OutcomeOK, key.auth_failed otherwise. key is the verified key's facts
// (zero when the presented secret identifies no key), status the HTTP
// status answered (0 when not known yet), required the scopes the request
// required (its Scope field holds them comma-separated) and missing those
// the key lacks (details "missing_scopes", for a scope_denied outcome). A
// use of the key's previous secret (a rotation's grace period) has details
// "secret": "previous" and "secret_expires_at".
func Use(s Stamp, key apikey.Verified, outcome apikey.Outcome, status int, required, missing apikey.Scopes, req Request) Event {
	action := ActionKeyUsed
	if outcome != apikey.OutcomeOK {
		action = ActionKeyAuthFailed
	}
	ev := Event{
		ID: s.ID, Time: s.Time, OrganizationID: key.OrganizationID, Actor: UsageActor(key.KeyID), Action: action,
		KeyID: key.KeyID, Status: status, Outcome: outcome, Scope: required.Join(ScopeSeparator),
	}
	if len(missing) > 0 {
		ev.Details = map[string]any{"missing_scopes": missing.Strings()}
	}
	if key.Previous() {
		// The key's previous secret, in a rotation's grace period.
		if ev.Details == nil {
			ev.Details = map[string]any{}
		}
		ev.Details["secret"] = string(apikey.SecretPrevious)
		if key.SecretExpiresAt != nil {
			ev.Details["secret_expires_at"] = key.SecretExpiresAt.UTC().Format(time.RFC3339Nano)
		}
	}
	return withRequest(ev, req)
}

// ScopeSeparator separates the scopes of an event's Scope field when a
// request required several.
const ScopeSeparator = ","

// System returns an event that a job of the service itself (actor
// "system:<job>") recorded, belonging to no organization and no key.
func System(s Stamp, action Action, actor string, details map[string]any) Event {
	return Event{ID: s.ID, Time: s.Time, Actor: actor, Action: action, Outcome: apikey.OutcomeOK, Details: details}
}

// Caps of the request facts a caller chooses, in bytes: an event records
// at most this much of them, so that a caller cannot grow the trail with
// long headers.
const (
	MaxPathLen      = 512
	MaxUserAgentLen = 256
)

func withRequest(ev Event, req Request) Event {
	ev.RequestID, ev.ClientRequestID, ev.TraceID, ev.SpanID, ev.Method = req.RequestID, req.ClientRequestID, req.TraceID, req.SpanID, req.Method
	ev.Method = printableText(ev.Method)
	ev.Path, ev.UserAgent = capUTF8(printableText(req.Path), MaxPathLen), capUTF8(printableText(req.UserAgent), MaxUserAgentLen)
	ev.ClientIP = req.ClientIP
	return ev
}

// printableText returns s with every invalid UTF-8 sequence and every
// control character replaced by U+FFFD: a caller-chosen fact (a header's
// bytes, a path) is recorded as what it was, and never as a value one
// database refuses (Postgres: NUL, invalid UTF-8) and another stores.
func printableText(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// capUTF8 returns s cut to at most n bytes, at a character boundary.
func capUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
