package gormstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/paging"
	"github.com/agentauri/apikeys/ports"
)

// Page sizes used when a query asks for none or for too many.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageSize is the size of a page of limit rows: a limit of zero or less
// means the default.
func pageSize(limit int) int {
	n, _ := paging.Size(max(limit, 0), defaultPageSize, maxPageSize) // never negative: no error
	return n
}

// CreateKey inserts k and its audit event ev in one transaction. A taken id
// or lookup digest yields apikey.ErrConflict and stores nothing.
func (s *Store) CreateKey(ctx context.Context, k apikey.Key, ev audit.Event) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	row, err := toKeyRow(k)
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	evRow, err := toEventRow(ev)
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	err = s.writeChained(ctx, func(tx *gorm.DB, chain *chainTx) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return chain.append(evRow)
	})
	return translate("create key", err)
}

// GetKey returns the key with id, revoked or not, or apikey.ErrNotFound.
func (s *Store) GetKey(ctx context.Context, id string) (apikey.Key, error) {
	return s.getKey(ctx, "get key", "id", id)
}

// findByLookupSQL finds the key of a digest among the secrets of keys, the
// previous secrets of keys in a rotation's grace period and the retired
// secrets, in one round trip of three indexed probes.
const findByLookupSQL = `SELECT k.*, 0 AS match_kind, k.lookup AS matched FROM api_keys k WHERE k.lookup = ?
UNION ALL
SELECT k.*, 1 AS match_kind, k.previous_lookup AS matched FROM api_keys k WHERE k.previous_lookup = ?
UNION ALL
SELECT k.*, 2 AS match_kind, r.lookup AS matched FROM retired_secrets r JOIN api_keys k ON k.id = r.key_id WHERE r.lookup = ?`

// matchRow is a key found by one of its digests.
type matchRow struct {
	Key     keyRow `gorm:"embedded"`
	Kind    int    `gorm:"column:match_kind"`
	Matched string `gorm:"column:matched"`
}

// FindByLookup returns the key whose secret, previous secret or retired
// secret has the lookup digest digest (in that order of preference), or
// apikey.ErrNotFound.
func (s *Store) FindByLookup(ctx context.Context, digest string) (apikey.Key, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var rows []matchRow
	if err := s.prepared.WithContext(ctx).Table((keyRow{}).TableName()).Raw(findByLookupSQL, digest, digest, digest).Scan(&rows).Error; err != nil {
		return apikey.Key{}, translate("find key", err)
	}
	best := -1
	for i, r := range rows {
		// MySQL's PAD SPACE collations and Postgres's CHAR ignore trailing
		// spaces when comparing: only an exact match counts.
		if strings.TrimRight(r.Matched, " ") == digest && (best < 0 || r.Kind < rows[best].Kind) {
			best = i
		}
	}
	if best < 0 {
		return apikey.Key{}, fmt.Errorf("find key: %w", apikey.ErrNotFound)
	}
	k, err := rows[best].Key.key()
	if err != nil {
		return apikey.Key{}, fmt.Errorf("find key: %w", err)
	}
	return k, nil
}

func (s *Store) getKey(ctx context.Context, op, column, value string) (apikey.Key, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var row keyRow
	if err := s.prepared.WithContext(ctx).Where(column+" = ?", value).Take(&row).Error; err != nil {
		return apikey.Key{}, translate(op, err)
	}
	k, err := row.key()
	if err != nil {
		return apikey.Key{}, fmt.Errorf("%s: %w", op, err)
	}
	// MySQL's PAD SPACE collations and Postgres's CHAR ignore trailing
	// spaces when comparing: only an exact match counts.
	if (column == "id" && k.ID != value) || (column == "lookup" && k.Lookup != value) {
		return apikey.Key{}, fmt.Errorf("%s: %w", op, apikey.ErrNotFound)
	}
	return k, nil
}

// epoch stands for "never used" when ordering by last use: before every
// real use.
var epoch = time.Unix(0, 0).UTC()

