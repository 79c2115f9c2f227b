package telemetry

import (
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
)

// gormSpanKey is where the before callback leaves the span for the after
// callback, in the statement's per-instance settings.
const gormSpanKey = "apikeys:otel:span"

// InstrumentGORM registers GORM callbacks that make a client span for each
// statement run inside a traced operation. system is the store's driver
// (sqlite, postgres or mysql).
//
// This is written here rather than taken from gorm.io/plugin/opentelemetry,
// whose tracing package links the ClickHouse driver into the binary, and
// which records the statement text. These spans carry db.system.name,
// db.operation.name, db.collection.name and, for reads, the rows returned
// — never the statement or its values. Statements outside any span (the
// invalidation poll, migrations) are not traced, so they do not flood the
// trace store with root spans. Nothing is registered unless spans are
// recorded.
func (t *Telemetry) InstrumentGORM(db *gorm.DB, system string) error {
	if !t.Enabled() || !t.recording {
		return nil
	}
	sys := semconv.DBSystemNameKey.String(dbSystem(system))
	cb := db.Callback()
	regs := []struct {
		name   string
		op     string // "?X": the statement's first word, or X if no SQL is built yet
		before func(string, func(*gorm.DB)) error
		after  func(string, func(*gorm.DB)) error
	}{
		{"create", "INSERT", cb.Create().Before("gorm:create").Register, cb.Create().After("gorm:create").Register},
		{"query", "SELECT", cb.Query().Before("gorm:query").Register, cb.Query().After("gorm:query").Register},
		{"update", "UPDATE", cb.Update().Before("gorm:update").Register, cb.Update().After("gorm:update").Register},
		{"delete", "DELETE", cb.Delete().Before("gorm:delete").Register, cb.Delete().After("gorm:delete").Register},
		{"row", "?SELECT", cb.Row().Before("gorm:row").Register, cb.Row().After("gorm:row").Register},
		{"raw", "?EXEC", cb.Raw().Before("gorm:raw").Register, cb.Raw().After("gorm:raw").Register},
	}
	for _, r := range regs {
		if err := r.before("apikeys:otel:before_"+r.name, t.gormBefore(sys, r.op)); err != nil {
			return fmt.Errorf("telemetry: register gorm %s callback: %w", r.name, err)
		}
		if err := r.after("apikeys:otel:after_"+r.name, gormAfter(r.op == "SELECT")); err != nil {
			return fmt.Errorf("telemetry: register gorm %s callback: %w", r.name, err)
		}
	}
	return nil
}

func dbSystem(driver string) string {
	switch driver {
	case "postgres":
		return "postgresql"
	case "sqlite", "mysql":
		return driver
	}
	return "other_sql"
}

func (t *Telemetry) gormBefore(sys attribute.KeyValue, op string) func(*gorm.DB) {
	return func(db *gorm.DB) {
		ctx := db.Statement.Context
		if ctx == nil || !trace.SpanFromContext(ctx).SpanContext().IsValid() {
			return
		}
		operation, table := op, db.Statement.Table
		if fallback, ok := strings.CutPrefix(op, "?"); ok {
			// Row and Raw statements: only the verb and table of the SQL
			// (built by now for raw statements) are looked at.
			operation = fallback
			if sql := db.Statement.SQL.String(); sql != "" {
				var t string
				operation, t = sqlVerb(sql)
				if table == "" {
					table = t
				}
			}
		}
		name := operation
		attrs := []attribute.KeyValue{sys, semconv.DBOperationName(operation)}
		if table != "" {
			name += " " + table
			attrs = append(attrs, semconv.DBCollectionName(table))
		}
		_, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
		db.InstanceSet(gormSpanKey, span)
	}
}

func gormAfter(read bool) func(*gorm.DB) {
	return func(db *gorm.DB) {
		v, ok := db.InstanceGet(gormSpanKey)
		if !ok {
			return
		}
		span, ok := v.(trace.Span)
		if !ok {
			return
		}
		defer span.End()
		if read && db.Error == nil {
			span.SetAttributes(semconv.DBResponseReturnedRows(int(db.Statement.RowsAffected)))
		}
		if err := db.Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			et := dbErrorType(err)
			span.SetAttributes(semconv.ErrorTypeKey.String(et))
			span.SetStatus(codes.Error, et)
		}
	}
}

// dbErrorType classifies a driver error by GORM sentinel or Go type: never
// its message, which can quote the statement's values.
func dbErrorType(err error) string {
	switch {
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return "duplicate_key"
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return "foreign_key_violation"
	}
	if et := errorType(err); et != semconv.ErrorTypeOther.Value.AsString() {
		return et
	}
	return fmt.Sprintf("%T", err)
}

// sqlVerb returns the upper-cased first word of a statement if it is a
// plain SQL verb (else "EXEC") and, for UPDATE, INSERT INTO (with SQLite's
// OR <action> or MySQL's IGNORE) and DELETE FROM, the table it names.
// Nothing else of the statement is looked at.
func sqlVerb(sql string) (verb, table string) {
	words := strings.Fields(sql)
	if len(words) == 0 {
		return "EXEC", ""
	}
	verb = strings.ToUpper(words[0])
	rest := words[1:]
	switch verb {
	case "UPDATE":
	case "INSERT", "REPLACE":
		if len(rest) >= 2 && strings.EqualFold(rest[0], "OR") {
			rest = rest[2:] // INSERT OR FAIL INTO t
		} else if len(rest) >= 1 && strings.EqualFold(rest[0], "IGNORE") {
			rest = rest[1:] // INSERT IGNORE INTO t
		}
		if len(rest) == 0 || !strings.EqualFold(rest[0], "INTO") {
			return verb, ""
		}
		rest = rest[1:]
	case "DELETE":
		if len(rest) == 0 || !strings.EqualFold(rest[0], "FROM") {
			return verb, ""
		}
		rest = rest[1:]
	case "SELECT", "WITH", "MERGE":
		return verb, ""
	default:
		return "EXEC", ""
	}
	if len(rest) == 0 {
		return verb, ""
	}
	t := strings.Trim(rest[0], "`\"")
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return verb, ""
		}
	}
	return verb, t
}
