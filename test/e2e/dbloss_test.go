package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
	"github.com/agentauri/apikeys/test/faultproxy"
)

// dblossDuration is how long TestDatabaseLossUnderLoad keeps taking each
// database away; APIKEYS_TEST_DBLOSS_DURATION (a Go duration) overrides
// it for longer runs by hand.
const dblossDuration = 20 * time.Second

// dblossClients is how many clients run requests at once.
const dblossClients = 6

// dblossOrg is the organization the test's keys belong to.
const dblossOrg = "org_dbloss"

// TestDatabaseLossUnderLoad takes the database away from a running server,
// again and again, while concurrent clients create, verify, read, rotate,
// list and revoke keys and read the audit log:
//
//   - Postgres: pg_terminate_backend and pg_cancel_backend on every
//     connection of the test database, and the fault proxy cutting every
//     link (mid-statement, mid-transaction, mid-COMMIT, wherever each
//     request happens to be) or stalling them past the query timeout;
//   - MySQL/MariaDB: KILL and KILL QUERY on every connection of the test
//     database, and the same cuts and stalls;
//   - SQLite: another process holding the file's write lock (past the
//     busy timeout, SQLITE_BUSY; reads go on).
//
// The shared database servers themselves are never stopped.
//
// No request may answer 500 or any 5xx but 503; every 503 carries
// Retry-After and the service_unavailable envelope and nothing internal;
// every other answer is the one the request gets with a healthy database.
// A 500 fails the test with the request and the server's log lines for
// it. Afterwards the database is read directly: every key has exactly one
// key.created event, its version, rotated_at and revoked_at match its
// key.rotated and key.revoked events and vice versa, no event names a key
// that does not exist, every write the server acknowledged is there, and
// the audit hash chains verify. Writes answered 503 that took effect all
// the same (their COMMIT's answer was lost) are counted and logged.
func TestDatabaseLossUnderLoad(t *testing.T) {
	duration := dblossDuration
	if v := os.Getenv("APIKEYS_TEST_DBLOSS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("APIKEYS_TEST_DBLOSS_DURATION: %v", err)
		}
		duration = d
	}
	forEachDatabase(t, func(t *testing.T, e env) {
		runDatabaseLoss(t, e, duration)
	})
}

func runDatabaseLoss(t *testing.T, e env, duration time.Duration) {
	served := e
	dir := t.TempDir()
	extra := []string{"APIKEYS_STORAGE_QUERY_TIMEOUT=" + outageQueryTimeout.String(), "APIKEYS_LOG_LEVEL=info"}
	var proxy *faultproxy.Proxy
	if e.driver == "sqlite" {
		// A busy timeout below the query timeout: a write that finds the
		// file locked fails with SQLITE_BUSY as well as by the timeout.
		extra = append(extra, "APIKEYS_STORAGE_DSN="+filepath.Join(dir, "apikeys.db")+"?_pragma=busy_timeout(250)")
	} else {
		proxy, served.dsn = faultproxy.StartDSN(t, e.driver, e.dsn)
	}
	s := startIn(t, served, dir, extra...)
	// The database as the test sees it, without the proxy: for the
	// faults and the final checks. One connection, so that killing every
	// other connection of the database never kills the test's own.
	admin := openStore(t, e, s)
	admin.SQLDB().SetMaxOpenConns(1)
	faults := databaseFaults(t, e, proxy, admin.SQLDB())

	rec := newLossRecorder(proxyAddr(proxy))
	tok := s.token("user_dbloss", dblossOrg)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * dblossClients}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range dblossClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &lossClient{base: s.base, http: client, tok: tok, rec: rec}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				c.cycle(fmt.Sprintf("dbloss-%d-%d", w, n), n%2 == 0)
			}
		}()
	}

	applied := map[string]int{}
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
		f := pickFault(faults)
		if err := f.apply(); err != nil {
			t.Errorf("fault %s: %v", f.name, err)
		}
		applied[f.name]++
	}
	close(stop)
	wg.Wait()
	if proxy != nil {
		proxy.Restore()
	}

	eventually(t, 15*time.Second, "readyz is 200 again once the faults stop", func() bool {
		return s.do("GET", "/readyz", "").status == 200
	})
	r := s.do("POST", "/api/v1/api-keys", `{"name":"after","organization_id":"`+dblossOrg+`","scopes":["events:read"]}`, jsonBearer(tok)...)
	want(t, r, 201)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", r.json(t)["key"].(string)), 200)

	rec.report(t, e.driver, applied, s.logs())
	checkConsistency(t, admin, rec)
	if out, err := runCLI(t, s.env, "audit", "verify"); err != nil || !strings.Contains(out, "no problems found") {
		t.Errorf("audit verify after the outages: %v\n%s", err, out)
	}
	// The server's own account: no request anywhere ended in a 500 or a
	// panic, including those the clients above did not make.
	for _, line := range strings.Split(s.logs(), "\n") {
		if strings.Contains(line, `"msg":"panic"`) || strings.Contains(line, `"status":500`) || strings.Contains(line, `"msg":"internal error"`) {
			t.Errorf("server log: %s", line)
		}
	}
}

