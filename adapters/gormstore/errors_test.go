package gormstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"gorm.io/gorm"
	gosqlite "modernc.org/sqlite"

	"github.com/agentauri/apikeys/core/apikey"
)

// outcome is the domain error translate should make of a driver error.
type outcome int

const (
	opaque      outcome = iota // none: an internal error (500)
	unavailable                // apikey.ErrUnavailable (503)
	conflict                   // apikey.ErrConflict (409)
)

func (o outcome) String() string {
	return [...]string{"opaque", "unavailable", "conflict"}[o]
}

// outcomeOf returns what translate made of err.
func outcomeOf(err error) outcome {
	switch {
	case errors.Is(err, apikey.ErrUnavailable):
		return unavailable
	case errors.Is(err, apikey.ErrConflict):
		return conflict
	}
	return opaque
}

// lossCase is one way a database connection fails: how to make the driver
// produce its error, and what translate must make of it.
type lossCase struct {
	name string
	make func(t *testing.T) error
	want outcome
}

// value wraps an error value built the way the driver builds it (an
// exported sentinel or struct the driver returns as is).
func value(err error) func(*testing.T) error { return func(*testing.T) error { return err } }

// TestTranslateConnectionLoss drives each driver into the failures a lost
// or refused database connection causes — fake servers that close, reset
// or stall the link at a chosen statement (COMMIT included), send the
// errors a terminated backend or a killed MariaDB connection sends,
// refuse start-up; real SQLite files locked, read-only, moved or full —
// and checks that translate makes every one apikey.ErrUnavailable, and
// that errors which are not outages stay what they are.
func TestTranslateConnectionLoss(t *testing.T) {
	var cases []lossCase
	cases = append(cases, postgresLossCases()...)
	cases = append(cases, mysqlLossCases()...)
	cases = append(cases, sqliteLossCases()...)
	cases = append(cases, genericLossCases()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.make(t)
			if err == nil {
				t.Fatal("the driver reported success")
			}
			got := translate("op", err)
			t.Logf("%s -> %s", errorChain(err), outcomeOf(got))
			if o := outcomeOf(got); o != tc.want {
				t.Errorf("translate(%s) = %v (%s), want %s", errorChain(err), got, o, tc.want)
			}
			if !strings.HasPrefix(got.Error(), "op: ") {
				t.Errorf("translate(%v) = %q, want it prefixed with the operation", err, got)
			}
			if leaked := driverError(got); leaked != "" {
				t.Errorf("translate(%v) lets a driver error through: %s", err, leaked)
			}
		})
	}
}

// driverError names a driver or network error type or sentinel err still
// carries, or returns "".
func driverError(err error) string {
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	var myErr *mysql.MySQLError
	var liteErr *gosqlite.Error
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "" // kept on purpose: it is a net.Error too
	case errors.As(err, &pgErr), errors.As(err, &connectErr), errors.As(err, &myErr),
		errors.As(err, &liteErr), errors.As(err, &netErr):
		return fmt.Sprintf("%T", err)
	case pgconn.SafeToRetry(err), errors.Is(err, pgconn.ErrConnClosed):
		return "pgconn error"
	}
	for _, s := range []error{driver.ErrBadConn, sql.ErrConnDone, io.EOF, io.ErrUnexpectedEOF,
		mysql.ErrInvalidConn, mysql.ErrPktSync, gorm.ErrRecordNotFound, gorm.ErrDuplicatedKey} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return ""
}

// fatal returns a FATAL error response, as a backend sends before it
// exits.
func fatal(code, message string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: message}
}

// pgExec runs stmt on a fresh pgx pool over a fake server running sc.
func pgExec(sc script, pgErr *pgproto3.ErrorResponse, stmt string) func(*testing.T) error {
	return func(t *testing.T) error {
		db := openFakePostgres(t, fakePostgres(t, sc, pgErr, nil).addr())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := db.ExecContext(ctx, stmt)
		return err
	}
}

// pgCommit runs a transaction of one INSERT on a fake server running sc
// and returns the first error: BEGIN's, the INSERT's, else COMMIT's.
func pgCommit(sc script, pgErr *pgproto3.ErrorResponse) func(*testing.T) error {
	return func(t *testing.T) error {
		db := openFakePostgres(t, fakePostgres(t, sc, pgErr, nil).addr())
		return commitOne(t, db)
	}
}

