package gormstore

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
)

func TestTranslate(t *testing.T) {
	type want int
	const (
		none want = iota
		notFound
		conflict
		unavailable
		canceled
		revoked
	)
	cases := []struct {
		name string
		err  error
		want want
	}{
		{"record not found", gorm.ErrRecordNotFound, notFound},
		{"no rows", fmt.Errorf("scan: %w", sql.ErrNoRows), notFound},
		{"gorm duplicate", gorm.ErrDuplicatedKey, conflict},
		{"pg unique", &pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"}, conflict},
		{"pg unique wrapped by the gorm translator", fmt.Errorf("%w: %w", gorm.ErrDuplicatedKey, &pgconn.PgError{Code: "23505"}), conflict},
		{"pg serialization failure", &pgconn.PgError{Code: "40001"}, conflict},
		{"pg deadlock", &pgconn.PgError{Code: "40P01"}, conflict},
		{"mysql duplicate", &mysql.MySQLError{Number: 1062, Message: "Duplicate entry 'abc' for key 'lookup'"}, conflict},
		{"mysql deadlock", &mysql.MySQLError{Number: 1213}, conflict},
		{"sqlite unique text", errors.New("constraint failed: UNIQUE constraint failed: api_keys.lookup (2067)"), conflict},
		{"bad conn", driver.ErrBadConn, unavailable},
		{"conn done", sql.ErrConnDone, unavailable},
		{"mysql invalid conn", mysql.ErrInvalidConn, unavailable},
		{"eof", io.EOF, unavailable},
		{"unexpected eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), unavailable},
		{"dial refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, unavailable},
		{"refused text", errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"), unavailable},
		{"sqlite locked text", errors.New("database is locked (5) (SQLITE_BUSY)"), unavailable},
		{"closed pool", errors.New("sql: database is closed"), unavailable},
		{"pg admin shutdown", &pgconn.PgError{Code: "57P01"}, unavailable},
		{"pg too many connections", &pgconn.PgError{Code: "53300"}, unavailable},
		{"pg connection failure", &pgconn.PgError{Code: "08006"}, unavailable},
		{"mysql too many connections", &mysql.MySQLError{Number: 1040}, unavailable},
		{"mysql lock wait timeout", &mysql.MySQLError{Number: 1205}, unavailable},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), unavailable},
		{"canceled", fmt.Errorf("query: %w", context.Canceled), canceled},
		{"pg syntax error", &pgconn.PgError{Code: "42601", Message: "syntax error"}, none},
		{"mysql data too long", &mysql.MySQLError{Number: 1406, Message: "Data too long for column 'name'"}, none},
		{"plain", errors.New("something odd"), none},
		{"domain error passes", fmt.Errorf("rotate key: %w", apikey.ErrRevoked), revoked},
	}
	sentinels := map[want]error{notFound: apikey.ErrNotFound, conflict: apikey.ErrConflict, unavailable: apikey.ErrUnavailable, revoked: apikey.ErrRevoked}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := translate("get key", tc.err)
			if got == nil {
				t.Fatal("translate returned nil")
			}
			for w, s := range sentinels {
				if errors.Is(got, s) != (w == tc.want) {
					t.Errorf("translate(%v) = %v: errors.Is(%v) = %v", tc.err, got, s, errors.Is(got, s))
				}
			}
			if errors.Is(got, context.Canceled) != (tc.want == canceled) {
				t.Errorf("translate(%v) = %v: errors.Is(context.Canceled) = %v", tc.err, got, errors.Is(got, context.Canceled))
			}
			if tc.want != revoked && !strings.HasPrefix(got.Error(), "get key: ") {
				t.Errorf("translate(%v) = %q, want it prefixed with the operation", tc.err, got)
			}
			var pgErr *pgconn.PgError
			var myErr *mysql.MySQLError
			var opErr *net.OpError
			if errors.As(got, &pgErr) || errors.As(got, &myErr) || errors.As(got, &opErr) ||
				errors.Is(got, gorm.ErrRecordNotFound) || errors.Is(got, gorm.ErrDuplicatedKey) ||
				errors.Is(got, sql.ErrNoRows) || errors.Is(got, driver.ErrBadConn) || errors.Is(got, io.EOF) {
				t.Errorf("translate(%v) = %v lets a driver error through", tc.err, got)
			}
			if strings.Contains(got.Error(), "Duplicate entry") {
				t.Errorf("translate(%v) = %q quotes the duplicate value", tc.err, got)
			}
		})
	}
	if translate("op", nil) != nil {
		t.Error("translate(nil) != nil")
	}
}