// ListKeys returns one page of the keys of q.OrganizationIDs, newest first
// (created_at, then id, descending), or most recently used first with
// q.SortByLastUsed (never-used keys last). Revoked keys are left out
// unless q.IncludeRevoked; q.Statuses, q.ExpiringBefore and q.UnusedSince
// filter further. Total counts every matching key, ignoring q.After. An
// empty q.OrganizationIDs matches no key. A q.Limit of zero or less means
// 100; more than 1000 means 1000.
func (s *Store) ListKeys(ctx context.Context, q ports.KeyQuery) (ports.KeyPage, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	page := ports.KeyPage{Keys: []apikey.Key{}}
	if len(q.OrganizationIDs) == 0 {
		return page, nil
	}
	now := utc(q.Now)
	filter := func() *gorm.DB {
		db := s.db.WithContext(ctx).Model(&keyRow{}).Where("organization_id IN ?", q.OrganizationIDs)
		switch {
		case len(q.Statuses) > 0:
			db = db.Where(statusFilter(s.db, q.Statuses, now))
		case !q.IncludeRevoked:
			db = db.Where("revoked_at IS NULL")
		}
		if q.ExpiringBefore != nil {
			db = db.Where("revoked_at IS NULL AND expires_at > ? AND expires_at <= ?", now, utc(*q.ExpiringBefore))
		}
		if q.UnusedSince != nil {
			db = db.Where("(last_used_at IS NULL OR last_used_at < ?)", utc(*q.UnusedSince))
		}
		if q.RotationDue != nil {
			due := rotationDueFilter(q.RotationCutoffs, now)
			if *q.RotationDue {
				db = db.Where(due.SQL, due.Vars...)
			} else {
				db = db.Where("NOT ("+due.SQL+")", due.Vars...)
			}
		}
		return db
	}
	if err := filter().Count(&page.Total).Error; err != nil {
		return ports.KeyPage{}, translate("list keys", err)
	}
	limit := pageSize(q.Limit)
	db := filter()
	order := clause.Expr{SQL: "created_at DESC, id DESC"}
	if q.SortByLastUsed {
		// Never-used keys sort as if used at the epoch: last.
		order = gorm.Expr("COALESCE(last_used_at, ?) DESC, id DESC", epoch)
		if q.After != nil {
			at := utc(q.After.Time)
			if at.IsZero() {
				at = epoch
			}
			db = db.Where("(COALESCE(last_used_at, ?) < ? OR (COALESCE(last_used_at, ?) = ? AND id < ?))", epoch, at, epoch, at, q.After.ID)
		}
	} else if q.After != nil {
		at := utc(q.After.Time)
		db = db.Where("(created_at < ? OR (created_at = ? AND id < ?))", at, at, q.After.ID)
	}
	var rows []keyRow
	if err := db.Clauses(clause.OrderBy{Expression: order}).Limit(limit + 1).Find(&rows).Error; err != nil {
		return ports.KeyPage{}, translate("list keys", err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		page.Next = &ports.Cursor{Time: utc(last.CreatedAt), ID: last.ID}
		if q.SortByLastUsed {
			page.Next.Time = time.Time{}
			if last.LastUsedAt != nil {
				page.Next.Time = utc(*last.LastUsedAt)
			}
		}
	}
	keys, err := keysOf(rows)
	if err != nil {
		return ports.KeyPage{}, fmt.Errorf("list keys: %w", err)
	}
	page.Keys = keys
	return page, nil
}

// rotationDueFilter is the condition of a key being due for rotation at
// now: active, and created or last rotated at or before its
// organization's cutoff (an organization without one has no key due).
// Every term is NOT NULL, so NOT of it is the condition of the others.
func rotationDueFilter(cutoffs map[string]time.Time, now time.Time) clause.Expr {
	if len(cutoffs) == 0 {
		return clause.Expr{SQL: "1 = 0"}
	}
	orgs := make([]string, 0, len(cutoffs))
	for org := range cutoffs {
		orgs = append(orgs, org)
	}
	slices.Sort(orgs)
	var b strings.Builder
	vars := []any{now}
	b.WriteString("(revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) AND (")
	for i, org := range orgs {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("(organization_id = ? AND COALESCE(rotated_at, created_at) <= ?)")
		vars = append(vars, org, utc(cutoffs[org]))
	}
	b.WriteString("))")
	return clause.Expr{SQL: b.String(), Vars: vars}
}

// statusFilter is the condition of a key being in any of statuses at now.
func statusFilter(db *gorm.DB, statuses []apikey.Status, now time.Time) *gorm.DB {
	cond := db.Session(&gorm.Session{NewDB: true})
	for _, st := range statuses {
		var part *gorm.DB
		switch st {
		case apikey.StatusActive:
			part = db.Session(&gorm.Session{NewDB: true}).Where("revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", now)
		case apikey.StatusExpired:
			part = db.Session(&gorm.Session{NewDB: true}).Where("revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ?", now)
		case apikey.StatusRevoked:
			part = db.Session(&gorm.Session{NewDB: true}).Where("revoked_at IS NOT NULL")
		default:
			continue
		}
		cond = cond.Or(part)
	}
	return cond
}

// RotateKey replaces the secret material of r.KeyID if its version is still
// r.ExpectVersion and it is not revoked, bumps the version, marks the key
// invalidated at r.At, retires the replaced secret's lookup digest (a row
// of retired_secrets) and, with r.PreviousUntil, keeps the replaced secret
// as the key's previous one until then (else drops any previous one), and
// records ev, all in one transaction. It returns the updated key, or
// apikey.ErrNotFound, apikey.ErrRevoked or apikey.ErrConflict (another
// change won, or the new lookup is taken).
func (s *Store) RotateKey(ctx context.Context, r ports.Rotation, ev audit.Event) (apikey.Key, error) {
	at := utc(r.At)
	// The previous secret is set before the current one is replaced:
	// MySQL assigns left to right, each assignment seeing the ones before.
	previous, prevArgs := `previous_hash = NULL, previous_lookup = NULL, previous_hint = NULL, previous_expires_at = NULL`, []any{}
	if r.PreviousUntil != nil {
		previous, prevArgs = `previous_hash = hash, previous_lookup = lookup, previous_hint = hint, previous_expires_at = ?`, []any{utc(*r.PreviousUntil)}
	}
	k, cur, err := s.updateChained(ctx, "rotate key", r.KeyID, ev,
		stmt{`INSERT INTO retired_secrets (lookup, key_id, retired_at)
			SELECT lookup, id, ? FROM api_keys WHERE id = ? AND version = ? AND revoked_at IS NULL`,
			[]any{at, r.KeyID, r.ExpectVersion}},
		// A digest once retired is never a secret again.
		stmt{`UPDATE api_keys SET ` + previous + `,
			hash = ?, lookup = ?, hint = ?, rotated_at = ?, invalidated_at = ?, updated_at = ?, version = version + 1
			WHERE id = ? AND version = ? AND revoked_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM retired_secrets WHERE lookup = ?)`,
			append(prevArgs, r.Hash, r.Lookup, r.Hint, at, at, at, r.KeyID, r.ExpectVersion, r.Lookup)})
	switch {
	case !errors.Is(err, errNoChange):
		return k, err
	case cur.RevokedAt != nil:
		return apikey.Key{}, fmt.Errorf("rotate key: %w", apikey.ErrRevoked)
	default:
		return apikey.Key{}, fmt.Errorf("rotate key: version %d is stale: %w", r.ExpectVersion, apikey.ErrConflict)
	}
}

// RevokeKey marks key id revoked and invalidated at at, bumps its version
// and records ev, in one transaction, and returns the revoked key. Revoking
// a revoked key returns it unchanged with apikey.ErrRevoked and records
// nothing; a missing key yields apikey.ErrNotFound.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time, ev audit.Event) (apikey.Key, error) {
	at = utc(at)
	k, cur, err := s.updateChained(ctx, "revoke key", id, ev, stmt{`UPDATE api_keys
		SET revoked_at = ?, invalidated_at = ?, updated_at = ?, version = version + 1
		WHERE id = ? AND revoked_at IS NULL`,
		[]any{at, at, at, id}})
	switch {
	case !errors.Is(err, errNoChange):
		return k, err
	case cur.RevokedAt != nil:
		return cur, fmt.Errorf("revoke key: %w", apikey.ErrRevoked)
	default:
		return apikey.Key{}, fmt.Errorf("revoke key: %w", apikey.ErrConflict)
	}
}

