package contract

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// base is the reference time of the fixtures: UTC, with microseconds.
var base = time.Date(2025, time.March, 14, 15, 9, 26, 535897000, time.UTC)

// at returns base moved by d.
func at(d time.Duration) time.Time { return base.Add(d) }

func ptr[T any](v T) *T { return &v }

// norm is what a store must return for t: the same instant in UTC,
// truncated to microseconds.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func token(n int) string { return rand.Text()[:n] }

func newOrgID() string   { return "org_" + token(12) }
func newKeyID() string   { return "key_" + token(20) }
func newEventID() string { return "evt_" + rand.Text() }

// newLookup returns a lookup digest shaped like the real one: 64 hex digits.
func newLookup() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const phcHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"

// newKey returns a fresh, unused key of org created at created.
func newKey(org string, created time.Time) apikey.Key {
	return apikey.Key{
		ID:             newKeyID(),
		OrganizationID: org,
		Name:           "CI deploy key",
		Environment:    apikey.EnvTest,
		Scopes:         apikey.Scopes{apikey.ScopeTriggersRead, apikey.ScopeEventsRead},
		Hint:           "sk_test_…Ab3x",
		Hash:           phcHash,
		Lookup:         newLookup(),
		CreatedAt:      created,
		UpdatedAt:      created,
		Version:        1,
		CreatedBy:      "user:alice",
	}
}

// keyEvent returns the management event of action on k at t.
func keyEvent(action audit.Action, k apikey.Key, t time.Time) audit.Event {
	return audit.Event{
		ID:             newEventID(),
		Time:           t,
		OrganizationID: k.OrganizationID,
		Actor:          "user:alice",
		Action:         action,
		KeyID:          k.ID,
		RequestID:      "req_" + token(16),
		TraceID:        strings.Repeat("4bf92f3577b34da6", 2),
		SpanID:         "00f067aa0ba902b7", // never stored: see diffEvent
		Method:         "POST",
		Path:           "/v1/api-keys",
		ClientIP:       "203.0.113.7",
		UserAgent:      "curl/8.5.0",
		Status:         201,
		Outcome:        "ok",
		Scope:          string(apikey.ScopeAPIKeysManage),
		Details:        map[string]any{"name": k.Name, "scopes": []any{"triggers:read", "events:read"}},

		ClientRequestID: "deploy-" + token(12),
	}
}

// useEvent returns a usage event of key k at t with outcome.
func useEvent(action audit.Action, k apikey.Key, t time.Time, outcome apikey.Outcome) audit.Event {
	return audit.Event{
		ID:             newEventID(),
		Time:           t,
		OrganizationID: k.OrganizationID,
		Actor:          "key:" + k.ID,
		Action:         action,
		KeyID:          k.ID,
		RequestID:      "req_" + token(16),
		Method:         "GET",
		Path:           "/v1/triggers",
		ClientIP:       "198.51.100.23",
		UserAgent:      "Go-http-client/1.1",
		Status:         200,
		Outcome:        outcome,
		Scope:          string(apikey.ScopeTriggersRead),

		ClientRequestID: "0f8fad5b-d9cb-469f-a165-" + token(12),
	}
}

// bothPorts returns s as a KeyStore and an AuditStore, failing t if it is
// not both.
func bothPorts(t *testing.T, s any) (ports.KeyStore, ports.AuditStore) {
	t.Helper()
	ks, ok1 := s.(ports.KeyStore)
	as, ok2 := s.(ports.AuditStore)
	if !ok1 || !ok2 {
		t.Fatalf("contract: %T must implement both ports.KeyStore and ports.AuditStore", s)
	}
	return ks, as
}

func create(t *testing.T, ks ports.KeyStore, k apikey.Key) audit.Event {
	t.Helper()
	ev := keyEvent(audit.ActionKeyCreated, k, k.CreatedAt)
	if err := ks.CreateKey(context.Background(), k, ev); err != nil {
		t.Fatalf("CreateKey(%s): %v", k.ID, err)
	}
	return ev
}

func getKey(t *testing.T, ks ports.KeyStore, id string) apikey.Key {
	t.Helper()
	k, err := ks.GetKey(context.Background(), id)
	if err != nil {
		t.Fatalf("GetKey(%s): %v", id, err)
	}
	return k
}

