package gormstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// insertBatch is how many events go in one INSERT statement, and how many
// ids in one IN list; it keeps the number of bound values well under every
// database's limit.
const insertBatch = 500

// sqliteInsertBatch is how many events go in one INSERT statement on
// SQLite, where each statement runs in this process: prepared once per
// transaction (see insertEvents), 32-row statements cost the writer about
// as little as 128-row ones, and 8-row ones about a fifth more. (The
// driver used before, glebarez/go-sqlite, bound values in O(n²), which
// made 500-row statements cost more in binding than in writing.)
const sqliteInsertBatch = 32

// rowsPerInsert returns how many rows the store puts in one INSERT.
func (s *Store) rowsPerInsert() int {
	if s.driver == DriverSQLite {
		return sqliteInsertBatch
	}
	return insertBatch
}

// AppendUsage inserts events in one transaction and, for each key with a
// successful use (action key.used, outcome ok) among them, moves the key's
// last_used_at forward to its newest such event; an older time never moves
// it back. Nothing else about the key changes. If any event cannot be
// stored, none is. The events are appended to the store's hash chain in
// the order given.
func (s *Store) AppendUsage(ctx context.Context, events []audit.Event) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if len(events) == 0 {
		return nil
	}
	rows := make([]eventRow, len(events))
	lastUsed := make(map[string]time.Time)
	for i, ev := range events {
		row, err := toEventRow(ev)
		if err != nil {
			return fmt.Errorf("append usage: %w", err)
		}
		rows[i] = row
		if ev.Action == audit.ActionKeyUsed && ev.Outcome == apikey.OutcomeOK && ev.KeyID != "" {
			if t, ok := lastUsed[ev.KeyID]; !ok || row.OccurredAt.After(t) {
				lastUsed[ev.KeyID] = row.OccurredAt
			}
		}
	}
	// Re-appending a stored event (a retry after a lost answer) is a
	// no-op. Checking every batch for stored ids would cost a query on
	// the hot path, so the check runs only after an insert hit a taken id.
	checkStored := false
	write := func(tx *gorm.DB, chain *chainTx) error {
		fresh := distinct(rows)
		if checkStored {
			var err error
			if fresh, err = unstored(tx, fresh); err != nil {
				return err
			}
		}
		if err := chain.append(fresh...); err != nil {
			return err
		}
		// Keys are updated in id order, which keeps concurrent batches
		// from deadlocking.
		return s.touchKeys(tx, lastUsed)
	}
	err := s.writeChained(ctx, write)
	if err != nil && isUniqueViolation(err) && ctx.Err() == nil {
		checkStored = true
		err = s.writeChained(ctx, write)
	}
	return translate("append usage", err)
}

// RecordPurge appends ev, the event describing a purge, to the store's
// hash chain. It belongs to no key, so no key changes.
func (s *Store) RecordPurge(ctx context.Context, ev audit.Event) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	row, err := toEventRow(ev)
	if err != nil {
		return fmt.Errorf("record purge: %w", err)
	}
	err = s.writeChained(ctx, func(_ *gorm.DB, chain *chainTx) error { return chain.append(row) })
	return translate("record purge", err)
}

// ListEvents returns one page of the events of q.OrganizationIDs matching
// q's filters, newest first (time, then id, descending). Since is
// inclusive, Until exclusive. An empty q.OrganizationIDs matches no event.
// A q.Limit of zero or less means 100; more than 1000 means 1000.
func (s *Store) ListEvents(ctx context.Context, q ports.AuditQuery) (ports.AuditPage, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	page := ports.AuditPage{Events: []audit.Event{}}
	if len(q.OrganizationIDs) == 0 {
		return page, nil
	}
	limit := pageSize(q.Limit)
	var rows []eventRow
	var err error
	if q.Actor == "" {
		rows, err = s.listEvents(ctx, q, limit+1, actionFilter(q), nil)
	} else {
		rows, err = s.listByActor(ctx, q, limit+1)
	}
	if err != nil {
		return ports.AuditPage{}, translate("list events", err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		page.Next = &ports.Cursor{Time: utc(last.OccurredAt), ID: last.ID}
	}
	for _, r := range rows {
		ev, err := r.event()
		if err != nil {
			return ports.AuditPage{}, fmt.Errorf("list events: %w", err)
		}
		page.Events = append(page.Events, ev)
	}
	return page, nil
}

// usageActionsSQL lists the usage actions as SQL literals, in the words of
// the actor index's WHERE clause (migration 00004): a planner uses a
// partial index only for a query whose WHERE repeats the index's own
// terms, literals included.
const usageActionsSQL = "('key.used', 'key.auth_failed')"

// listByActor returns up to n events of q's actor, newest first. The actor
// index holds no usage events (see migration 00004), so they are read
// through the key index, by the key their actor names: a usage event's
// actor is always audit.UsageActor(key_id). The two reads each return
// their newest n rows and are merged.
func (s *Store) listByActor(ctx context.Context, q ports.AuditQuery, n int) ([]eventRow, error) {
	actions := actionFilter(q)
	var mgmt, usage []string
	for _, a := range actions {
		if audit.Action(a).Usage() {
			usage = append(usage, a)
		} else {
			mgmt = append(mgmt, a)
		}
	}
	var rows []eventRow
	if len(actions) == 0 || len(mgmt) > 0 {
		r, err := s.listEvents(ctx, q, n, mgmt, s.byManagementActor(q.Actor))
		if err != nil {
			return nil, err
		}
		rows = r
	}
	keyID, ok := audit.UsageKeyID(q.Actor)
	if ok && (q.KeyID == "" || q.KeyID == keyID) && (len(actions) == 0 || len(usage) > 0) {
		r, err := s.listEvents(ctx, q, n, usage, s.byUsageActor(keyID, q.Actor))
		if err != nil {
			return nil, err
		}
		rows = mergeNewest(rows, r, n)
	}
	return rows, nil
}

// byManagementActor selects the events of actor other than usage events,
// through the actor index.
func (s *Store) byManagementActor(actor string) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		db = s.indexedBy(db, "audit_events_actor_mgmt_idx")
		return db.Where("actor = ?", actor).Where("action NOT IN " + usageActionsSQL)
	}
}