// stmt is one SQL statement with its arguments.
type stmt struct {
	sql  string
	args []any
}

// updateChained runs the conditional statements of key id in order and
// appends ev to the chain in one transaction, and returns the updated key.
// When a statement changes no row it returns errNoChange with the key as it now is,
// read outside the transaction so that the answer reflects the latest
// committed state on every isolation level; a missing key is
// apikey.ErrNotFound. Other errors are translated for op.
func (s *Store) updateChained(ctx context.Context, op, id string, ev audit.Event, stmts ...stmt) (updated, current apikey.Key, err error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	evRow, err := toEventRow(ev)
	if err != nil {
		return apikey.Key{}, apikey.Key{}, fmt.Errorf("%s: %w", op, err)
	}
	var row keyRow
	err = s.writeChained(ctx, func(tx *gorm.DB, chain *chainTx) error {
		for _, st := range stmts {
			res := tx.Exec(st.sql, st.args...)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return errNoChange
			}
		}
		if err := chain.append(evRow); err != nil {
			return err
		}
		return tx.Where("id = ?", id).Take(&row).Error
	})
	if errors.Is(err, errNoChange) {
		cur, gerr := s.GetKey(ctx, id)
		if gerr != nil {
			return apikey.Key{}, apikey.Key{}, translate(op, gerr)
		}
		return apikey.Key{}, cur, errNoChange
	}
	if err != nil {
		return apikey.Key{}, apikey.Key{}, translate(op, err)
	}
	k, err := row.key()
	if err != nil {
		return apikey.Key{}, apikey.Key{}, fmt.Errorf("%s: %w", op, err)
	}
	return k, apikey.Key{}, nil
}