// domainErrors are the sentinels a store may return.
var domainErrors = []error{apikey.ErrNotFound, apikey.ErrConflict, apikey.ErrRevoked, apikey.ErrUnavailable}

// wantErr fails t unless err is target and none of the other sentinels.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
	for _, other := range domainErrors {
		if !errors.Is(target, other) && errors.Is(err, other) {
			t.Fatalf("%s: error %v is both %v and %v", what, err, target, other)
		}
	}
}

func diffTime(field string, got, want time.Time) []string {
	var d []string
	if !got.Equal(norm(want)) {
		d = append(d, fmt.Sprintf("%s = %s, want %s", field, got.Format(time.RFC3339Nano), norm(want).Format(time.RFC3339Nano)))
	}
	if got.Location() != time.UTC {
		d = append(d, fmt.Sprintf("%s location = %v, want UTC", field, got.Location()))
	}
	return d
}

func diffTimePtr(field string, got, want *time.Time) []string {
	switch {
	case got == nil && want == nil:
		return nil
	case got == nil:
		return []string{fmt.Sprintf("%s = nil, want %s", field, want.Format(time.RFC3339Nano))}
	case want == nil:
		return []string{fmt.Sprintf("%s = %s, want nil", field, got.Format(time.RFC3339Nano))}
	}
	return diffTime(field, *got, *want)
}

func diffField(d *[]string, field string, got, want any) {
	if !reflect.DeepEqual(got, want) {
		*d = append(*d, fmt.Sprintf("%s = %#v, want %#v", field, got, want))
	}
}

// diffKey lists the differences between a stored key and the key that was
// written; times must be want's instants in UTC at microsecond precision.
func diffKey(got, want apikey.Key) []string {
	var d []string
	diffField(&d, "ID", got.ID, want.ID)
	diffField(&d, "OrganizationID", got.OrganizationID, want.OrganizationID)
	diffField(&d, "Name", got.Name, want.Name)
	diffField(&d, "Environment", got.Environment, want.Environment)
	if len(got.Scopes) != 0 || len(want.Scopes) != 0 {
		diffField(&d, "Scopes", got.Scopes.Strings(), want.Scopes.Strings())
	}
	diffField(&d, "Hint", got.Hint, want.Hint)
	diffField(&d, "Hash", got.Hash, want.Hash)
	diffField(&d, "Lookup", got.Lookup, want.Lookup)
	d = append(d, diffTime("CreatedAt", got.CreatedAt, want.CreatedAt)...)
	d = append(d, diffTime("UpdatedAt", got.UpdatedAt, want.UpdatedAt)...)
	d = append(d, diffTimePtr("ExpiresAt", got.ExpiresAt, want.ExpiresAt)...)
	d = append(d, diffTimePtr("LastUsedAt", got.LastUsedAt, want.LastUsedAt)...)
	d = append(d, diffTimePtr("RotatedAt", got.RotatedAt, want.RotatedAt)...)
	d = append(d, diffTimePtr("RevokedAt", got.RevokedAt, want.RevokedAt)...)
	diffField(&d, "Version", got.Version, want.Version)
	diffField(&d, "CreatedBy", got.CreatedBy, want.CreatedBy)
	diffField(&d, "RateLimit", got.RateLimit, want.RateLimit)
	diffField(&d, "Metadata", got.Metadata, want.Metadata)
	diffField(&d, "IPAllowlist", got.IPAllowlist.Strings(), want.IPAllowlist.Strings())
	diffField(&d, "PreviousHash", got.PreviousHash, want.PreviousHash)
	diffField(&d, "PreviousLookup", got.PreviousLookup, want.PreviousLookup)
	diffField(&d, "PreviousHint", got.PreviousHint, want.PreviousHint)
	d = append(d, diffTimePtr("PreviousExpiresAt", got.PreviousExpiresAt, want.PreviousExpiresAt)...)
	return d
}

func checkKey(t *testing.T, what string, got, want apikey.Key) {
	t.Helper()
	if d := diffKey(got, want); len(d) > 0 {
		t.Errorf("%s:\n  %s", what, strings.Join(d, "\n  "))
	}
}