// byUsageActor selects the usage events of actor, whose key is keyID,
// through the key index.
func (s *Store) byUsageActor(keyID, actor string) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		db = s.indexedBy(db, "audit_events_key_occurred_idx")
		return db.Where("key_id = ? AND actor = ?", keyID, actor).Where("action IN " + usageActionsSQL)
	}
}

// indexedBy makes SQLite read audit_events through index. SQLite plans
// without statistics unless ANALYZE has run, and then takes the action
// index (six distinct values) as readily as the key index (one key) for a
// query that names both; Postgres and MySQL keep statistics and choose
// well on their own.
func (s *Store) indexedBy(db *gorm.DB, index string) *gorm.DB {
	if s.driver != DriverSQLite {
		return db
	}
	return db.Table("audit_events INDEXED BY " + index)
}

// actionFilter returns the actions q is limited to; none means any.
func actionFilter(q ports.AuditQuery) []string {
	if q.Action != "" {
		return []string{string(q.Action)}
	}
	actions := make([]string, len(q.Actions))
	for i, a := range q.Actions {
		actions[i] = string(a)
	}
	return actions
}

// listEvents returns up to n events matching q's organizations, key, time
// range and cursor, one of actions (any if none), and what extra adds,
// newest first. q.Actor and q.Action(s) are left to the caller.
func (s *Store) listEvents(ctx context.Context, q ports.AuditQuery, n int, actions []string, extra func(*gorm.DB) *gorm.DB) ([]eventRow, error) {
	var rows []eventRow
	err := s.eventsQuery(s.db.WithContext(ctx), q, n, actions, extra).Find(&rows).Error
	return rows, err
}

// eventsQuery adds listEvents' conditions, order and limit to db.
func (s *Store) eventsQuery(db *gorm.DB, q ports.AuditQuery, n int, actions []string, extra func(*gorm.DB) *gorm.DB) *gorm.DB {
	db = db.Model(&eventRow{}).Where("organization_id IN ?", q.OrganizationIDs)
	if q.KeyID != "" {
		db = db.Where("key_id = ?", q.KeyID)
	}
	switch len(actions) {
	case 0:
	case 1:
		db = db.Where("action = ?", actions[0])
	default:
		db = db.Where("action IN ?", actions)
	}
	if extra != nil {
		db = extra(db)
	}
	if q.Since != nil {
		db = db.Where("occurred_at >= ?", utc(*q.Since))
	}
	if q.Until != nil {
		db = db.Where("occurred_at < ?", utc(*q.Until))
	}
	if q.After != nil {
		at := utc(q.After.Time)
		db = db.Where("(occurred_at < ? OR (occurred_at = ? AND id < ?))", at, at, q.After.ID)
	}
	return db.Order("occurred_at DESC, id DESC").Limit(n)
}

// mergeNewest merges two lists of rows, each newest first (time, then id,
// descending), into one, and keeps its first n.
func mergeNewest(a, b []eventRow, n int) []eventRow {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]eventRow, 0, min(n, len(a)+len(b)))
	for len(out) < n && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || (len(a) > 0 && newer(&a[0], &b[0])) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// newer reports whether x comes before y in newest-first order.
func newer(x, y *eventRow) bool {
	if tx, ty := utc(x.OccurredAt), utc(y.OccurredAt); !tx.Equal(ty) {
		return tx.After(ty)
	}
	return x.ID > y.ID
}
