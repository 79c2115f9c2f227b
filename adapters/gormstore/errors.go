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

// SQLite extended result codes of a taken unique value.
const (
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

// isUnavailable reports whether err means the database cannot serve now
// and a later attempt may succeed: the connection was lost, broken or
// refused, or the server is shutting down, overloaded, read-only or past
// a timeout. It is the one place where each driver's failures are sorted
// into outages; translate turns them into apikey.ErrUnavailable (503). A
// write whose connection was lost during COMMIT has an unknown outcome:
// it too is an outage, never a success and never an internal error, and
// the transaction guarantees that it is all there or not there at all.
//
// Errors are recognised by type or sentinel first. Messages are matched
// only for errors that carry no driver error type at all (see
// lostConnectionMessages), which is the case for the drivers' unexported
// errors and for errors GORM has flattened to text.
func isUnavailable(err error) bool {
	if lostConnection(err) || pgUnavailable(err) || mysqlUnavailable(err) || sqliteUnavailable(err) {
		return true
	}
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	var liteErr *gosqlite.Error
	if errors.As(err, &pgErr) || errors.As(err, &myErr) || errors.As(err, &liteErr) {
		return false // the server answered, with something else
	}
	msg := strings.ToLower(err.Error())
	for _, s := range lostConnectionMessages {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// lostConnection reports the driver-independent signs of a connection
// that is gone: database/sql's bad or finished connection, an end of
// stream or short write in the middle of a conversation, and any network
// error (refused, reset, broken pipe, unreachable, timeout, closed
// socket, failed DNS lookup).
func lostConnection(err error) bool {
	for _, target := range []error{
		driver.ErrBadConn,   // database/sql: the driver gave the connection up
		sql.ErrConnDone,     // database/sql: the connection was already returned
		io.EOF,              // the server closed the stream
		io.ErrUnexpectedEOF, // ... in the middle of a message (pgx, mysql)
		io.ErrShortWrite,    // mysql: a packet only partly written
		net.ErrClosed,       // the socket was closed under the driver
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// pgUnavailableCodes lists SQLSTATEs (or classes, two characters) that
// mean the PostgreSQL server cannot serve now.
var pgUnavailableCodes = []string{
	"08",    // connection exception (08000, 08003, 08006, 08001, 08004, 08P01)
	"53",    // insufficient resources (too many connections, disk full, out of memory)
	"57P01", // admin_shutdown: smart/fast shutdown, pg_terminate_backend
	"57P02", // crash_shutdown: another backend crashed, or immediate shutdown
	"57P03", // cannot_connect_now: starting up, shutting down, in recovery
	"57P04", // database_dropped
	"57P05", // idle_session_timeout
	"25P03", // idle_in_transaction_session_timeout
	"57014", // query_canceled (statement_timeout)
	"55P03", // lock_not_available (lock_timeout)
	"25006", // read_only_sql_transaction (a replica after failover)
}

// pgUnavailable reports pgx's signs of an outage:
//   - pgconn.ErrConnClosed, the "conn closed" lock error: a statement was
//     started on a connection pgx had already closed. It is also what pgx
//     reports when the link fails while it waits for the answer to a
//     statement sent by the simple protocol, which BEGIN, COMMIT and
//     ROLLBACK always are: the failed read closes the connection and the
//     next read of the same answer meets the closed connection. So a
//     "conn closed" from COMMIT means the outcome is unknown, although
//     pgconn.SafeToRetry says true; the store never retries on it.
//   - pgconn.SafeToRetry: pgx says nothing reached the server (a closed,
//     busy or uninitialised connection, a failed first write).
//   - pgconn.Timeout: a read or write deadline, or the context's.
//   - *pgconn.ConnectError: no connection could be made (refused, reset
//     during start-up, start-up refused by the server, authentication or
//     database refused).
//   - a server error of severity FATAL or PANIC, which always ends the
//     session (pgx closes the connection on it), or one of
//     pgUnavailableCodes.
func pgUnavailable(err error) bool {
	if errors.Is(err, pgconn.ErrConnClosed) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	severity := pgErr.SeverityUnlocalized
	if severity == "" {
		severity = pgErr.Severity
	}
	if severity == "FATAL" || severity == "PANIC" {
		return true
	}
	for _, code := range pgUnavailableCodes {
		if strings.HasPrefix(pgErr.Code, code) {
			return true
		}
	}
	return false
}

// mysqlConnErrors are go-sql-driver/mysql's errors for a connection that
// is lost or out of step with the server; the driver closes the
// connection after each.
var mysqlConnErrors = []error{
	mysql.ErrInvalidConn, // a read failed (the server closed or reset the link), or the conn was already closed
	mysql.ErrPktSync,     // a packet out of sequence
	mysql.ErrPktSyncMul,  // ... in a multi-packet message
	mysql.ErrBusyBuffer,  // the buffer still holds an unread result
	mysql.ErrMalformPkt,  // a packet that cannot be parsed
}

// mysqlUnavailableCodes lists MySQL/MariaDB error numbers that mean the
// server cannot serve now.
var mysqlUnavailableCodes = map[uint16]bool{
	1040: true, // ER_CON_COUNT_ERROR: too many connections
	1203: true, // ER_TOO_MANY_USER_CONNECTIONS: max_user_connections
	1044: true, // ER_DBACCESS_DENIED_ERROR: refused at connect, as pgx's ConnectError
	1045: true, // ER_ACCESS_DENIED_ERROR: refused at connect
	1049: true, // ER_BAD_DB_ERROR: the database is missing at connect
	1129: true, // ER_HOST_IS_BLOCKED: too many failed connects from this host
	1130: true, // ER_HOST_NOT_PRIVILEGED: refused at connect
	1053: true, // ER_SERVER_SHUTDOWN: shutdown in progress
	1158: true, // ER_NET_READ_ERROR: the server failed to read from the link
	1159: true, // ER_NET_READ_INTERRUPTED: ... timed out
	1160: true, // ER_NET_ERROR_ON_WRITE: the server failed to write to the link
	1161: true, // ER_NET_WRITE_INTERRUPTED: ... timed out
	1205: true, // ER_LOCK_WAIT_TIMEOUT
	1290: true, // ER_OPTION_PREVENTS_STATEMENT: running with --read-only
	1792: true, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
	1836: true, // ER_READ_ONLY_MODE
	1317: true, // ER_QUERY_INTERRUPTED: KILL QUERY, or KILL of a running statement
	1927: true, // ER_CONNECTION_KILLED (MariaDB): KILL of the connection
	1969: true, // ER_STATEMENT_TIMEOUT (MariaDB): max_statement_time
	3024: true, // ER_QUERY_TIMEOUT (MySQL): max_execution_time
	4031: true, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8): disconnected for inactivity
}

// mysqlUnavailable reports go-sql-driver/mysql's signs of an outage. Its
// unexported "bad connection" error (nothing was written before the link
// failed) has no type to check: lostConnectionMessages has its text.
func mysqlUnavailable(err error) bool {
	for _, target := range mysqlConnErrors {
		if errors.Is(err, target) {
			return true
		}
	}
	var myErr *mysql.MySQLError
	return errors.As(err, &myErr) && mysqlUnavailableCodes[myErr.Number]
}

// SQLite primary result codes (the low byte of an extended code).
const (
	sqliteBusy      = 5  // another connection holds the lock past busy_timeout
	sqliteLocked    = 6  // a table lock held by another statement of the process
	sqliteNoMem     = 7  // out of memory
	sqliteReadOnly  = 8  // the file, its directory or journal is read-only, or was moved
	sqliteInterrupt = 9  // interrupted: the driver does so when the context ends
	sqliteIOErr     = 10 // a read, write, fsync or lock of the file failed
	sqliteFull      = 13 // the disk is full
	sqliteCantOpen  = 14 // the file cannot be opened
	sqliteProtocol  = 15 // a file-locking protocol race
)

// sqliteUnavailable reports SQLite results that mean the database file
// cannot be used now.
func sqliteUnavailable(err error) bool {
	var liteErr *gosqlite.Error
	if !errors.As(err, &liteErr) {
		return false
	}
	switch liteErr.Code() & 0xff {
	case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteReadOnly, sqliteInterrupt,
		sqliteIOErr, sqliteFull, sqliteCantOpen, sqliteProtocol:
		return true
	}
	return false
}

// lostConnectionMessages are the texts of connection failures that reach
// the store without a type to check:
//   - "bad connection": go-sql-driver/mysql's unexported errBadConnNoWrite
//     (the link failed before anything was written), which escapes from
//     paths that do not turn it into driver.ErrBadConn (connect, statement
//     close);
//   - "database is closed": database/sql's unexported errDBClosed;
//   - the rest: the messages of the typed errors above, for an error GORM
//     has flattened to text (AddError joins a second error to the first
//     with "%v; %w", keeping only the second's type).
//
// They are matched only in errors that hold no driver error type.
var lostConnectionMessages = []string{
	"bad connection", "database is closed", "conn closed", "invalid connection",
	"commands out of sync", "busy buffer", "malformed packet",
	"connection refused", "connection reset", "broken pipe", "unexpected eof",
	"i/o timeout", "no such host", "database is locked",
}
