// Package gormstore is the GORM implementation of ports.KeyStore and
// ports.AuditStore for SQLite, PostgreSQL and MySQL/MariaDB.
//
// The schema is managed with goose SQL migrations embedded in the binary
// (one folder per dialect), never with GORM AutoMigrate. Every time is
// written and returned in UTC, truncated to microseconds, so values
// round-trip exactly on all three databases. No GORM or driver error leaves
// the package: failures become apikey.ErrNotFound, apikey.ErrConflict,
// apikey.ErrUnavailable or an opaque wrapped error.
package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/libtnb/sqlite"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// The supported values of Config.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
	DriverMySQL    = "mysql"
)

// Config says which database to open and how to pool its connections.
// Zero pool values pick defaults suited to the driver.
type Config struct {
	Driver          string // sqlite, postgres or mysql
	DSN             string // driver-specific data source name
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	ConnMaxIdleTime time.Duration
	// QueryTimeout bounds each method on the request path — key reads and
	// writes, AppendUsage, ListEvents, InvalidatedSince, Ping — including
	// the wait for a connection, so that an unreachable or stalled database
	// yields apikey.ErrUnavailable promptly instead of holding the caller.
	// Migrations, ReadChains and PurgeBefore, which may rightly take long,
	// are bounded by their caller's context only. Zero means no bound.
	QueryTimeout time.Duration
	Logger       *slog.Logger // optional; slow queries are logged without their values
	// ChainKey keys the hash chain the store writes its audit events
	// into (see audit.ChainKey): at least audit.MinChainKeyLen bytes, kept
	// out of the database. Without it the store can read and migrate but
	// not write events, and not purge or seal chains.
	ChainKey []byte
	// PreviousChainKeys are keys chains were written with before ChainKey
	// replaced them: a purge seals the anchors of those chains with them.
	PreviousChainKeys [][]byte
}

// Store is the GORM-backed key and audit store. It is safe for concurrent
// use.
type Store struct {
	driver string
	db     *gorm.DB
	sqlDB  *sql.DB
	log    *slog.Logger

	// prepared runs its statements from statements prepared on each
	// connection, for the key reads of the verification path. Without it
	// every read is parsed and planned anew: on SQLite, in this process,
	// that was a fifth of the CPU of a verification that misses the cache.
	prepared *gorm.DB

	// queryTimeout bounds each store method; zero: unbounded.
	queryTimeout time.Duration

	// newLockDB opens a pool apart from the main one to hold the
	// migration lock (Postgres and MySQL); nil for SQLite.
	newLockDB func() *sql.DB

	// writeSem serializes write transactions on SQLite, which allows one
	// writer at a time; nil for the other databases.
	writeSem chan struct{}

	// chain is the hash chain of the audit events this store writes.
	chain *chain
	// chainKeys are the store's chain keys: the current one keys its
	// chain; any of them seals the anchors of the chains it keyed.
	chainKeys audit.ChainKeys

	queries queryCounter
}

var (
	_ ports.KeyStore   = (*Store)(nil)
	_ ports.AuditStore = (*Store)(nil)
)

// Open connects to the database described by cfg, checks that it answers
// and returns a Store. It does not migrate: call Migrate for that. A
// database that cannot be reached yields an error wrapping
// apikey.ErrUnavailable.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{driver: cfg.Driver, log: log, queryTimeout: cfg.QueryTimeout}
	if len(cfg.ChainKey) > 0 {
		keys, err := audit.NewChainKeys(cfg.ChainKey, cfg.PreviousChainKeys...)
		if err != nil {
			return nil, fmt.Errorf("gormstore: audit chain key: %w", err)
		}
		s.chainKeys = keys
	} else if len(cfg.PreviousChainKeys) > 0 {
		return nil, errors.New("gormstore: previous audit chain keys without a current one (Config.ChainKey)")
	}
	s.chain = newChain(s.chainKeys.Current())

	var dialector gorm.Dialector
	switch cfg.Driver {
	case DriverSQLite:
		dsn, memory, err := sqliteDSN(cfg.DSN)
		if err != nil {
			return nil, err
		}
		s.sqlDB, err = sql.Open(sqlite.DriverName, dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		if memory {
			// Every connection to an in-memory database sees its own
			// database: keep exactly one.
			cfg.MaxOpenConns, cfg.MaxIdleConns = 1, 1
			cfg.ConnMaxLifetime, cfg.ConnMaxIdleTime = 0, 0
		}
		s.writeSem = make(chan struct{}, 1)
		dialector = &sqlite.Dialector{Conn: s.sqlDB}
	case DriverPostgres:
		var err error
		s.sqlDB, err = sql.Open("pgx", cfg.DSN)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		s.newLockDB = func() *sql.DB {
			db, _ := sql.Open("pgx", cfg.DSN) // the DSN opened above
			return db
		}
		dialector = postgres.New(postgres.Config{Conn: s.sqlDB})
	case DriverMySQL:
		mcfg, err := mysqlConfig(cfg.DSN, log)
		if err != nil {
			return nil, err
		}
		conn, err := mysql.NewConnector(mcfg)
		if err != nil {
			return nil, fmt.Errorf("open mysql: %w", err)
		}
		s.sqlDB = sql.OpenDB(conn)
		s.newLockDB = func() *sql.DB { return sql.OpenDB(conn) }
		dialector = gormmysql.New(gormmysql.Config{Conn: s.sqlDB})
	}
	cfg.applyPool(s.sqlDB)

	if err := s.sqlDB.PingContext(ctx); err != nil {
		s.sqlDB.Close()
		return nil, translate("connect to "+cfg.Driver, err)
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		DisableAutomaticPing:   true,
		Logger:                 newGormLogger(log),
		NowFunc:                func() time.Time { return utc(time.Now()) },
	})
	if err != nil {
		s.sqlDB.Close()
		return nil, translate("open "+cfg.Driver, err)
	}
	if err := countQueries(db, &s.queries); err != nil {
		s.sqlDB.Close()
		return nil, fmt.Errorf("open %s: %w", cfg.Driver, err)
	}
	s.db = db
	s.prepared = db.Session(&gorm.Session{PrepareStmt: true})
	return s, nil
}