// commitOne runs BEGIN, INSERT, COMMIT on db and returns the first error.
func commitOne(t *testing.T, db *sql.DB) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("BEGIN failed: %v", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func postgresLossCases() []lossCase {
	terminated := fatal("57P01", "terminating connection due to administrator command")
	return []lossCase{
		{"postgres/link closed mid-query", pgExec(failOn("SELECT", closeLink), nil, "SELECT 1"), unavailable},
		{"postgres/link reset mid-query", pgExec(failOn("SELECT", resetLink), nil, "SELECT 1"), unavailable},
		{"postgres/pg_terminate_backend mid-query (FATAL 57P01)", pgExec(failOn("SELECT", sendError), terminated, "SELECT 1"), unavailable},
		{"postgres/immediate shutdown mid-query (FATAL 57P02)", pgExec(failOn("SELECT", sendError),
			fatal("57P02", "terminating connection because of crash of another server process"), "SELECT 1"), unavailable},
		{"postgres/idle-in-transaction timeout (FATAL 25P03)", pgExec(failOn("SELECT", sendError),
			fatal("25P03", "terminating connection due to idle-in-transaction timeout"), "SELECT 1"), unavailable},
		{"postgres/any FATAL ends the session (FATAL XX000)", pgExec(failOn("SELECT", sendError),
			fatal("XX000", "could not open file"), "SELECT 1"), unavailable},
		{"postgres/query timeout while the link stalls", func(t *testing.T) error {
			db := openFakePostgres(t, fakePostgres(t, failOn("SELECT", stall), nil, nil).addr())
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := db.ExecContext(ctx, "SELECT 1")
			return err
		}, unavailable},
		{"postgres/link closed after COMMIT was sent (outcome unknown)", pgCommit(failOn("COMMIT", closeLink), nil), unavailable},
		{"postgres/link reset after COMMIT was sent (outcome unknown)", pgCommit(failOn("COMMIT", resetLink), nil), unavailable},
		{"postgres/backend terminated at COMMIT", pgCommit(failOn("COMMIT", sendError), terminated), unavailable},
		{"postgres/COMMIT on a connection pgx closed (conn closed)", func(t *testing.T) error {
			// The INSERT loses the link; database/sql then commits on
			// the closed pgx connection, which pgx refuses with its
			// "conn closed" lock error, untranslated by the stdlib
			// adapter.
			db := openFakePostgres(t, fakePostgres(t, failOn("INSERT", sendError), terminated, nil).addr())
			ctx := context.Background()
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatalf("BEGIN failed: %v", err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err == nil {
				t.Fatal("INSERT succeeded on a terminated backend")
			}
			return tx.Commit()
		}, unavailable},
		{"postgres/BEGIN on a connection the server reset", func(t *testing.T) error {
			// The pool's one connection dies while idle; BEGIN meets
			// the reset, and every new connection is reset during
			// start-up.
			f := fakePostgres(t, nil, nil, nil)
			db := openFakePostgres(t, f.addr())
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			for _, c := range f.conns {
				reset(c)
			}
			f.mu.Unlock()
			f.ln.Close()
			time.Sleep(50 * time.Millisecond) // let the reset arrive
			_, err := db.BeginTx(context.Background(), nil)
			return err
		}, unavailable},
		{"postgres/connection refused", func(t *testing.T) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			return openFakePostgres(t, addr).Ping()
		}, unavailable},
		{"postgres/connection reset during start-up", func(t *testing.T) error {
			f := startFake(t, func(c net.Conn) { reset(c) })
			return openFakePostgres(t, f.addr()).Ping()
		}, unavailable},
		{"postgres/server starting up or shutting down (57P03 at start-up)", func(t *testing.T) error {
			f := fakePostgres(t, nil, nil, fatal("57P03", "the database system is shutting down"))
			return openFakePostgres(t, f.addr()).Ping()
		}, unavailable},
		{"postgres/too many connections (53300 at start-up)", func(t *testing.T) error {
			f := fakePostgres(t, nil, nil, fatal("53300", "sorry, too many clients already"))
			return openFakePostgres(t, f.addr()).Ping()
		}, unavailable},
		{"postgres/statement_timeout (57014)", value(&pgconn.PgError{Severity: "ERROR", Code: "57014", Message: "canceling statement due to statement timeout"}), unavailable},
		{"postgres/read-only replica (25006)", value(&pgconn.PgError{Severity: "ERROR", Code: "25006", Message: "cannot execute INSERT in a read-only transaction"}), unavailable},
		{"postgres/connection failure (08006)", value(&pgconn.PgError{Severity: "ERROR", Code: "08006", Message: "connection failure"}), unavailable},
		{"postgres/serialization failure is a conflict", value(&pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access"}), conflict},
		{"postgres/unique violation is a conflict", value(&pgconn.PgError{Severity: "ERROR", Code: "23505", Message: "duplicate key value violates unique constraint"}), conflict},
		{"postgres/syntax error is internal", pgExec(failOn("SELECT", sendError),
			&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "42601", Message: "syntax error"}, "SELECT 1"), opaque},
		{"postgres/invalid byte sequence is internal", value(&pgconn.PgError{Severity: "ERROR", Code: "22021", Message: "invalid byte sequence for encoding \"UTF8\": 0x00"}), opaque},
	}
}

// myExec runs stmt on a fresh go-sql-driver/mysql pool over a fake server
// running sc.
func myExec(sc script, errPacket []byte, stmt string) func(*testing.T) error {
	return func(t *testing.T) error {
		db := openFakeMySQL(t, fakeMySQL(t, sc, errPacket, nil).addr(), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := db.ExecContext(ctx, stmt)
		return err
	}
}

func mysqlLossCases() []lossCase {
	killed := myError(1927, "70100", "Connection was killed")
	return []lossCase{
		{"mysql/link closed mid-query (invalid connection)", myExec(failOn("SELECT", closeLink), nil, "SELECT 1"), unavailable},
		{"mysql/link reset mid-query", myExec(failOn("SELECT", resetLink), nil, "SELECT 1"), unavailable},
		{"mysql/KILL of the connection mid-query (MariaDB 1927)", myExec(failOn("SELECT", sendError), killed, "SELECT 1"), unavailable},
		{"mysql/KILL QUERY (1317)", myExec(failOn("SELECT", sendError), myError(1317, "70100", "Query execution was interrupted"), "SELECT 1"), unavailable},
		{"mysql/server shutdown in progress (1053)", myExec(failOn("SELECT", sendError), myError(1053, "08S01", "Server shutdown in progress"), "SELECT 1"), unavailable},
		{"mysql/answer out of sequence (commands out of sync)", myExec(failOn("SELECT", outOfSync), nil, "SELECT 1"), unavailable},
		{"mysql/query timeout while the link stalls", func(t *testing.T) error {
			db := openFakeMySQL(t, fakeMySQL(t, failOn("SELECT", stall), nil, nil).addr(), nil)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := db.ExecContext(ctx, "SELECT 1")
			return err
		}, unavailable},
		{"mysql/link closed after COMMIT was sent (outcome unknown)", func(t *testing.T) error {
			return commitOne(t, openFakeMySQL(t, fakeMySQL(t, failOn("COMMIT", closeLink), nil, nil).addr(), nil))
		}, unavailable},
		{"mysql/KILL at COMMIT", func(t *testing.T) error {
			return commitOne(t, openFakeMySQL(t, fakeMySQL(t, failOn("COMMIT", sendError), killed, nil).addr(), nil))
		}, unavailable},
		{"mysql/COMMIT on a connection the driver closed", func(t *testing.T) error {
			db := openFakeMySQL(t, fakeMySQL(t, failOn("INSERT", closeLink), nil, nil).addr(), nil)
			ctx := context.Background()
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatalf("BEGIN failed: %v", err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err == nil {
				t.Fatal("INSERT succeeded on a closed link")
			}
			return tx.Commit()
		}, unavailable},
		{"mysql/connection refused", func(t *testing.T) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			return openFakeMySQL(t, addr, nil).Ping()
		}, unavailable},
		{"mysql/link lost before anything was written (bad connection)", func(t *testing.T) error {
			f := fakeMySQL(t, nil, nil, nil)
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &closingConn{Conn: c}, nil
			}
			return openFakeMySQL(t, f.addr(), dial).Ping()
		}, unavailable},
		{"mysql/too many connections (1040 at connect)", func(t *testing.T) error {
			f := fakeMySQL(t, nil, nil, myError(1040, "08004", "Too many connections"))
			return openFakeMySQL(t, f.addr(), nil).Ping()
		}, unavailable},
		{"mysql/busy buffer", value(mysql.ErrBusyBuffer), unavailable},
		{"mysql/commands out of sync in a multi-packet answer", value(mysql.ErrPktSyncMul), unavailable},
		{"mysql/malformed packet", value(mysql.ErrMalformPkt), unavailable},
		{"mysql/lock wait timeout (1205)", value(&mysql.MySQLError{Number: 1205, SQLState: [5]byte{'H', 'Y', '0', '0', '0'}, Message: "Lock wait timeout exceeded; try restarting transaction"}), unavailable},
		{"mysql/read-only (1290)", value(&mysql.MySQLError{Number: 1290, SQLState: [5]byte{'H', 'Y', '0', '0', '0'}, Message: "The MariaDB server is running with the --read-only option so it cannot execute this statement"}), unavailable},
		{"mysql/deadlock is a conflict", value(&mysql.MySQLError{Number: 1213, SQLState: [5]byte{'4', '0', '0', '0', '1'}, Message: "Deadlock found when trying to get lock"}), conflict},
		{"mysql/duplicate entry is a conflict", myExec(failOn("SELECT", sendError), myError(1062, "23000", "Duplicate entry 'x' for key 'lookup'"), "SELECT 1"), conflict},
		{"mysql/data too long is internal", value(&mysql.MySQLError{Number: 1406, SQLState: [5]byte{'2', '2', '0', '0', '1'}, Message: "Data too long for column 'name' at row 1"}), opaque},
		{"mysql/packet too large is internal", value(mysql.ErrPktTooLarge), opaque},
	}
}

// sqliteOpen opens a SQLite file with the store's driver and DSN rules.
func sqliteOpen(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	full, _, err := sqliteDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", full)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS t (v BLOB UNIQUE)"); err != nil && !strings.Contains(dsn, "mode=ro") {
		t.Fatal(err)
	}
	return db
}

func sqliteLossCases() []lossCase {
	return []lossCase{
		{"sqlite/file locked by another process (SQLITE_BUSY)", func(t *testing.T) error {
			file := filepath.Join(t.TempDir(), "a.db")
			holder := sqliteOpen(t, file)
			conn, err := holder.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
				t.Fatal(err)
			}
			defer conn.ExecContext(context.Background(), "ROLLBACK")
			_, err = sqliteOpen(t, file+"?_pragma=busy_timeout(0)").Exec("INSERT INTO t VALUES (1)")
			return err
		}, unavailable},
		{"sqlite/read-only file (SQLITE_READONLY)", func(t *testing.T) error {
			file := filepath.Join(t.TempDir(), "ro.db")
			sqliteOpen(t, file).Close()
			_, err := sqliteOpen(t, "file:"+file+"?mode=ro").Exec("INSERT INTO t VALUES (1)")
			return err
		}, unavailable},
		{"sqlite/file cannot be opened (SQLITE_CANTOPEN)", func(t *testing.T) error {
			full, _, err := sqliteDSN("file:" + filepath.Join(t.TempDir(), "missing.db") + "?mode=rw")
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", full)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			return db.Ping()
		}, unavailable},
		{"sqlite/disk full (SQLITE_FULL)", func(t *testing.T) error {
			db := sqliteOpen(t, filepath.Join(t.TempDir(), "full.db"))
			db.SetMaxOpenConns(1)
			if _, err := db.Exec("PRAGMA max_page_count = 8"); err != nil {
				t.Fatal(err)
			}
			_, err := db.Exec("INSERT INTO t VALUES (randomblob(100000))")
			return err
		}, unavailable},
		{"sqlite/closed pool (sql: database is closed)", func(t *testing.T) error {
			db := sqliteOpen(t, filepath.Join(t.TempDir(), "closed.db"))
			db.Close()
			_, err := db.Exec("INSERT INTO t VALUES (1)")
			return err
		}, unavailable},
		{"sqlite/unique constraint is a conflict", func(t *testing.T) error {
			db := sqliteOpen(t, filepath.Join(t.TempDir(), "u.db"))
			if _, err := db.Exec("INSERT INTO t VALUES (1)"); err != nil {
				t.Fatal(err)
			}
			_, err := db.Exec("INSERT INTO t VALUES (1)")
			return err
		}, conflict},
		{"sqlite/syntax error is internal", func(t *testing.T) error {
			_, err := sqliteOpen(t, filepath.Join(t.TempDir(), "s.db")).Exec("INSERT INTO")
			return err
		}, opaque},
	}
}

