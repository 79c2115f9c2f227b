package gormstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
)

// keyRow is one row of api_keys. GORM's automatic timestamps are off: the
// core's clock sets every time.
type keyRow struct {
	ID             string     `gorm:"column:id;primaryKey"`
	OrganizationID string     `gorm:"column:organization_id"`
	Name           string     `gorm:"column:name"`
	Environment    string     `gorm:"column:environment"`
	Scopes         string     `gorm:"column:scopes"` // JSON array of strings
	Hint           string     `gorm:"column:hint"`
	Hash           string     `gorm:"column:hash"`
	Lookup         string     `gorm:"column:lookup"`
	CreatedAt      time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt      time.Time  `gorm:"column:updated_at;autoUpdateTime:false"`
	ExpiresAt      *time.Time `gorm:"column:expires_at"`
	LastUsedAt     *time.Time `gorm:"column:last_used_at"`
	RotatedAt      *time.Time `gorm:"column:rotated_at"`
	RevokedAt      *time.Time `gorm:"column:revoked_at"`
	InvalidatedAt  *time.Time `gorm:"column:invalidated_at"`
	Version        int64      `gorm:"column:version"`
	CreatedBy      string     `gorm:"column:created_by"`
	RateLimit      *string    `gorm:"column:rate_limit"`   // "100/1m"; NULL: none
	Metadata       *string    `gorm:"column:metadata"`     // JSON object (migration 00009); NULL: none
	IPAllowlist    *string    `gorm:"column:ip_allowlist"` // JSON array of CIDRs (migration 00009); NULL: any address
	// The secret a rotation with a grace period replaced (migration 00010).
	PreviousHash      *string    `gorm:"column:previous_hash"`
	PreviousLookup    *string    `gorm:"column:previous_lookup"`
	PreviousHint      *string    `gorm:"column:previous_hint"`
	PreviousExpiresAt *time.Time `gorm:"column:previous_expires_at"`
}

func (keyRow) TableName() string { return "api_keys" }

// eventRow is one row of audit_events.
type eventRow struct {
	ID             string    `gorm:"column:id;primaryKey"`
	OccurredAt     time.Time `gorm:"column:occurred_at"`
	OrganizationID string    `gorm:"column:organization_id"`
	Actor          string    `gorm:"column:actor"`
	Action         string    `gorm:"column:action"`
	KeyID          string    `gorm:"column:key_id"`
	RequestID      string    `gorm:"column:request_id"`
	TraceID        string    `gorm:"column:trace_id"`
	Method         string    `gorm:"column:method"`
	Path           string    `gorm:"column:path"`
	ClientIP       string    `gorm:"column:client_ip"`
	UserAgent      string    `gorm:"column:user_agent"`
	Status         int       `gorm:"column:status"`
	Outcome        string    `gorm:"column:outcome"`
	Scope          string    `gorm:"column:scope"`
	Details        *string   `gorm:"column:details"` // JSON object; NULL when the event has none
	// The event's link in its writer's hash chain (see chain.go).
	ChainID  string `gorm:"column:chain_id"`
	Seq      *int64 `gorm:"column:seq"` // NULL only for events no chain holds
	PrevID   string `gorm:"column:prev_id"`
	PrevHash string `gorm:"column:prev_hash"`
	Hash     string `gorm:"column:hash"`

	// ClientRequestID is the id the client sent (migration 00007); NULL
	// when it sent none.
	ClientRequestID *string `gorm:"column:client_request_id"`
}

func (eventRow) TableName() string { return "audit_events" }

// utc returns t in UTC truncated to microseconds, the precision every
// supported database keeps.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := utc(*t)
	return &v
}

