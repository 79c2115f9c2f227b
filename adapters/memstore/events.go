package memstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// AppendUsage stores events together and, for each key with a successful
// use (action key.used, outcome ok) among them, moves the key's
// last_used_at forward to its newest such event; an older time never moves
// it back, and nothing else about the key changes. An event whose id is
// already stored, or repeated in the batch, is stored once. If any event
// cannot be stored (a usage event whose actor is not its key's, details
// that do not encode as JSON), none is.
func (s *Store) AppendUsage(ctx context.Context, events []audit.Event) error {
	if err := check(ctx, "append usage"); err != nil {
		return err
	}
	recs := make([]eventRecord, len(events))
	lastUsed := make(map[string]time.Time)
	for i, ev := range events {
		rec, err := storedEvent(ev)
		if err != nil {
			return fmt.Errorf("append usage: %w", err)
		}
		recs[i] = rec
		if ev.Action == audit.ActionKeyUsed && ev.Outcome == apikey.OutcomeOK && ev.KeyID != "" {
			if t, ok := lastUsed[ev.KeyID]; !ok || rec.ev.Time.After(t) {
				lastUsed[ev.KeyID] = rec.ev.Time
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range recs {
		if _, stored := s.eventIDs[rec.ev.ID]; !stored {
			s.addEvent(rec)
		}
	}
	for id, t := range lastUsed {
		rec, ok := s.keys[id]
		if ok && (rec.key.LastUsedAt == nil || rec.key.LastUsedAt.Before(t)) {
			rec.key.LastUsedAt = &t
		}
	}
	return nil
}

// ListEvents returns one page of the events of q.OrganizationIDs matching
// q's filters, newest first (time, then id, descending). Since is
// inclusive, Until exclusive. An empty q.OrganizationIDs matches no event.
// A q.Limit of zero or less means DefaultPageSize; more than MaxPageSize
// means MaxPageSize.
func (s *Store) ListEvents(ctx context.Context, q ports.AuditQuery) (ports.AuditPage, error) {
	if err := check(ctx, "list events"); err != nil {
		return ports.AuditPage{}, err
	}
	keep := eventFilter(q)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var match []*eventRecord
	for i := range s.events {
		if keep(&s.events[i].ev) {
			match = append(match, &s.events[i])
		}
	}
	slices.SortFunc(match, func(a, b *eventRecord) int {
		if newer(a.ev.Time, a.ev.ID, b.ev.Time, b.ev.ID) {
			return -1
		}
		return 1 // ids are unique: no two positions are equal
	})
	page := ports.AuditPage{Events: []audit.Event{}}
	limit := pageSize(q.Limit)
	for _, rec := range match {
		if len(page.Events) == limit {
			last := page.Events[limit-1]
			page.Next = &ports.Cursor{Time: last.Time, ID: last.ID}
			break
		}
		page.Events = append(page.Events, rec.event())
	}
	return page, nil
}

// eventFilter returns whether a stored event matches q, cursor included.
// Filtering by actor needs no special case for usage events: every stored
// usage event's actor is audit.UsageActor of its key (storedEvent
// enforces it).
func eventFilter(q ports.AuditQuery) func(*audit.Event) bool {
	actions := q.Actions
	if q.Action != "" {
		actions = []audit.Action{q.Action}
	}
	since, until := normPtr(q.Since), normPtr(q.Until)
	return func(ev *audit.Event) bool {
		return slices.Contains(q.OrganizationIDs, ev.OrganizationID) &&
			(q.KeyID == "" || ev.KeyID == q.KeyID) &&
			(len(actions) == 0 || slices.Contains(actions, ev.Action)) &&
			(q.Actor == "" || ev.Actor == q.Actor) &&
			(since == nil || !ev.Time.Before(*since)) &&
			(until == nil || ev.Time.Before(*until)) &&
			pastCursor(ev.Time, ev.ID, q.After)
	}
}
