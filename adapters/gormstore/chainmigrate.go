package gormstore

import (
	"context"
	"database/sql"
	"fmt"
	"path"

	"github.com/pressly/goose/v3"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/agentauri/apikeys/core/audit"
)

// The migrations written in Go.
const (
	// chainMigrationVersion chains the audit events written before hash
	// chains existed (migration 00002 added the columns).
	chainMigrationVersion = 3
	// keyedChainsVersion keys the audit chains: it adds the registry's
	// key and seal columns and seals the chains written before.
	keyedChainsVersion = 5
)

// goMigrations returns the migrations written in Go, with their names.
func (s *Store) goMigrations() ([]*goose.Migration, map[int64]string) {
	return []*goose.Migration{
			goose.NewGoMigration(chainMigrationVersion, &goose.GoFunc{RunTx: s.chainExistingEvents}, nil),
			goose.NewGoMigration(keyedChainsVersion, &goose.GoFunc{RunTx: s.keyChains}, nil),
		}, map[int64]string{
			chainMigrationVersion: "00003_chain_existing_events.go",
			keyedChainsVersion:    "00005_keyed_chains.go",
		}
}

// txDB returns a GORM handle running on the migration's transaction tx.
func (s *Store) txDB(ctx context.Context, tx *sql.Tx) *gorm.DB {
	db := s.db.Session(&gorm.Session{Context: ctx, NewDB: true})
	db.Statement.ConnPool = tx
	return db
}

// chainExistingEvents links every event that belongs to no chain into a
// new chain of its own, in time order, and registers that chain, so that
// `audit verify` covers the events of earlier versions too. On a database
// without such events it does nothing.
func (s *Store) chainExistingEvents(ctx context.Context, tx *sql.Tx) error {
	db := s.txDB(ctx, tx)
	// v1 links, as chains were before they were keyed: migration 00005
	// seals this chain with the others written before it.
	c := newChain(audit.ChainKey{})
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

// keyedColumnDDL adds each of keyedColumns to audit_chains, per driver.
var keyedColumnDDL = map[string][]string{
	DriverSQLite: {
		`ALTER TABLE audit_chains ADD COLUMN key_id TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE audit_chains ADD COLUMN keyed_from_seq INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE audit_chains ADD COLUMN head_seal TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE audit_chains ADD COLUMN anchor_seal TEXT NOT NULL DEFAULT ''`,
	},
	DriverPostgres: {
		`ALTER TABLE audit_chains ADD COLUMN key_id varchar(40) COLLATE "C" NOT NULL DEFAULT ''`,
		`ALTER TABLE audit_chains ADD COLUMN keyed_from_seq bigint NOT NULL DEFAULT 0`,
		`ALTER TABLE audit_chains ADD COLUMN head_seal varchar(64) COLLATE "C" NOT NULL DEFAULT ''`,
		`ALTER TABLE audit_chains ADD COLUMN anchor_seal varchar(64) COLLATE "C" NOT NULL DEFAULT ''`,
	},
	DriverMySQL: {
		`ALTER TABLE audit_chains ADD COLUMN key_id VARCHAR(40) NOT NULL DEFAULT ''`,
		`ALTER TABLE audit_chains ADD COLUMN keyed_from_seq BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE audit_chains ADD COLUMN head_seal VARCHAR(64) NOT NULL DEFAULT ''`,
		`ALTER TABLE audit_chains ADD COLUMN anchor_seal VARCHAR(64) NOT NULL DEFAULT ''`,
	},
}

// keyChains is migration 00005. It gives the chain registry its key and
// seal columns (those it lacks: it can run again), then seals every chain
// written before, whose links are v1, with the store's current chain key:
// the chain is keyed from one past its head (its writer, an older
// version, never adds a keyed link), and the seals pin its head and
// anchor, so that its v1 links can no longer be rewritten unnoticed by
// anyone without the key. With such chains to seal and no key, it fails.
func (s *Store) keyChains(ctx context.Context, tx *sql.Tx) error {
	db := s.txDB(ctx, tx)
	for i, col := range keyedColumns {
		if db.Migrator().HasColumn(&chainRow{}, col) {
			continue
		}
		if err := db.Exec(keyedColumnDDL[s.driver][i]).Error; err != nil {
			return fmt.Errorf("add audit_chains.%s: %w", col, err)
		}
	}
	q := db.Where("key_id = ''").Order("chain_id")
	if s.driver != DriverSQLite {
		// An older writer still running updates its head under this lock.
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var rows []chainRow
	if err := q.Find(&rows).Error; err != nil {
		return fmt.Errorf("read unsealed audit chains: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	key := s.chainKeys.Current()
	if key.IsZero() {
		return fmt.Errorf("%d audit chains written before chains were keyed must be sealed with the audit chain key, and none is configured", len(rows))
	}
	for _, r := range rows {
		c := r.chain()
		c.KeyedFrom = c.HeadSeq + 1
		c.Seal(key)
		err := db.Exec(`UPDATE audit_chains SET key_id = ?, keyed_from_seq = ?, head_seal = ?, anchor_seal = ? WHERE chain_id = ? AND key_id = ''`,
			c.KeyID, c.KeyedFrom, c.HeadSeal, c.AnchorSeal, c.ID).Error
		if err != nil {
			return fmt.Errorf("seal audit chain %s: %w", c.ID, err)
		}
	}
	s.log.InfoContext(ctx, "sealed the audit chains written before chains were keyed", "chains", len(rows), "chain_key", key.ID())
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