func toKeyRow(k apikey.Key) (keyRow, error) {
	scopes := k.Scopes.Strings()
	enc, err := json.Marshal(scopes)
	if err != nil {
		return keyRow{}, fmt.Errorf("encode scopes: %w", err)
	}
	var allow *string
	if len(k.IPAllowlist) > 0 {
		b, err := json.Marshal(k.IPAllowlist.Strings())
		if err != nil {
			return keyRow{}, fmt.Errorf("encode ip allowlist: %w", err)
		}
		v := string(b)
		allow = &v
	}
	var meta *string
	if !k.Metadata.IsZero() {
		v := string(k.Metadata)
		meta = &v
	}
	return keyRow{
		ID:                k.ID,
		OrganizationID:    k.OrganizationID,
		Name:              k.Name,
		Environment:       string(k.Environment),
		Scopes:            string(enc),
		Hint:              k.Hint,
		Hash:              k.Hash,
		Lookup:            k.Lookup,
		CreatedAt:         utc(k.CreatedAt),
		UpdatedAt:         utc(k.UpdatedAt),
		ExpiresAt:         utcPtr(k.ExpiresAt),
		LastUsedAt:        utcPtr(k.LastUsedAt),
		RotatedAt:         utcPtr(k.RotatedAt),
		RevokedAt:         utcPtr(k.RevokedAt),
		InvalidatedAt:     invalidatedAt(k),
		Version:           k.Version,
		CreatedBy:         k.CreatedBy,
		RateLimit:         rateLimitColumn(k.RateLimit),
		Metadata:          meta,
		IPAllowlist:       allow,
		PreviousHash:      nullable(k.PreviousHash),
		PreviousLookup:    nullable(k.PreviousLookup),
		PreviousHint:      nullable(k.PreviousHint),
		PreviousExpiresAt: utcPtr(k.PreviousExpiresAt),
	}, nil
}

// rateLimitColumn is the stored form of a key's rate limit: nil for none.
func rateLimitColumn(r apikey.RateLimit) *string {
	if r.IsZero() {
		return nil
	}
	s := r.String()
	return &s
}

// invalidatedAt is when a key created already rotated or revoked was last
// invalidated (imports, tests); nil for a fresh key.
func invalidatedAt(k apikey.Key) *time.Time {
	var at *time.Time
	for _, t := range []*time.Time{k.RotatedAt, k.RevokedAt} {
		if t != nil && (at == nil || t.After(*at)) {
			at = t
		}
	}
	return utcPtr(at)
}

func (r keyRow) key() (apikey.Key, error) {
	var names []string
	if r.Scopes != "" {
		if err := json.Unmarshal([]byte(r.Scopes), &names); err != nil {
			return apikey.Key{}, fmt.Errorf("decode scopes of key %s: %w", r.ID, err)
		}
	}
	scopes := make(apikey.Scopes, len(names))
	for i, n := range names {
		scopes[i] = apikey.Scope(n)
	}
	var limit apikey.RateLimit
	if r.RateLimit != nil {
		var err error
		if limit, err = apikey.ParseRateLimit(*r.RateLimit); err != nil {
			return apikey.Key{}, fmt.Errorf("decode rate limit of key %s: %w", r.ID, err)
		}
	}
	var allow apikey.IPAllowlist
	if r.IPAllowlist != nil {
		var entries []string
		if err := json.Unmarshal([]byte(*r.IPAllowlist), &entries); err != nil {
			return apikey.Key{}, fmt.Errorf("decode ip allowlist of key %s: %w", r.ID, err)
		}
		var err error
		if allow, err = apikey.ParseIPAllowlist(entries); err != nil {
			return apikey.Key{}, fmt.Errorf("decode ip allowlist of key %s: %w", r.ID, err)
		}
	}
	var meta apikey.Metadata
	if r.Metadata != nil {
		meta = apikey.Metadata(*r.Metadata)
	}
	return apikey.Key{
		ID:             r.ID,
		OrganizationID: r.OrganizationID,
		Name:           r.Name,
		Environment:    apikey.Environment(r.Environment),
		Scopes:         scopes,
		Hint:           r.Hint,
		Hash:           r.Hash,
		// CHAR(64) pads shorter values with spaces on Postgres.
		Lookup:            strings.TrimRight(r.Lookup, " "),
		CreatedAt:         utc(r.CreatedAt),
		UpdatedAt:         utc(r.UpdatedAt),
		ExpiresAt:         utcPtr(r.ExpiresAt),
		LastUsedAt:        utcPtr(r.LastUsedAt),
		RotatedAt:         utcPtr(r.RotatedAt),
		RevokedAt:         utcPtr(r.RevokedAt),
		Version:           r.Version,
		CreatedBy:         r.CreatedBy,
		RateLimit:         limit,
		Metadata:          meta,
		IPAllowlist:       allow,
		PreviousHash:      deref(r.PreviousHash),
		PreviousLookup:    strings.TrimRight(deref(r.PreviousLookup), " "),
		PreviousHint:      deref(r.PreviousHint),
		PreviousExpiresAt: utcPtr(r.PreviousExpiresAt),
	}, nil
}