// diffEvent lists the differences between a stored event and the event
// that was written. Details compare after a JSON round trip (numbers are
// float64); nil and empty details are alike.
func diffEvent(got, want audit.Event) []string {
	var d []string
	diffField(&d, "ID", got.ID, want.ID)
	d = append(d, diffTime("Time", got.Time, want.Time)...)
	diffField(&d, "OrganizationID", got.OrganizationID, want.OrganizationID)
	diffField(&d, "Actor", got.Actor, want.Actor)
	diffField(&d, "Action", got.Action, want.Action)
	diffField(&d, "KeyID", got.KeyID, want.KeyID)
	diffField(&d, "RequestID", got.RequestID, want.RequestID)
	diffField(&d, "ClientRequestID", got.ClientRequestID, want.ClientRequestID)
	diffField(&d, "TraceID", got.TraceID, want.TraceID)
	if got.SpanID != "" {
		d = append(d, "SpanID = "+got.SpanID+", want it never stored (it lives in memory only)")
	}
	diffField(&d, "Method", got.Method, want.Method)
	diffField(&d, "Path", got.Path, want.Path)
	diffField(&d, "ClientIP", got.ClientIP, want.ClientIP)
	diffField(&d, "UserAgent", got.UserAgent, want.UserAgent)
	diffField(&d, "Status", got.Status, want.Status)
	diffField(&d, "Outcome", got.Outcome, want.Outcome)
	diffField(&d, "Scope", got.Scope, want.Scope)
	if len(got.Details) != 0 || len(want.Details) != 0 {
		diffField(&d, "Details", got.Details, want.Details)
	}
	return d
}

func checkEvent(t *testing.T, what string, got, want audit.Event) {
	t.Helper()
	if d := diffEvent(got, want); len(d) > 0 {
		t.Errorf("%s:\n  %s", what, strings.Join(d, "\n  "))
	}
}

// allEvents follows every page of q (pages of limit events) and returns the
// events in order.
func allEvents(t *testing.T, as ports.AuditStore, q ports.AuditQuery, limit int) []audit.Event {
	t.Helper()
	q.Limit = limit
	var out []audit.Event
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatal("ListEvents: pagination does not end")
		}
		p, err := as.ListEvents(context.Background(), q)
		if err != nil {
			t.Fatalf("ListEvents(%+v): %v", q, err)
		}
		if p.Events == nil {
			t.Fatal("ListEvents: Events is nil, want a non-nil slice")
		}
		if len(p.Events) > limit {
			t.Fatalf("ListEvents: page of %d events, limit %d", len(p.Events), limit)
		}
		out = append(out, p.Events...)
		if p.Next == nil {
			return out
		}
		if len(p.Events) != limit {
			t.Fatalf("ListEvents: page of %d events with a next cursor, want a full page of %d", len(p.Events), limit)
		}
		q.After = p.Next
	}
}

// eventsOfKey returns every event of key k with action.
func eventsOfKey(t *testing.T, as ports.AuditStore, k apikey.Key, action audit.Action) []audit.Event {
	t.Helper()
	return allEvents(t, as, ports.AuditQuery{OrganizationIDs: []string{k.OrganizationID}, KeyID: k.ID, Action: action}, 100)
}

// wantEvents fails t unless key k has exactly n events of action, and
// returns them, newest first.
func wantEvents(t *testing.T, as ports.AuditStore, k apikey.Key, action audit.Action, n int) []audit.Event {
	t.Helper()
	evs := eventsOfKey(t, as, k, action)
	if len(evs) != n {
		t.Fatalf("%s events of %s = %d, want %d", action, k.ID, len(evs), n)
	}
	return evs
}

// wantOneEvent fails t unless key k has exactly one event of action, equal
// to want.
func wantOneEvent(t *testing.T, as ports.AuditStore, k apikey.Key, action audit.Action, want audit.Event) {
	t.Helper()
	checkEvent(t, string(action)+" event", wantEvents(t, as, k, action, 1)[0], want)
}

func eventIDs(evs []audit.Event) []string {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids
}

// newestFirst sorts events the way ListEvents returns them.
func newestFirst(evs []audit.Event) {
	slices.SortFunc(evs, func(a, b audit.Event) int {
		if c := norm(b.Time).Compare(norm(a.Time)); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
}