func TestSQLiteDSN(t *testing.T) {
	dir := t.TempDir()
	nested := filepath.Join(dir, "a", "b", "keys.db")
	cases := []struct {
		in         string
		memory     bool
		contains   []string
		notContain []string
	}{
		{in: nested, contains: []string{nested + "?", "busy_timeout(5000)", "journal_mode(WAL)", "foreign_keys(1)", "_txlock=immediate", "_time_format=sqlite"}},
		{in: "file:" + filepath.Join(dir, "c", "keys.db") + "?cache=private", contains: []string{"?cache=private&", "busy_timeout(5000)"}},
		{in: filepath.Join(dir, "d.db") + "?_pragma=busy_timeout(100)&_time_format=datetime", contains: []string{"busy_timeout(100)", "_txlock=immediate", "_time_format=sqlite"}, notContain: []string{"busy_timeout(5000)", "_time_format=datetime"}},
		{in: ":memory:", memory: true, contains: []string{"busy_timeout(5000)"}, notContain: []string{"journal_mode"}},
		{in: "file:mem1?mode=memory&cache=shared", memory: true, notContain: []string{"journal_mode"}},
	}
	for _, tc := range cases {
		got, memory, err := sqliteDSN(tc.in)
		if err != nil {
			t.Fatalf("sqliteDSN(%q): %v", tc.in, err)
		}
		if memory != tc.memory {
			t.Errorf("sqliteDSN(%q): memory = %v, want %v", tc.in, memory, tc.memory)
		}
		for _, s := range tc.contains {
			if !strings.Contains(got, s) {
				t.Errorf("sqliteDSN(%q) = %q, want it to contain %q", tc.in, got, s)
			}
		}
		for _, s := range tc.notContain {
			if strings.Contains(got, s) {
				t.Errorf("sqliteDSN(%q) = %q, want no %q", tc.in, got, s)
			}
		}
	}
	for _, d := range []string{filepath.Dir(nested), filepath.Join(dir, "c")} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("directory %s not created: %v", d, err)
		}
	}
	if f := sqliteFile("file:///var/lib/apikeys/keys%20v1.db"); f != "/var/lib/apikeys/keys v1.db" {
		t.Errorf("sqliteFile(file URI) = %q", f)
	}
}