func (c Config) validate() error {
	switch c.Driver {
	case DriverSQLite, DriverPostgres, DriverMySQL:
	case "":
		return errors.New("gormstore: no database driver configured (want sqlite, postgres or mysql)")
	default:
		return fmt.Errorf("gormstore: unknown database driver %q (want sqlite, postgres or mysql)", c.Driver)
	}
	if strings.TrimSpace(c.DSN) == "" {
		return fmt.Errorf("gormstore: empty %s DSN", c.Driver)
	}
	if c.MaxOpenConns < 0 || c.MaxIdleConns < 0 || c.ConnMaxLifetime < 0 || c.ConnMaxIdleTime < 0 {
		return errors.New("gormstore: pool settings must not be negative")
	}
	if c.QueryTimeout < 0 {
		return errors.New("gormstore: query timeout must not be negative")
	}
	return nil
}

// applyPool configures db's pool from c, filling zero values with defaults.
func (c Config) applyPool(db *sql.DB) {
	maxOpen, maxIdle := c.MaxOpenConns, c.MaxIdleConns
	lifetime, idleTime := c.ConnMaxLifetime, c.ConnMaxIdleTime
	if maxOpen == 0 {
		maxOpen = 20
		if c.Driver == DriverSQLite {
			maxOpen = 8
		}
	}
	if maxIdle == 0 {
		maxIdle = max(maxOpen/2, 1)
	}
	maxIdle = min(maxIdle, maxOpen)
	if lifetime == 0 && c.Driver != DriverSQLite {
		lifetime = 30 * time.Minute
	}
	if idleTime == 0 && c.Driver != DriverSQLite {
		idleTime = 5 * time.Minute
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxIdle)
	db.SetConnMaxLifetime(lifetime)
	db.SetConnMaxIdleTime(idleTime)
}

// sqlitePragmas are added to a SQLite DSN unless it sets them itself.
// _txlock=immediate makes every transaction take the write lock when it
// begins, so two writers never deadlock upgrading a read lock; the busy
// timeout makes a writer from another process wait instead of failing.
// temp_store=MEMORY keeps statement journals (which every multi-row INSERT
// inside a transaction needs) and sort spills in memory: in a file they
// cost a write system call per page, a sixth of the audit writer's time.
// cache_size(-16384), a page cache of up to 16 MiB per connection instead
// of 2 MiB, holds a whole batch of audit events: with less, SQLite spills
// dirty pages to the WAL in the middle of the transaction and reads them
// back, a tenth of the writer's time.
var sqlitePragmas = []struct{ name, param string }{
	{"busy_timeout", "_pragma=busy_timeout(5000)"},
	{"journal_mode", "_pragma=journal_mode(WAL)"},
	{"foreign_keys", "_pragma=foreign_keys(1)"},
	{"synchronous", "_pragma=synchronous(NORMAL)"},
	{"temp_store", "_pragma=temp_store(MEMORY)"},
	{"cache_size", "_pragma=cache_size(-16384)"},
	{"_txlock", "_txlock=immediate"},
}

// sqliteTimeFormat makes the driver write times as
// "2006-01-02 15:04:05.999999999-07:00", the layout the schema's DATETIME
// columns hold (UTC text that sorts chronologically). The store always sets
// it: the driver's other layouts lose precision or carry Go's monotonic
// clock reading.
const sqliteTimeFormat = "_time_format=sqlite"

