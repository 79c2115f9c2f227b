package gormstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	gosqlite "modernc.org/sqlite"

	"github.com/agentauri/apikeys/core/apikey"
)

// errNoChange rolls back a transaction whose conditional update matched no
// row; it never leaves the package.
var errNoChange = errors.New("no row changed")

// translate turns a GORM or driver error from operation op into a domain
// error: apikey.ErrNotFound, apikey.ErrConflict, apikey.ErrUnavailable, or
// an opaque error with the original message. Domain errors pass unchanged,
// so translate may be applied more than once.
func translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, apikey.ErrNotFound), errors.Is(err, apikey.ErrConflict),
		errors.Is(err, apikey.ErrRevoked), errors.Is(err, apikey.ErrUnavailable):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, apikey.ErrNotFound)
	case isUniqueViolation(err), isConcurrencyFailure(err):
		// The driver message can quote the duplicate value (a lookup
		// digest): leave it out.
		return fmt.Errorf("%s: %w", op, apikey.ErrConflict)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w: %w", op, apikey.ErrUnavailable, context.DeadlineExceeded)
	case isUnavailable(err):
		return fmt.Errorf("%s: %w: %s", op, apikey.ErrUnavailable, err.Error())
	}
	// Detach the driver's error types: callers see the message only.
	return fmt.Errorf("%s: %w", op, errors.New(err.Error()))
}

// SQLite result codes (the low byte of an extended code).
const (
	sqliteBusy       = 5
	sqliteLocked     = 6
	sqliteIOErr      = 10
	sqliteFull       = 13
	sqliteCantOpen   = 14
	sqliteUnique     = 2067 // SQLITE_CONSTRAINT_UNIQUE
	sqlitePrimaryKey = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
)

func isUniqueViolation(err error) bool {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == 1062 || myErr.Number == 1586
	}
	var liteErr *gosqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqliteUnique || liteErr.Code() == sqlitePrimaryKey
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// isConcurrencyFailure reports a transaction aborted because a concurrent
// one won: a serialization failure or a deadlock.
func isConcurrencyFailure(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == 1213
	}
	return false
}

// pgUnavailable lists SQLSTATEs (or classes, two characters) that mean the
// server cannot serve now.
var pgUnavailable = []string{
	"08",    // connection exception
	"53",    // insufficient resources (too many connections, disk full)
	"57P01", // admin_shutdown
	"57P02", // crash_shutdown
	"57P03", // cannot_connect_now
	"57014", // query_canceled (statement_timeout)
	"55P03", // lock_not_available (lock_timeout)
	"25006", // read_only_sql_transaction (a replica after failover)
}

// mysqlUnavailable lists MySQL/MariaDB error numbers that mean the server
// cannot serve now.
var mysqlUnavailable = map[uint16]bool{
	1040: true, // too many connections
	1053: true, // server shutdown in progress
	1205: true, // lock wait timeout exceeded
	1290: true, // running with --read-only
	1792: true, // read-only transaction
	1969: true, // MariaDB max_statement_time exceeded
	3024: true, // MySQL max_execution_time exceeded
}

func isUnavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) || pgconn.Timeout(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		for _, code := range pgUnavailable {
			if strings.HasPrefix(pgErr.Code, code) {
				return true
			}
		}
		return false
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return mysqlUnavailable[myErr.Number]
	}
	var liteErr *gosqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() & 0xff {
		case sqliteBusy, sqliteLocked, sqliteIOErr, sqliteFull, sqliteCantOpen:
			return true
		}
		return false
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"connection refused", "database is locked", "database is closed",
		"bad connection", "broken pipe", "connection reset", "no such host", "i/o timeout"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