func proxyAddr(p *faultproxy.Proxy) string {
	if p == nil {
		return ""
	}
	return p.Addr()
}

// dbFault is one way of taking the database away; apply does it and, for
// faults that last, undoes it.
type dbFault struct {
	name   string
	weight int
	apply  func() error
}

func pickFault(faults []dbFault) dbFault {
	total := 0
	for _, f := range faults {
		total += f.weight
	}
	n := rand.IntN(total)
	for _, f := range faults {
		if n < f.weight {
			return f
		}
		n -= f.weight
	}
	return faults[len(faults)-1]
}

// databaseFaults lists the faults for e's database. admin is a direct
// connection to it, never one of the server's.
func databaseFaults(t *testing.T, e env, proxy *faultproxy.Proxy, admin *sql.DB) []dbFault {
	ctx := context.Background()
	hold := func(min, max time.Duration) time.Duration {
		return min + time.Duration(rand.Int64N(int64(max-min)))
	}
	var faults []dbFault
	if proxy != nil {
		faults = append(faults,
			dbFault{"proxy cut", 35, func() error {
				proxy.Cut()
				time.Sleep(hold(time.Millisecond, 300*time.Millisecond))
				proxy.Restore()
				return nil
			}},
			dbFault{"proxy stall", 10, func() error {
				proxy.Stall()
				time.Sleep(hold(200*time.Millisecond, 1500*time.Millisecond))
				proxy.Restore()
				return nil
			}})
	}
	switch e.driver {
	case "postgres":
		others := ` FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`
		faults = append(faults,
			dbFault{"pg_terminate_backend", 40, func() error {
				_, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend(pid)`+others)
				return err
			}},
			dbFault{"pg_cancel_backend", 15, func() error {
				_, err := admin.ExecContext(ctx, `SELECT pg_cancel_backend(pid)`+others)
				return err
			}})
	case "mysql":
		kill := func(what string) func() error {
			return func() error {
				rows, err := admin.QueryContext(ctx,
					`SELECT id FROM information_schema.PROCESSLIST WHERE db = DATABASE() AND id <> CONNECTION_ID()`)
				if err != nil {
					return err
				}
				var ids []int64
				for rows.Next() {
					var id int64
					if err := rows.Scan(&id); err != nil {
						rows.Close()
						return err
					}
					ids = append(ids, id)
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
				for _, id := range ids {
					// A connection may end on its own before its KILL.
					if _, err := admin.ExecContext(ctx, fmt.Sprintf("KILL %s %d", what, id)); err != nil && !strings.Contains(err.Error(), "Unknown thread id") {
						return err
					}
				}
				return nil
			}
		}
		faults = append(faults,
			dbFault{"KILL CONNECTION", 40, kill("CONNECTION")},
			dbFault{"KILL QUERY", 15, kill("QUERY")})
	case "sqlite":
		// Another process holding the write lock: every write waits
		// for it up to the busy timeout; reads go on (WAL).
		faults = append(faults, dbFault{"write lock held by another process", 1, func() error {
			conn, err := admin.Conn(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
				return err
			}
			time.Sleep(hold(50*time.Millisecond, 800*time.Millisecond))
			_, err = conn.ExecContext(ctx, "ROLLBACK")
			return err
		}})
	}
	if len(faults) == 0 {
		t.Fatalf("no faults for %s", e.driver)
	}
	return faults
}

// lossClient runs one client's requests and reports every answer to rec.
type lossClient struct {
	base string
	http *http.Client
	tok  string
	rec  *lossRecorder
}

// cycle creates a key named name and takes it through verify, get,
// rotate, verify again, list, usage, audit log and, if revoke, a
// revocation, stopping at a create that fails. Every request may answer
// 503; every other answer must be what a healthy database gives.
func (c *lossClient) cycle(name string, revoke bool) {
	auth := []string{"Authorization", "Bearer " + c.tok}
	r := c.do("create", "POST", "/api/v1/api-keys",
		`{"name":"`+name+`","organization_id":"`+dblossOrg+`","scopes":["events:read"]}`,
		append(auth, "Content-Type", "application/json"), 201)
	if r.status != 201 {
		c.rec.unsure(name, "create")
		return
	}
	var created struct{ ID, Key string }
	if err := json.Unmarshal(r.body, &created); err != nil || created.ID == "" || created.Key == "" {
		c.rec.violation(fmt.Sprintf("create %s: 201 without id and key: %s", name, r.body))
		return
	}
	id, key := created.ID, created.Key
	c.rec.acked(id, name, "create")
	c.do("verify", "GET", "/api/v1/auth/verify", "", []string{"X-API-Key", key}, 200)
	c.do("get", "GET", "/api/v1/api-keys/"+id, "", auth, 200)
	if r := c.do("rotate", "POST", "/api/v1/api-keys/"+id+"/rotate", "", auth, 200); r.status == 200 {
		var rotated struct{ Key string }
		if err := json.Unmarshal(r.body, &rotated); err != nil || rotated.Key == "" {
			c.rec.violation(fmt.Sprintf("rotate %s: 200 without key: %s", id, r.body))
			return
		}
		c.rec.acked(id, name, "rotate")
		c.do("verify rotated-away key", "GET", "/api/v1/auth/verify", "", []string{"X-API-Key", key}, 401)
		key = rotated.Key
		c.do("verify", "GET", "/api/v1/auth/verify", "", []string{"X-API-Key", key}, 200)
	} else {
		c.rec.unsure(id, "rotate")
	}
	c.do("list", "GET", "/api/v1/api-keys?limit=5", "", auth, 200)
	c.do("usage", "GET", "/api/v1/api-keys/"+id+"/usage?limit=5", "", auth, 200)
	c.do("audit log", "GET", "/api/v1/audit-logs?limit=5&key_id="+id, "", auth, 200)
	if !revoke {
		return
	}
	if r := c.do("revoke", "DELETE", "/api/v1/api-keys/"+id, "", auth, 204); r.status == 204 {
		c.rec.acked(id, name, "revoke")
		c.do("verify revoked key", "GET", "/api/v1/auth/verify", "", []string{"X-API-Key", key}, 401)
	} else {
		c.rec.unsure(id, "revoke")
	}
}

// do sends a request and checks its answer: the status ok, or a proper
// 503. A transport error or any other answer is a violation.
func (c *lossClient) do(op, method, path, body string, headers []string, ok int) response {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.rec.violation(fmt.Sprintf("%s %s: %v", method, path, err))
		return response{}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	began := time.Now()
	resp, err := c.http.Do(req)
	took := time.Since(began)
	if err != nil {
		c.rec.violation(fmt.Sprintf("%s %s: %v after %s", method, path, err, took.Round(time.Millisecond)))
		return response{}
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	if err := checkContract(req, []byte(body), resp.StatusCode, resp.Header, b); err != nil {
		c.rec.violation(fmt.Sprintf("%s %s: outside api/openapi.yaml: %v", method, path, err))
	}
	c.rec.answer(op, method, path, r, took, ok)
	return r
}

// lossRecorder gathers the answers of every client.
type lossRecorder struct {
	proxyAddr string

	mu         sync.Mutex
	statuses   map[string]map[int]int // op -> status -> count
	slowest    time.Duration
	violations []string
	badIDs     []string // request ids of the violating answers
	// The client's view of its writes: acknowledged (2xx) and unsure
	// (503: the write may or may not have happened).
	ackedCreate  map[string]string // key id -> name
	ackedRotate  map[string]int    // key id -> rotations acknowledged
	ackedRevoke  map[string]bool
	unsureCreate map[string]bool // names
	unsureRotate map[string]bool // key ids
	unsureRevoke map[string]bool
}

func newLossRecorder(proxyAddr string) *lossRecorder {
	return &lossRecorder{
		proxyAddr: proxyAddr, statuses: map[string]map[int]int{},
		ackedCreate: map[string]string{}, ackedRotate: map[string]int{}, ackedRevoke: map[string]bool{},
		unsureCreate: map[string]bool{}, unsureRotate: map[string]bool{}, unsureRevoke: map[string]bool{},
	}
}

// answer checks one answer.
func (l *lossRecorder) answer(op, method, path string, r response, took time.Duration, ok int) {
	problem := ""
	switch r.status {
	case ok:
	case http.StatusServiceUnavailable:
		problem = l.unavailableProblem(r)
	default:
		problem = fmt.Sprintf("status %d, want %d or 503: %s", r.status, ok, r.body)
	}
	if took > outageBound {
		problem += fmt.Sprintf(" took %s (query timeout %s)", took.Round(time.Millisecond), outageQueryTimeout)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.statuses[op] == nil {
		l.statuses[op] = map[int]int{}
	}
	l.statuses[op][r.status]++
	l.slowest = max(l.slowest, took)
	if problem != "" {
		id := r.header.Get("X-Request-Id")
		l.violations = append(l.violations, fmt.Sprintf("%s: %s %s (request id %q): %s", op, method, path, id, problem))
		if id != "" {
			l.badIDs = append(l.badIDs, id)
		}
	}
}

// unavailableProblem checks a 503 as checkUnavailable does, returning
// what is wrong with it, or "".
func (l *lossRecorder) unavailableProblem(r response) string {
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
		return fmt.Sprintf("503 with Retry-After %q: %s", r.header.Get("Retry-After"), r.body)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Code != "service_unavailable" || body.Error.Message == "" {
		return fmt.Sprintf("503 without the service_unavailable envelope: %s", r.body)
	}
	if m := internals.FindString(string(r.body)); m != "" || (l.proxyAddr != "" && strings.Contains(string(r.body), l.proxyAddr)) {
		return fmt.Sprintf("503 body reveals internals (%q): %s", m, r.body)
	}
	return ""
}

func (l *lossRecorder) violation(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.violations = append(l.violations, msg)
}

func (l *lossRecorder) acked(id, name, op string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch op {
	case "create":
		l.ackedCreate[id] = name
	case "rotate":
		l.ackedRotate[id]++
	case "revoke":
		l.ackedRevoke[id] = true
	}
}

func (l *lossRecorder) unsure(ref, op string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch op {
	case "create":
		l.unsureCreate[ref] = true
	case "rotate":
		l.unsureRotate[ref] = true
	case "revoke":
		l.unsureRevoke[ref] = true
	}
}

// report logs what the clients saw and fails the test on every
// violation, quoting the server's log lines for the request.
func (l *lossRecorder) report(t *testing.T, driver string, applied map[string]int, logs string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var faults []string
	total := 0
	for name, n := range applied {
		faults = append(faults, fmt.Sprintf("%s ×%d", name, n))
		total += n
	}
	sort.Strings(faults)
	ops := slices.Sorted(maps.Keys(l.statuses))
	requests, unavailable := 0, 0
	var lines []string
	for _, op := range ops {
		var parts []string
		for _, st := range slices.Sorted(maps.Keys(l.statuses[op])) {
			n := l.statuses[op][st]
			parts = append(parts, fmt.Sprintf("%d×%d", st, n))
			requests += n
			if st == http.StatusServiceUnavailable {
				unavailable += n
			}
		}
		lines = append(lines, fmt.Sprintf("  %-24s %s", op, strings.Join(parts, " ")))
	}
	t.Logf("%s: %d faults (%s); %d requests, %d answered 503; slowest %s\n%s", driver, total,
		strings.Join(faults, ", "), requests, unavailable, l.slowest.Round(time.Millisecond), strings.Join(lines, "\n"))
	if total < 10 || unavailable == 0 {
		t.Errorf("the faults never reached the clients (%d faults, %d answers 503): the test proves nothing", total, unavailable)
	}
	t.Logf("%s: causes of the 503s, from the server log:\n%s", driver, unavailableCauses(logs))
	for i, v := range l.violations {
		if i == 20 {
			t.Errorf("... and %d more", len(l.violations)-20)
			break
		}
		t.Error(v)
	}
	for _, id := range l.badIDs[:min(len(l.badIDs), 20)] {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, id) {
				t.Logf("server log for %s: %s", id, line)
			}
		}
	}
}

// unavailableCauses counts the causes the server logged for its 503s,
// with addresses, numbers and ids left out so that alike causes group.
func unavailableCauses(logs string) string {
	counts := map[string]int{}
	for _, line := range strings.Split(logs, "\n") {
		var entry struct{ Msg, Error string }
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Msg != "unavailable" {
			continue
		}
		cause := entry.Error
		if _, after, ok := strings.Cut(cause, "service unavailable: "); ok {
			cause = after
		} else if i := strings.LastIndex(cause, ": "); i >= 0 {
			cause = cause[i+2:]
		}
		cause = variable.ReplaceAllString(cause, "…")
		counts[cause[:min(len(cause), 110)]]++
	}
	causes := slices.SortedFunc(maps.Keys(counts), func(a, b string) int { return counts[b] - counts[a] })
	var b strings.Builder
	for _, c := range causes {
		fmt.Fprintf(&b, "  %5d× %s\n", counts[c], c)
	}
	return b.String()
}

// variable matches the parts of a logged error that differ between
// occurrences of the same cause: addresses, database names, numbers.
var variable = regexp.MustCompile(`[0-9]+(\.[0-9]+)*(:[0-9]+)?|apikeys_test_[0-9a-f]+`)

// checkConsistency reads every key of the test's organization and its
// management events from the database and checks that no write is half
// applied, and that every write the server acknowledged is there.
func checkConsistency(t *testing.T, st interface {
	ListKeys(context.Context, ports.KeyQuery) (ports.KeyPage, error)
	ListEvents(context.Context, ports.AuditQuery) (ports.AuditPage, error)
}, rec *lossRecorder) {
	t.Helper()
	ctx := context.Background()
	keys := map[string]apikey.Key{}
	byName := map[string]string{}
	for q := (ports.KeyQuery{OrganizationIDs: []string{dblossOrg}, IncludeRevoked: true, Limit: 1000}); ; {
		page, err := st.ListKeys(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Keys {
			keys[k.ID] = k
			byName[k.Name] = k.ID
		}
		if page.Next == nil {
			break
		}
		q.After = page.Next
	}
	events := map[string][]audit.Event{} // key id -> its management events
	for q := (ports.AuditQuery{OrganizationIDs: []string{dblossOrg}, Limit: 1000,
		Actions: []audit.Action{audit.ActionKeyCreated, audit.ActionKeyRotated, audit.ActionKeyRevoked}}); ; {
		page, err := st.ListEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Events {
			events[ev.KeyID] = append(events[ev.KeyID], ev)
		}
		if page.Next == nil {
			break
		}
		q.After = page.Next
	}

	problems := 0
	problem := func(format string, args ...any) {
		problems++
		if problems <= 30 {
			t.Errorf(format, args...)
		}
	}
	for id := range events {
		if _, ok := keys[id]; !ok {
			problem("key %s has events %v but does not exist", id, actions(events[id]))
		}
	}
	rotatedLate, revokedLate := 0, 0
	for id, k := range keys {
		count := map[audit.Action]int{}
		var lastRotation, revocation time.Time
		for _, ev := range events[id] {
			count[ev.Action]++
			switch ev.Action {
			case audit.ActionKeyRotated:
				if ev.Time.After(lastRotation) {
					lastRotation = ev.Time
				}
			case audit.ActionKeyRevoked:
				revocation = ev.Time
			}
		}
		created, rotated, revoked := count[audit.ActionKeyCreated], count[audit.ActionKeyRotated], count[audit.ActionKeyRevoked]
		if created != 1 {
			problem("key %s (%s) has %d key.created events, want 1", id, k.Name, created)
		}
		revokedN := 0
		if k.RevokedAt != nil {
			revokedN = 1
		}
		if revoked != revokedN {
			problem("key %s (%s): revoked_at %v but %d key.revoked events", id, k.Name, k.RevokedAt, revoked)
		} else if k.RevokedAt != nil && !k.RevokedAt.Equal(revocation) {
			problem("key %s (%s): revoked_at %s but its key.revoked event at %s", id, k.Name, k.RevokedAt, revocation)
		}
		if want := int64(1 + rotated + revoked); k.Version != want {
			problem("key %s (%s): version %d but %d key.rotated and %d key.revoked events (want version %d)", id, k.Name, k.Version, rotated, revoked, want)
		}
		switch {
		case rotated == 0 && k.RotatedAt != nil:
			problem("key %s (%s): rotated_at %s but no key.rotated event", id, k.Name, k.RotatedAt)
		case rotated > 0 && (k.RotatedAt == nil || !k.RotatedAt.Equal(lastRotation)):
			problem("key %s (%s): rotated_at %v but its last key.rotated event at %s", id, k.Name, k.RotatedAt, lastRotation)
		}
		if n := rec.ackedRotate[id]; rotated < n {
			problem("key %s (%s): %d rotations answered 200 but %d stored", id, k.Name, n, rotated)
		} else if rotated > n && rec.unsureRotate[id] {
			rotatedLate++
		}
		if rec.ackedRevoke[id] && k.RevokedAt == nil {
			problem("key %s (%s): revocation answered 204 but the key is not revoked", id, k.Name)
		} else if k.RevokedAt != nil && !rec.ackedRevoke[id] && rec.unsureRevoke[id] {
			revokedLate++
		}
	}
	for id, name := range rec.ackedCreate {
		if _, ok := keys[id]; !ok {
			problem("key %s (%s) was answered 201 but is not stored", id, name)
		}
	}
	createdLate := 0
	for name := range rec.unsureCreate {
		if _, ok := byName[name]; ok {
			createdLate++
		}
	}
	if problems > 30 {
		t.Errorf("... %d problems in all", problems)
	}
	t.Logf("consistency: %d keys, %d management events checked; writes answered 503 that took effect all the same: %d of %d creates, %d of %d rotations, %d of %d revocations",
		len(keys), countEvents(events), createdLate, len(rec.unsureCreate), rotatedLate, len(rec.unsureRotate), revokedLate, len(rec.unsureRevoke))
}

func actions(evs []audit.Event) []audit.Action {
	out := make([]audit.Action, len(evs))
	for i, ev := range evs {
		out[i] = ev.Action
	}
	return out
}

func countEvents(m map[string][]audit.Event) int {
	n := 0
	for _, evs := range m {
		n += len(evs)
	}
	return n
}
