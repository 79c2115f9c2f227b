package gormstore

import (
	"context"
	"database/sql"
	"fmt"
	"path"

	"github.com/pressly/goose/v3"
	"gorm.io/gorm"
)

// chainMigrationVersion is the Go migration that chains the audit events
// written before hash chains existed (migration 00002 added the columns).
const chainMigrationVersion = 3

// goMigrations returns the migrations written in Go, with their names.
func (s *Store) goMigrations() ([]*goose.Migration, map[int64]string) {
	return []*goose.Migration{
			goose.NewGoMigration(chainMigrationVersion, &goose.GoFunc{RunTx: s.chainExistingEvents}, nil),
		}, map[int64]string{
			chainMigrationVersion: "00003_chain_existing_events.go",
		}
}

// chainExistingEvents links every event that belongs to no chain into a
// new chain of its own, in time order, and registers that chain, so that
// `audit verify` covers the events of earlier versions too. On a database
// without such events it does nothing.
func (s *Store) chainExistingEvents(ctx context.Context, tx *sql.Tx) error {
	db := s.db.Session(&gorm.Session{Context: ctx, NewDB: true})
	db.Statement.ConnPool = tx
	c := newChain()
	c.writer = "migration 00003: events written before hash chains"
	ct := &chainTx{tx: db, id: c.id}
	for {
		var rows []eventRow
		err := db.Where("seq IS NULL").Order("occurred_at, id").Limit(recordsPage).Find(&rows).Error
		if err != nil {
			return fmt.Errorf("read unchained events: %w", err)
		}
		if len(rows) == 0 {
			break
		}
		ct.link(rows)
		for _, r := range rows {
			err := db.Exec(`UPDATE audit_events SET chain_id = ?, seq = ?, prev_id = ?, prev_hash = ?, hash = ? WHERE id = ?`,
				r.ChainID, *r.Seq, r.PrevID, r.PrevHash, r.Hash, r.ID).Error
			if err != nil {
				return fmt.Errorf("chain event %s: %w", r.ID, err)
			}
		}
	}
	if ct.head.seq == 0 {
		return nil
	}
	if err := saveHead(db, c, ct.head); err != nil {
		return fmt.Errorf("register chain of existing events: %w", err)
	}
	s.log.InfoContext(ctx, "chained existing audit events", "chain_id", c.id, "events", ct.head.seq)
	return nil
}

// migrationName is the file name of a SQL migration, or the name of a Go one.
func (s *Store) migrationName(src *goose.Source) string {
	if src.Type == goose.TypeGo {
		if _, names := s.goMigrations(); names[src.Version] != "" {
			return names[src.Version]
		}
	}
	return path.Base(src.Path)
}
