package gormstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// outcomeOK is the outcome of a successful use of a key.
const outcomeOK = "ok"

// insertBatch is how many events go in one INSERT statement, and how many
// ids in one IN list; it keeps the number of bound values well under every
// database's limit.
const insertBatch = 500

// sqliteInsertBatch is how many events go in one INSERT statement on
// SQLite. The driver (glebarez/go-sqlite) looks up every bound value by a
// scan of all the statement's values, so a statement of n values costs
// O(n²): a 500-row INSERT of audit events (some 10,000 values) spent about
// 100 ms binding, more than the writes themselves. 32 rows keep binding
// negligible without multiplying statements.
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
		if ev.Action == audit.ActionKeyUsed && ev.Outcome == outcomeOK && ev.KeyID != "" {
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
	db := s.db.WithContext(ctx).Model(&eventRow{}).Where("organization_id IN ?", q.OrganizationIDs)
	if q.KeyID != "" {
		db = db.Where("key_id = ?", q.KeyID)
	}
	if q.Action != "" {
		db = db.Where("action = ?", string(q.Action))
	} else if len(q.Actions) > 0 {
		actions := make([]string, len(q.Actions))
		for i, a := range q.Actions {
			actions[i] = string(a)
		}
		db = db.Where("action IN ?", actions)
	}
	if q.Actor != "" {
		db = db.Where("actor = ?", q.Actor)
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
	limit := pageSize(q.Limit)
	var rows []eventRow
	if err := db.Order("occurred_at DESC, id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
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