func keysOf(rows []keyRow) ([]apikey.Key, error) {
	out := make([]apikey.Key, 0, len(rows))
	for _, r := range rows {
		k, err := r.key()
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// Column widths, in characters, of the free-form audit columns. Values
// that come from requests are cut to fit rather than failing the insert.
const (
	maxActor     = 255
	maxAction    = 32
	maxRequestID = 128
	maxTraceID   = 64
	maxMethod    = 16
	maxPath      = 2048
	maxClientIP  = 64
	maxUserAgent = 512
	maxOutcome   = 32
	maxScope     = 255 // every scope required, comma-separated (migration 00007)

	// maxClientRequestID is the width of client_request_id (migration
	// 00007); the HTTP adapter keeps no longer id.
	maxClientRequestID = audit.MaxClientRequestIDLen
)

func toEventRow(ev audit.Event) (eventRow, error) {
	if ev.Action.Usage() && ev.Actor != audit.UsageActor(ev.KeyID) {
		// ListEvents finds usage events by actor through their key.
		return eventRow{}, fmt.Errorf("event %s: a %s event's actor must be %q", ev.ID, ev.Action, audit.UsageActor(ev.KeyID))
	}
	var details *string
	if ev.Details != nil {
		enc, err := json.Marshal(ev.Details)
		if err != nil {
			return eventRow{}, fmt.Errorf("encode details of event %s: %w", ev.ID, err)
		}
		s := string(enc)
		details = &s
	}
	row := eventRow{
		ID:             ev.ID,
		OccurredAt:     utc(ev.Time),
		OrganizationID: ev.OrganizationID,
		Actor:          clean(ev.Actor, maxActor),
		Action:         clean(string(ev.Action), maxAction),
		KeyID:          ev.KeyID,
		RequestID:      clean(ev.RequestID, maxRequestID),
		TraceID:        clean(ev.TraceID, maxTraceID),
		Method:         clean(ev.Method, maxMethod),
		Path:           clean(ev.Path, maxPath),
		ClientIP:       clean(ev.ClientIP, maxClientIP),
		UserAgent:      clean(ev.UserAgent, maxUserAgent),
		Status:         ev.Status,
		Outcome:        clean(string(ev.Outcome), maxOutcome),
		Scope:          clean(ev.Scope, maxScope),
		Details:        details,
	}
	row.ClientRequestID = nullable(clean(ev.ClientRequestID, maxClientRequestID))
	return row, nil
}

func (r eventRow) event() (audit.Event, error) {
	var details map[string]any
	if r.Details != nil && *r.Details != "" {
		if err := json.Unmarshal([]byte(*r.Details), &details); err != nil {
			return audit.Event{}, fmt.Errorf("decode details of event %s: %w", r.ID, err)
		}
	}
	ev := audit.Event{
		ID:             r.ID,
		Time:           utc(r.OccurredAt),
		OrganizationID: r.OrganizationID,
		Actor:          r.Actor,
		Action:         audit.Action(r.Action),
		KeyID:          r.KeyID,
		RequestID:      r.RequestID,
		TraceID:        r.TraceID,
		Method:         r.Method,
		Path:           r.Path,
		ClientIP:       r.ClientIP,
		UserAgent:      r.UserAgent,
		Status:         r.Status,
		Outcome:        apikey.Outcome(r.Outcome),
		Scope:          r.Scope,
		Details:        details,
	}
	ev.ClientRequestID = deref(r.ClientRequestID)
	return ev, nil
}

// nullable is s, or nil (NULL) when s is empty.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// deref is the string p points to, "" for nil (NULL).
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// clean makes s storable in a text column of n characters on every
// database: invalid UTF-8 and NUL bytes (which Postgres rejects) become
// U+FFFD, and the result is cut to n runes, never inside a rune.
func clean(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if len(s) <= n {
		return s // n bytes hold at most n runes
	}
	i := 0
	for count := 0; i < len(s); count++ {
		if count == n {
			return s[:i]
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s
}
