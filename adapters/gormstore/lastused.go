package gormstore

import (
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// touchBatch is how many keys one last_used_at UPDATE moves.
const touchBatch = 100

// touchKeys moves the last_used_at of each key in lastUsed forward to its
// time, never back, with one UPDATE per touchBatch keys (in id order)
// rather than one per key: a batch of usage events spread over many keys
// would otherwise cost a statement, and on Postgres and MySQL a round
// trip, per key.
func (s *Store) touchKeys(tx *gorm.DB, lastUsed map[string]time.Time) error {
	ids := make([]string, 0, len(lastUsed))
	for id := range lastUsed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for start := 0; start < len(ids); start += touchBatch {
		chunk := ids[start:min(start+touchBatch, len(ids))]
		args := make([]any, 0, 2*len(chunk))
		for _, id := range chunk {
			args = append(args, id, lastUsed[id])
		}
		if err := tx.Exec(s.touchSQL(len(chunk)), args...).Error; err != nil {
			return err
		}
	}
	return nil
}

// touchSQL returns the UPDATE of n keys: the new times come in as a
// derived table of (id, t) rows, joined to api_keys by id; a key whose
// last_used_at is already at or after its t is left alone.
func (s *Store) touchSQL(n int) string {
	row, first := "SELECT ?, ?", "SELECT ? AS id, ? AS t"
	if s.driver == DriverPostgres {
		// Parameters in a derived table have no type to infer.
		first = "SELECT CAST(? AS TEXT) AS id, CAST(? AS TIMESTAMPTZ) AS t"
		row = "SELECT CAST(? AS TEXT), CAST(? AS TIMESTAMPTZ)"
	}
	var b strings.Builder
	b.WriteString(first)
	for range n - 1 {
		b.WriteString(" UNION ALL ")
		b.WriteString(row)
	}
	values := b.String()
	switch s.driver {
	case DriverMySQL:
		return `UPDATE api_keys AS k JOIN (` + values + `) AS v ON k.id = v.id
			SET k.last_used_at = v.t WHERE k.last_used_at IS NULL OR k.last_used_at < v.t`
	case DriverPostgres:
		return `UPDATE api_keys AS k SET last_used_at = v.t FROM (` + values + `) AS v
			WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.t)`
	}
	return `UPDATE api_keys SET last_used_at = v.t FROM (` + values + `) AS v
		WHERE api_keys.id = v.id AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < v.t)`
}
