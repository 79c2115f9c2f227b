package gormstore

import (
	"context"
	"database/sql"
	"strings"

	"gorm.io/gorm"
)

// eventColumns are the audit_events columns in the order sqliteInsertSQL lists
// them and eventArgs gives their values.
const eventColumns = "id, occurred_at, organization_id, actor, action, key_id, request_id, client_request_id, trace_id, " +
	"method, path, client_ip, user_agent, status, outcome, scope, details, " +
	"chain_id, seq, prev_id, prev_hash, hash"

// eventColumnCount is the number of names in eventColumns.
const eventColumnCount = 22

// sqliteInsertSQL returns a SQLite INSERT of n audit_events rows with
// positional parameters. OR FAIL: a statement that breaks a constraint
// stops there and keeps the rows it had inserted, where the default (OR
// ABORT) undoes them, which makes SQLite copy every page the statement
// changes to a statement journal first. A failed INSERT fails the whole
// transaction anyway, which is rolled back; the journal bought nothing and
// cost a tenth of the writer's time.
func sqliteInsertSQL(n int) string {
	row := "(" + strings.Repeat("?, ", eventColumnCount-1) + "?)"
	var b strings.Builder
	b.Grow(len("INSERT INTO audit_events () VALUES ") + len(eventColumns) + n*(len(row)+2))
	b.WriteString("INSERT OR FAIL INTO audit_events (")
	b.WriteString(eventColumns)
	b.WriteString(") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// eventArgs appends r's values to args in eventColumns order.
func eventArgs(args []any, r *eventRow) []any {
	return append(args, r.ID, r.OccurredAt, r.OrganizationID, r.Actor, r.Action, r.KeyID, r.RequestID, r.ClientRequestID, r.TraceID,
		r.Method, r.Path, r.ClientIP, r.UserAgent, r.Status, r.Outcome, r.Scope, r.Details,
		r.ChainID, r.Seq, r.PrevID, r.PrevHash, r.Hash)
}

// insertEvents inserts rows, per rows to a statement. On SQLite (prepare)
// each statement is prepared once per transaction and run again for every
// chunk of the same size: the driver keeps a prepared statement's
// compiled program, where an unprepared one is parsed and planned anew on
// every execution, which for a 32-row INSERT of audit events cost about a
// third of the writer's time. The statements still go through GORM (its
// callbacks count and trace them). Postgres and MySQL take GORM's
// multi-row INSERTs as they come: parsing happens in the database server,
// and a server-side prepared statement would cost them a round trip.
func insertEvents(tx *gorm.DB, rows []eventRow, per int, prepare bool) error {
	sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
	if !prepare || !ok {
		return tx.CreateInBatches(rows, per).Error
	}
	pool := &preparedTx{Tx: sqlTx, stmts: make(map[string]*sql.Stmt, 2)}
	db := tx.Session(&gorm.Session{Context: tx.Statement.Context})
	db.Statement.ConnPool = pool
	full := sqliteInsertSQL(per)
	for len(rows) > 0 {
		n := min(per, len(rows))
		query := full
		if n < per {
			query = sqliteInsertSQL(n)
		}
		args := make([]any, 0, n*eventColumnCount)
		for i := range rows[:n] {
			args = eventArgs(args, &rows[i])
		}
		if err := execRaw(db, query, args); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// execRaw runs query with args through GORM's raw-statement callbacks (the
// store's statement counter and the tracing adapter's spans), as db.Exec
// does, without db.Exec's rewriting of query and args, which for a 32-row
// INSERT of 672 values cost more than a tenth of the writer's time.
func execRaw(db *gorm.DB, query string, args []any) error {
	// Table returns an instance with a statement of its own, where the
	// callbacks keep their state (Session's result would make them a new
	// one on every call).
	tx := db.Table("audit_events")
	tx.Statement.SQL.WriteString(query)
	tx.Statement.Vars = args
	return tx.Callback().Raw().Execute(tx).Error
}

// preparedTx is a gorm.ConnPool over one transaction that runs each
// distinct statement text from a statement prepared on its first use.
// Statements prepared on a transaction are closed when it ends.
type preparedTx struct {
	*sql.Tx
	stmts map[string]*sql.Stmt
}

// ExecContext runs query from its prepared statement, preparing it first
// if this is its first use in the transaction.
func (p *preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, ok := p.stmts[query]
	if !ok {
		var err error
		if st, err = p.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		p.stmts[query] = st
	}
	return st.ExecContext(ctx, args...)
}