func genericLossCases() []lossCase {
	return []lossCase{
		{"database/sql/bad connection after retries", value(driver.ErrBadConn), unavailable},
		{"database/sql/connection already returned", value(sql.ErrConnDone), unavailable},
		{"net/EOF mid-conversation", value(io.EOF), unavailable},
		{"net/broken pipe on write", value(&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}), unavailable},
		{"net/connection reset on read", value(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), unavailable},
		{"net/reset wrapped in a syscall error only", value(os.NewSyscallError("read", syscall.ECONNRESET)), unavailable},
		{"net/host unreachable", value(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}), unavailable},
		{"net/unknown host", value(&net.DNSError{Err: "no such host", Name: "db.invalid", IsNotFound: true}), unavailable},
		{"context/deadline", value(fmt.Errorf("query: %w", context.DeadlineExceeded)), unavailable},
		{"gorm/second error joined to a lost connection", func(*testing.T) error {
			// GORM keeps only the last error's type when a statement
			// fails twice (AddError joins them with "%v; %w").
			db := &gorm.DB{Config: &gorm.Config{}}
			db.AddError(mysql.ErrInvalidConn)
			db.AddError(errors.New("rows: close failed"))
			return db.Error
		}, unavailable},
		{"plain error is internal", value(errors.New("decode scopes of key key_1: invalid character")), opaque},
		{"gorm/invalid transaction is internal", value(gorm.ErrInvalidTransaction), opaque},
	}
}
