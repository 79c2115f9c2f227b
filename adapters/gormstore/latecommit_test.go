package gormstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
	"github.com/agentauri/apikeys/test/dbtest"
)

// TestLateCommit loses the answer to a COMMIT the way a network partition
// does: the COMMIT is held up on its way to the server while the store
// gives up waiting, reports the write unavailable and goes on, and then
// reaches the server, which commits it, while the store's next write is
// under way. The store must report the first write as unavailable (its
// outcome is unknown: neither a success nor an internal error), must not
// answer the next one with a conflict because it read the chain's head
// before the late commit landed, and must leave both writes whole and
// the audit chain intact.
func TestLateCommit(t *testing.T) {
	for _, driver := range []string{gormstore.DriverPostgres, gormstore.DriverMySQL} {
		t.Run(driver, func(t *testing.T) {
			dbtest.Require(t, driver)
			dsn := dbtest.DSN(t, driver)
			ctx := context.Background()
			admin, err := gormstore.Open(ctx, dbtest.Config(driver, dsn))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { admin.Close() })
			if err := admin.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			h := startCommitHolder(t, dbAddr(t, driver, dsn))
			s, err := gormstore.Open(ctx, dbtest.Config(driver, withAddr(t, driver, dsn, h.addr())))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })

			now := time.Now()
			k1, ev1 := testKey("key_late_1", lookupOf(1), now)
			if err := s.CreateKey(ctx, k1, ev1); err != nil {
				t.Fatal(err)
			}

			// The COMMIT of k2 is held back: the store gives up on it.
			h.arm()
			k2, ev2 := testKey("key_late_2", lookupOf(2), now)
			short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			first := make(chan error, 1)
			go func() { first <- s.CreateKey(short, k2, ev2) }()
			select {
			case err = <-first:
			case <-time.After(10 * time.Second):
				t.Fatal("CreateKey whose COMMIT got no answer is still waiting for it, 10s after its context ended")
			}
			if !h.caught() {
				t.Fatal("no COMMIT went through the holder")
			}
			if !errors.Is(err, apikey.ErrUnavailable) {
				t.Fatalf("CreateKey whose COMMIT got no answer: %v, want ErrUnavailable", err)
			}

			// The next write starts while that transaction is still open
			// on the server (it holds the chain's registry row), and the
			// held COMMIT lands while it waits.
			k3, ev3 := testKey("key_late_3", lookupOf(3), now)
			done := make(chan error, 1)
			go func() { done <- s.CreateKey(ctx, k3, ev3) }()
			waited := waitForLockWait(t, driver, admin.SQLDB(), done)
			h.release()
			if waited {
				select {
				case err = <-done:
				case <-time.After(30 * time.Second):
					t.Fatal("CreateKey after a late COMMIT did not return")
				}
			}
			if err != nil {
				t.Fatalf("CreateKey after a late COMMIT: %v", err)
			}

			// The late COMMIT took effect: k2 is whole, with its event.
			for _, k := range []apikey.Key{k1, k2, k3} {
				if _, err := admin.GetKey(ctx, k.ID); err != nil {
					t.Errorf("GetKey(%s): %v", k.ID, err)
				}
			}
			page, err := admin.ListEvents(ctx, ports.AuditQuery{OrganizationIDs: []string{k1.OrganizationID}, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Events) != 3 {
				t.Errorf("%d events stored, want the 3 key.created", len(page.Events))
			}
			checkChains(t, admin)
		})
	}
}

