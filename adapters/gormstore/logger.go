package gormstore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm/logger"
)

// slowQuery is how long a statement may take before it is logged.
const slowQuery = 500 * time.Millisecond

// gormLogger sends GORM's messages to slog. It logs slow statements with
// their placeholders but never their values, which can hold hashes and
// digests; failed statements are not logged here because their errors are
// returned to the caller.
type gormLogger struct {
	log  *slog.Logger
	slow time.Duration
}

func newGormLogger(log *slog.Logger) gormLogger { return gormLogger{log: log, slow: slowQuery} }

func (l gormLogger) LogMode(logger.LogLevel) logger.Interface { return l }

// Info, Warn and Error log only GORM's message template: its arguments may
// be values.
func (l gormLogger) Info(ctx context.Context, msg string, _ ...any) {
	l.log.DebugContext(ctx, "gorm: "+msg)
}

func (l gormLogger) Warn(ctx context.Context, msg string, _ ...any) {
	l.log.WarnContext(ctx, "gorm: "+msg)
}

func (l gormLogger) Error(ctx context.Context, msg string, _ ...any) {
	l.log.ErrorContext(ctx, "gorm: "+msg)
}

func (l gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), _ error) {
	elapsed := time.Since(begin)
	if elapsed < l.slow {
		return
	}
	query, rows := fc()
	l.log.WarnContext(ctx, "slow database statement", "sql", query, "rows", rows, "elapsed", elapsed)
}

// ParamsFilter drops the statement's values, so that the SQL handed to
// Trace keeps its placeholders.
func (l gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

// mysqlLogger receives the MySQL driver's own messages (dropped
// connections and the like).
type mysqlLogger struct{ log *slog.Logger }

func (l mysqlLogger) Print(v ...any) {
	l.log.Warn("mysql driver: " + fmt.Sprint(v...))
}