// UpdateKey hands key id to change as it is committed, its row locked
// until the transaction ends (SELECT ... FOR UPDATE; SQLite's one writer
// at a time needs no lock), then stores the name, scopes, expiry, rate
// limit, metadata and IP allowlist of the key change returns, with updated_at and invalidated_at set
// to the time of the event change returns, and appends that event to the
// chain, all in one transaction. A concurrent rotation or revocation thus
// either commits first, and change sees it (a revoked key yields
// apikey.ErrRevoked without calling change), or waits for this update and
// keeps what it changed. An error of change stores nothing and is returned
// as is.
func (s *Store) UpdateKey(ctx context.Context, id string, change ports.KeyChanger) (apikey.Key, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var (
		out       apikey.Key
		changeErr error
	)
	err := s.writeChained(ctx, func(tx *gorm.DB, chain *chainTx) error {
		q := tx.Where("id = ?", id)
		if s.driver != DriverSQLite {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		var row keyRow
		if err := q.Take(&row).Error; err != nil {
			return err
		}
		cur, err := row.key()
		if err != nil {
			return err
		}
		if cur.ID != id { // PAD SPACE collations: only an exact match counts
			return gorm.ErrRecordNotFound
		}
		if cur.RevokedAt != nil {
			return apikey.ErrRevoked
		}
		next, ev, err := change(cur)
		if err != nil {
			changeErr = err
			return err
		}
		nrow, err := toKeyRow(next)
		if err != nil {
			return err
		}
		evRow, err := toEventRow(ev)
		if err != nil {
			return err
		}
		at := utc(ev.Time)
		res := tx.Exec(`UPDATE api_keys SET name = ?, scopes = ?, expires_at = ?, rate_limit = ?, metadata = ?, ip_allowlist = ?,
			updated_at = ?, invalidated_at = ?
			WHERE id = ? AND revoked_at IS NULL`,
			nrow.Name, nrow.Scopes, nrow.ExpiresAt, nrow.RateLimit, nrow.Metadata, nrow.IPAllowlist, at, at, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errNoChange
		}
		if err := chain.append(evRow); err != nil {
			return err
		}
		var stored keyRow // fresh: GORM leaves pointer fields of a reused row as they were
		if err := tx.Where("id = ?", id).Take(&stored).Error; err != nil {
			return err
		}
		out, err = stored.key()
		return err
	})
	switch {
	case err == nil:
		return out, nil
	case changeErr != nil && errors.Is(err, changeErr):
		return apikey.Key{}, changeErr
	case errors.Is(err, apikey.ErrRevoked):
		return apikey.Key{}, fmt.Errorf("update key: %w", apikey.ErrRevoked)
	case errors.Is(err, errNoChange):
		return apikey.Key{}, fmt.Errorf("update key: %w", apikey.ErrConflict)
	}
	return apikey.Key{}, translate("update key", err)
}

// InvalidatedSince lists the keys rotated, revoked or updated at or after since,
// oldest change first.
func (s *Store) InvalidatedSince(ctx context.Context, since time.Time) ([]ports.KeyChange, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var rows []struct {
		ID            string    `gorm:"column:id"`
		InvalidatedAt time.Time `gorm:"column:invalidated_at"`
	}
	err := s.db.WithContext(ctx).Model(&keyRow{}).
		Select("id", "invalidated_at").
		Where("invalidated_at >= ?", utc(since)).
		Order("invalidated_at, id").
		Find(&rows).Error
	if err != nil {
		return nil, translate("invalidated keys", err)
	}
	out := make([]ports.KeyChange, len(rows))
	for i, r := range rows {
		out[i] = ports.KeyChange{KeyID: r.ID, At: utc(r.InvalidatedAt)}
	}
	return out, nil
}