// checkChains verifies every audit chain of st.
func checkChains(t *testing.T, st *gormstore.Store) {
	t.Helper()
	ctx := context.Background()
	err := st.ReadChains(ctx, func(sn ports.ChainSnapshot) error {
		chains, err := sn.Chains(ctx)
		if err != nil {
			return err
		}
		for _, c := range chains {
			v := audit.NewChainVerifier(c, dbtest.ChainKeys())
			for rec, err := range sn.Records(ctx, c.ID, c.AnchorSeq) {
				if err != nil {
					return err
				}
				v.Add(rec)
			}
			if res := v.Finish(); !res.OK() {
				t.Errorf("chain %s: %v", c.ID, res.Problems)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitForLockWait waits until a session of the database waits for a row
// lock, and reports true; or until the write whose result done carries
// ends, and reports false with that result put back.
func waitForLockWait(t *testing.T, driver string, db *sql.DB, done chan error) bool {
	t.Helper()
	query := `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`
	if driver == gormstore.DriverMySQL {
		// MariaDB does not always list a wait for a row lock read by
		// primary key in INNODB_TRX, and shows it in the process list as
		// "Statistics": look for a statement still running after a
		// second, which nothing here takes unless it waits.
		query = `SELECT count(*) FROM information_schema.PROCESSLIST
			WHERE db = DATABASE() AND id <> CONNECTION_ID() AND command <> 'Sleep' AND time >= 1`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err
			return false
		default:
		}
		var n int
		if err := db.QueryRow(query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return true
		}
		if time.Now().After(deadline) {
			t.Fatalf("the next write neither ended nor waited for the open transaction's lock; sessions:\n%s", sessions(t, driver, db))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sessions describes the database's sessions, for a failure message.
func sessions(t *testing.T, driver string, db *sql.DB) string {
	query := `SELECT pid::text, state, coalesce(wait_event_type, '') || ' ' || coalesce(wait_event, ''), left(query, 80) FROM pg_stat_activity WHERE datname = current_database()`
	if driver == gormstore.DriverMySQL {
		query = `SELECT CAST(id AS CHAR), COALESCE(command, ''), COALESCE(state, ''), LEFT(COALESCE(info, ''), 80) FROM information_schema.PROCESSLIST WHERE db = DATABASE()`
	}
	rows, err := db.Query(query)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var a, c, d, e string
		if err := rows.Scan(&a, &c, &d, &e); err != nil {
			return err.Error()
		}
		fmt.Fprintf(&b, "%s | %s | %s | %s\n", a, c, d, e)
	}
	return b.String()
}

// dbAddr returns the host:port a DSN connects to.
func dbAddr(t *testing.T, driver, dsn string) string {
	t.Helper()
	if driver == gormstore.DriverMySQL {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Addr
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Skipf("the commit holder needs a URL-form Postgres DSN: %v", err)
	}
	return u.Host
}

// withAddr returns dsn connecting to addr instead.
func withAddr(t *testing.T, driver, dsn, addr string) string {
	t.Helper()
	if driver == gormstore.DriverMySQL {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Addr = addr
		return cfg.FormatDSN()
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// commitHolder is a TCP proxy that, once armed, holds back the first
// chunk a client sends that carries a COMMIT, and everything after it on
// that link, until released: a COMMIT held up in the network. The
// server's answers pass freely.
type commitHolder struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	armed   bool
	hit     bool
	gate    chan struct{} // closed by release
	wg      sync.WaitGroup
	conns   []net.Conn
	stopped bool
}

func startCommitHolder(t *testing.T, target string) *commitHolder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &commitHolder{ln: ln, target: target, gate: make(chan struct{})}
	h.wg.Add(1)
	go h.accept()
	t.Cleanup(func() {
		h.release()
		ln.Close()
		h.mu.Lock()
		h.stopped = true
		for _, c := range h.conns {
			c.Close()
		}
		h.mu.Unlock()
		h.wg.Wait()
	})
	return h
}

func (h *commitHolder) addr() string { return h.ln.Addr().String() }

// arm makes the holder catch the next COMMIT.
func (h *commitHolder) arm() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed = true
}

// caught reports whether a COMMIT has been caught.
func (h *commitHolder) caught() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hit
}

// release lets the held COMMIT, and what followed it, through.
func (h *commitHolder) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.gate:
	default:
		close(h.gate)
	}
}

func (h *commitHolder) track(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		c.Close()
		return false
	}
	h.conns = append(h.conns, c)
	return true
}

func (h *commitHolder) accept() {
	defer h.wg.Done()
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", h.target)
		if err != nil {
			c.Close()
			continue
		}
		if !h.track(c) || !h.track(up) {
			c.Close()
			up.Close()
			return
		}
		h.wg.Add(2)
		go func() { defer h.wg.Done(); h.forward(up, c, true) }()
		go func() { defer h.wg.Done(); h.forward(c, up, false) }()
	}
}

// forward copies src to dst; from the client (inspect), a chunk with a
// COMMIT is held back when the holder is armed.
func (h *commitHolder) forward(dst, src net.Conn, inspect bool) {
	defer dst.Close()
	buf := make([]byte, 64<<10)
	holding := false
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if inspect && !holding {
				h.mu.Lock()
				if h.armed && bytes.Contains(bytes.ToUpper(buf[:n]), []byte("COMMIT")) {
					h.armed, h.hit, holding = false, true, true
				}
				h.mu.Unlock()
			}
			if holding {
				<-h.gate
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if holding && errors.Is(err, io.EOF) {
				<-h.gate // the client hung up: the server learns it after the COMMIT
			}
			return
		}
	}
}