// sqliteDSN adds the store's pragmas to dsn, creates the parent directory
// of a database file, and reports whether the database lives in memory.
func sqliteDSN(dsn string) (string, bool, error) {
	path, query, _ := strings.Cut(dsn, "?")
	// A _time_format in dsn gives way to sqliteTimeFormat.
	var kept []string
	for _, p := range strings.Split(query, "&") {
		if p != "" && !strings.HasPrefix(p, "_time_format=") {
			kept = append(kept, p)
		}
	}
	query = strings.Join(kept, "&")
	dsn = path
	if query != "" {
		dsn += "?" + query
	}
	lower := strings.ToLower(query)
	memory := path == ":memory:" || path == "file::memory:" || strings.Contains(lower, "mode=memory")
	params := []string{sqliteTimeFormat}
	for _, p := range sqlitePragmas {
		if !strings.Contains(lower, p.name) {
			params = append(params, p.param)
		}
	}
	if memory {
		// WAL does not apply to an in-memory database.
		params = removeParam(params, "_pragma=journal_mode(WAL)")
	} else if file := sqliteFile(path); file != "" {
		// mode=ro and mode=rw open an existing file only: none is made.
		vals, _ := url.ParseQuery(query)
		mode := strings.ToLower(vals.Get("mode"))
		create := mode == "" || mode == "rwc"
		if err := createPrivate(file, create); err != nil {
			return "", false, err
		}
	}
	sep := "?"
	if query != "" {
		sep = "&"
	}
	return dsn + sep + strings.Join(params, "&"), memory, nil
}

// createPrivate creates the directory of a SQLite database file (0700) and,
// when create is set, the file itself (0600) when they do not exist yet, so that the keys'
// hashes and the audit trail are readable by the service's user only.
// SQLite creates the -wal and -shm files with the database file's
// permissions, so they are 0600 too. Existing files keep theirs.
func createPrivate(file string, create bool) error {
	if dir := filepath.Dir(file); dir != "." && dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create sqlite directory: %w", err)
		}
	}
	if !create {
		return nil
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return fmt.Errorf("create sqlite file: %w", err)
	}
	return f.Close()
}

func removeParam(params []string, p string) []string {
	out := params[:0]
	for _, x := range params {
		if x != p {
			out = append(out, x)
		}
	}
	return out
}

// sqliteFile returns the file system path named by the path part of a
// SQLite DSN ("data/keys.db", "file:data/keys.db", "file:///abs/keys.db").
func sqliteFile(path string) string {
	if rest, ok := strings.CutPrefix(path, "file:"); ok {
		if strings.HasPrefix(rest, "//") {
			rest = strings.TrimPrefix(rest, "//localhost")
			rest = strings.TrimPrefix(rest, "//")
			if !strings.HasPrefix(rest, "/") {
				rest = "/" + rest
			}
		}
		if p, err := url.PathUnescape(rest); err == nil {
			rest = p
		}
		path = rest
	}
	if path == "" || path == ":memory:" {
		return ""
	}
	return path
}

// mysqlConfig parses dsn and forces what the store relies on: parseTime,
// UTC times and the utf8mb4 character set.
func mysqlConfig(dsn string, log *slog.Logger) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse mysql DSN: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	collation := cfg.Collation
	if !strings.HasPrefix(collation, "utf8mb4_") {
		collation = "utf8mb4_unicode_ci"
	}
	if err := cfg.Apply(mysql.Charset("utf8mb4", collation)); err != nil {
		return nil, fmt.Errorf("parse mysql DSN: %w", err)
	}
	cfg.Logger = mysqlLogger{log}
	return cfg, nil
}

// bound limits ctx to the store's query timeout, if it has one.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.queryTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.queryTimeout)
}

// write runs fn in a transaction; on SQLite it first waits its turn as the
// single writer, giving up when ctx ends.
func (s *Store) write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if s.writeSem != nil {
		select {
		case s.writeSem <- struct{}{}:
			defer func() { <-s.writeSem }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.transaction(ctx, fn)
}

// transaction runs fn in a transaction and commits it if fn succeeds, as
// gorm.DB.Transaction does, except that the wait for the COMMIT's answer
// ends with ctx. The MySQL driver's COMMIT takes no context (database/sql
// has none to give it), so a COMMIT whose answer is lost would wait as
// long as TCP does, a quarter of an hour in a partition that drops
// packets, holding the chain's lock and with it every write of the store.
// Past ctx, transaction stops waiting and returns ctx's error (which
// translate makes ErrUnavailable once the query timeout has passed): the
// outcome is unknown, and the write is never reported as a success. The
// driver finishes the COMMIT on its own and then frees the connection.
func (s *Store) transaction(ctx context.Context, fn func(tx *gorm.DB) error, opts ...*sql.TxOptions) error {
	tx := s.db.WithContext(ctx).Begin(opts...)
	if tx.Error != nil {
		return tx.Error
	}
	ended := false
	defer func() {
		if !ended { // fn failed or panicked
			tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	ended = true
	if s.driver != DriverMySQL {
		return tx.Commit().Error
	}
	done := make(chan error, 1)
	go func() { done <- tx.Commit().Error }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("commit: %w", ctx.Err())
	}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return translate("ping", s.sqlDB.PingContext(ctx))
}

// DB returns the GORM handle, for instrumentation and tests.
func (s *Store) DB() *gorm.DB { return s.db }

// SQLDB returns the underlying connection pool.
func (s *Store) SQLDB() *sql.DB { return s.sqlDB }

// Driver returns the name of the database driver: sqlite, postgres or mysql.
func (s *Store) Driver() string { return s.driver }

// Close closes the connection pool.
func (s *Store) Close() error {
	if err := s.sqlDB.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.driver, errors.New(err.Error()))
	}
	return nil
}