func TestMySQLConfig(t *testing.T) {
	cfg, err := mysqlConfig("app:secret@tcp(db:3306)/keys?parseTime=false&loc=Local&charset=latin1", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ParseTime || cfg.Loc != time.UTC {
		t.Errorf("parseTime %v, loc %v; want true, UTC", cfg.ParseTime, cfg.Loc)
	}
	dsn := cfg.FormatDSN()
	if !strings.Contains(dsn, "charset=utf8mb4") || strings.Contains(dsn, "latin1") || !strings.Contains(dsn, "collation=utf8mb4_") {
		t.Errorf("DSN %q, want charset utf8mb4 and a utf8mb4 collation", dsn)
	}
	if cfg.DBName != "keys" || cfg.User != "app" || cfg.Addr != "db:3306" {
		t.Errorf("DSN lost its target: %+v", cfg)
	}
	cfg, err = mysqlConfig("root@tcp(127.0.0.1:3306)/test?collation=utf8mb4_bin", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Collation != "utf8mb4_bin" {
		t.Errorf("collation %q, want the DSN's utf8mb4_bin kept", cfg.Collation)
	}
	if _, err := mysqlConfig("not a dsn", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("mysqlConfig accepted a malformed DSN")
	}
}

func TestClean(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"curl/8.5.0", 512, "curl/8.5.0"},
		{"héllo", 2, "hé"},
		{"😀😀😀", 2, "😀😀"},
		{"ab\xffcd", 10, "ab\uFFFDcd"},
		{"a\x00b", 10, "a\uFFFDb"},
		{"e\u0301e\u0301", 3, "e\u0301e"},
		{"", 5, ""},
	}
	for _, tc := range cases {
		got := clean(tc.in, tc.n)
		if got != tc.want {
			t.Errorf("clean(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > tc.n {
			t.Errorf("clean(%q, %d) = %q: invalid or too long", tc.in, tc.n, got)
		}
	}
	long := strings.Repeat("日本", 400)
	if got := clean(long, maxUserAgent); utf8.RuneCountInString(got) != maxUserAgent || !strings.HasPrefix(long, got) {
		t.Errorf("clean of 800 runes: %d runes, prefix %v", utf8.RuneCountInString(got), strings.HasPrefix(long, got))
	}
}

// TestLoggerHidesValues logs every statement and checks that no value
// (hash, lookup digest, name) reaches the log, while the SQL does.
func TestLoggerHidesValues(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	const chainKey = "internal-test-chain-key-0123456789abcdef"
	s, err := Open(ctx, Config{Driver: DriverSQLite, DSN: filepath.Join(t.TempDir(), "k.db"), Logger: log, ChainKey: []byte(chainKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s.db.Logger = gormLogger{log: log, slow: 0} // log everything
	now := time.Now()
	k := apikey.Key{
		ID: "key_logtest", OrganizationID: "org_1", Name: "secret-name-value",
		Environment: apikey.EnvTest, Hash: "$argon2id$v=19$SECRETHASH", Lookup: strings.Repeat("ab", 32),
		CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	ev := audit.Event{ID: "evt_logtest", Time: now, OrganizationID: "org_1", Action: audit.ActionKeyCreated, KeyID: k.ID}
	if err := s.CreateKey(ctx, k, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindByLookup(ctx, k.Lookup); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "INSERT INTO") || !strings.Contains(out, "lookup") {
		t.Fatalf("statements not logged at a zero threshold:\n%s", out)
	}
	for _, secret := range []string{k.Hash, k.Lookup, k.Name, "SECRETHASH", chainKey, s.chain.key.ID()} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains the value %q:\n%s", secret, out)
		}
	}
}

func TestDistinct(t *testing.T) {
	ids := func(rows []eventRow) string {
		var b strings.Builder
		for _, r := range rows {
			b.WriteString(r.ID)
		}
		return b.String()
	}
	rowsOf := func(s string) []eventRow {
		var rows []eventRow
		for _, c := range s {
			rows = append(rows, eventRow{ID: string(c)})
		}
		return rows
	}
	for in, want := range map[string]string{"": "", "a": "a", "abc": "abc", "aba": "ab", "aabbc": "abc", "abcb": "abc", "abcabc": "abc"} {
		rows := rowsOf(in)
		got := distinct(rows)
		if ids(got) != want {
			t.Errorf("distinct(%q) = %q, want %q", in, ids(got), want)
		}
		if ids(rows) != in {
			t.Errorf("distinct(%q) changed its argument to %q", in, ids(rows))
		}
	}
}

// TestUsageEventActor checks that the store refuses a usage event whose
// actor is not its key's: ListEvents finds usage events by actor through
// their key, and would miss such an event.
func TestUsageEventActor(t *testing.T) {
	for _, tc := range []struct {
		action     audit.Action
		actor, key string
		ok         bool
	}{
		{audit.ActionKeyUsed, "key:key_a", "key_a", true},
		{audit.ActionKeyAuthFailed, "key:key_a", "key_a", true},
		{audit.ActionKeyAuthFailed, "anonymous", "", true},
		{audit.ActionKeyUsed, "key:key_b", "key_a", false},
		{audit.ActionKeyUsed, "user:alice", "key_a", false},
		{audit.ActionKeyAuthFailed, "anonymous", "key_a", false},
		{audit.ActionKeyAuthFailed, "key:", "", false},
		{audit.ActionKeyRevoked, "key:key_b", "key_a", true}, // a key managing another
		{audit.ActionKeyCreated, "user:alice", "key_a", true},
	} {
		_, err := toEventRow(audit.Event{ID: "evt_x", Time: time.Now(), Action: tc.action, Actor: tc.actor, KeyID: tc.key})
		if (err == nil) != tc.ok {
			t.Errorf("%s by %q about %q: error %v, want ok=%v", tc.action, tc.actor, tc.key, err, tc.ok)
		}
	}
}
