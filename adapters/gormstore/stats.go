package gormstore

import (
	"fmt"
	"sync/atomic"

	"gorm.io/gorm"
)

// QueryStats counts the statements a Store has sent through GORM since it
// was opened, for benchmarks and diagnostics. Migrations, pings and the
// transactions' BEGIN and COMMIT are not counted.
type QueryStats struct {
	Reads  uint64 // SELECT statements: lookups, listings, counts, polls, audit reads
	Writes uint64 // INSERT, UPDATE and DELETE statements
	// KeyReads are the Reads of the api_keys table: lookups of presented
	// keys, management reads, listings and invalidation polls.
	KeyReads uint64
}

// queryCounter is bumped by GORM callbacks after every statement.
type queryCounter struct {
	reads, writes, keyReads atomic.Uint64
}

// countQueries registers the callbacks that feed c on db.
func countQueries(db *gorm.DB, c *queryCounter) error {
	read := func(db *gorm.DB) {
		c.reads.Add(1)
		if db.Statement != nil && db.Statement.Table == (keyRow{}).TableName() {
			c.keyReads.Add(1)
		}
	}
	write := func(*gorm.DB) { c.writes.Add(1) }
	cb := db.Callback()
	for _, r := range []struct {
		name string
		err  error
	}{
		{"query", cb.Query().After("gorm:query").Register("apikeys:count", read)},
		{"row", cb.Row().After("gorm:row").Register("apikeys:count", read)},
		{"create", cb.Create().After("gorm:create").Register("apikeys:count", write)},
		{"update", cb.Update().After("gorm:update").Register("apikeys:count", write)},
		{"delete", cb.Delete().After("gorm:delete").Register("apikeys:count", write)},
		// Exec: the store's raw statements are all UPDATEs.
		{"raw", cb.Raw().After("gorm:raw").Register("apikeys:count", write)},
	} {
		if r.err != nil {
			return fmt.Errorf("register %s counter: %w", r.name, r.err)
		}
	}
	return nil
}

// QueryStats returns how many statements the store has run.
func (s *Store) QueryStats() QueryStats {
	return QueryStats{Reads: s.queries.reads.Load(), Writes: s.queries.writes.Load(), KeyReads: s.queries.keyReads.Load()}
}
