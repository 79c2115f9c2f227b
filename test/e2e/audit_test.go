package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
	"github.com/agentauri/apikeys/test/dbtest"
	"github.com/agentauri/apikeys/test/faultproxy"
)

// auditLog follows every page of GET path (an audit-log URL with its
// query) and returns the events, newest first.
func (s *server) auditLog(path string, headers ...string) []map[string]any {
	s.t.Helper()
	var out []map[string]any
	next := ""
	for page := 0; ; page++ {
		p := path
		if next != "" {
			sep := "?"
			if strings.Contains(p, "?") {
				sep = "&"
			}
			p += sep + "cursor=" + url.QueryEscape(next)
		}
		r := s.do("GET", p, "", headers...)
		want(s.t, r, 200)
		body := r.json(s.t)
		for _, ev := range body["data"].([]any) {
			out = append(out, ev.(map[string]any))
		}
		c, ok := body["next_cursor"].(string)
		if !ok {
			if body["next_cursor"] != nil {
				s.t.Fatalf("next_cursor %v", body["next_cursor"])
			}
			return out
		}
		if page > 1000 {
			s.t.Fatal("audit-log pagination does not end")
		}
		next = c
	}
}

// requestIDs returns the client request ids (the X-Request-Id the test
// sent) of events with action.
func requestIDs(evs []map[string]any, action string) []string {
	var out []string
	for _, ev := range evs {
		if ev["action"] == action {
			id, _ := ev["client_request_id"].(string)
			out = append(out, id)
		}
	}
	return out
}

// findEvent returns the one event matching all fields, failing otherwise.
func findEvent(t *testing.T, evs []map[string]any, fields map[string]any) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, ev := range evs {
		match := true
		for k, v := range fields {
			if ev[k] != v {
				match = false
				break
			}
		}
		if match {
			found = append(found, ev)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d events match %v, want 1; events:\n%v", len(found), fields, evs)
	}
	return found[0]
}

// wantFields checks fields of an event.
func wantFields(t *testing.T, what string, ev map[string]any, fields map[string]any) {
	t.Helper()
	for k, v := range fields {
		if ev[k] != v {
			t.Errorf("%s: %s = %#v, want %#v (event %v)", what, k, ev[k], v, ev)
		}
	}
}

func createKey(t *testing.T, s *server, tok, body string) (id, secret string) {
	t.Helper()
	r := s.do("POST", "/api/v1/api-keys", body, jsonBearer(tok)...)
	want(t, r, 201)
	return r.json(t)["id"].(string), r.json(t)["key"].(string)
}

// TestAuditTrail records every kind of event through the API and reads
// them back through GET /api/v1/audit-logs and /api-keys/{id}/usage: each
// with its facts, filters, pages, and another organization seeing none.
func TestAuditTrail(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		other := s.token("user_2", "org_456")
		ua := []string{"User-Agent", "e2e-audit/1"}
		began := time.Now().Add(-time.Second)

		expires := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
		r := s.do("POST", "/api/v1/api-keys",
			`{"name":"Webhook","organization_id":"org_123","scopes":["events:read","triggers:read"],"environment":"live","expires_at":"`+expires+`"}`,
			append(jsonBearer(tok), append(ua, "X-Request-ID", "e2e-create-1")...)...)
		want(t, r, 201)
		id, secret := r.json(t)["id"].(string), r.json(t)["key"].(string)
		adminID, admin := createKey(t, s, tok, `{"name":"admin","organization_id":"org_123","scopes":["api-keys:manage"]}`)
		revID, rev := createKey(t, s, tok, `{"name":"to revoke","organization_id":"org_123","scopes":["events:read"]}`)
		shortAt := time.Now()
		shortID, short := createKey(t, s, tok, `{"name":"short","organization_id":"org_123","scopes":["events:read"],"expires_at":"`+
			shortAt.Add(2*time.Second).UTC().Format(time.RFC3339Nano)+`"}`)

		// Uses and failures. X-Forwarded-For and X-Original-* come from a
		// peer that is not a trusted proxy: they must be ignored.
		want(t, s.do("GET", "/api/v1/auth/verify?scope=events:read", "", append(ua, "X-API-Key", secret, "X-Request-ID", "e2e-ok-1",
			"X-Original-URI", "/v1/events?token=not-for-the-log", "X-Original-Method", "POST", "X-Forwarded-For", "6.6.6.6")...), 200)
		want(t, s.do("GET", "/api/v1/auth/verify?scope=api-keys:manage", "", "X-API-Key", secret, "X-Request-ID", "e2e-scope-1"), 403)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", "sk_test_"+strings.Repeat("Q", 32), "X-Request-ID", "e2e-unknown-1"), 401)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", otherLast(secret), "X-Request-ID", "e2e-checksum-1"), 401)
		want(t, s.do("GET", "/api/v1/api-keys", "", "X-API-Key", admin, "X-Request-ID", "e2e-manage-1"), 200)
		want(t, s.do("POST", "/api/v1/api-keys/"+id+"/rotate", "", append(bearer(tok), "X-Request-ID", "e2e-rotate-1")...), 200)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret, "X-Request-ID", "e2e-rotated-1"), 401)
		want(t, s.do("DELETE", "/api/v1/api-keys/"+revID, "", append(bearer(tok), "X-Request-ID", "e2e-revoke-1")...), 204)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", rev, "X-Request-ID", "e2e-revoked-1"), 401)
		time.Sleep(time.Until(shortAt.Add(2100 * time.Millisecond)))
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", short, "X-Request-ID", "e2e-expired-1"), 401)

		var evs []map[string]any
		eventually(t, 5*time.Second, "every use is listed", func() bool {
			evs = s.auditLog("/api/v1/audit-logs?limit=200", bearer(tok)...)
			return slices.Contains(requestIDs(evs, "key.auth_failed"), "e2e-expired-1")
		})
		for i, ev := range evs {
			if ev["organization_id"] != "org_123" {
				t.Errorf("event of another organization listed: %v", ev)
			}
			ts := parseTime(t, ev["time"])
			if !strings.HasSuffix(ev["time"].(string), "Z") || ts.Before(began) || ts.After(time.Now().Add(time.Second)) {
				t.Errorf("time %v", ev["time"])
			}
			if i > 0 && ts.After(parseTime(t, evs[i-1]["time"])) {
				t.Errorf("events not newest first at %d", i)
			}
			if !strings.HasPrefix(ev["id"].(string), "evt_") {
				t.Errorf("id %v", ev["id"])
			}
		}

		created := findEvent(t, evs, map[string]any{"action": "key.created", "key_id": id})
		// A management event records a change, not a verification: its
		// outcome is null, as docs/audit.md says.
		wantFields(t, "key.created", created, map[string]any{"actor": "user:user_1", "client_request_id": "e2e-create-1", "outcome": nil,
			"method": "POST", "path": "/api/v1/api-keys", "client_ip": "127.0.0.1", "user_agent": "e2e-audit/1"})
		d, _ := created["details"].(map[string]any)
		if d["name"] != "Webhook" || d["environment"] != "live" || !slices.Equal(stringsOf(d["scopes"]), []string{"events:read", "triggers:read"}) ||
			!parseTime(t, d["expires_at"]).Equal(parseTime(t, expires)) {
			t.Errorf("key.created details %v", d)
		}
		wantFields(t, "key.used by verify", findEvent(t, evs, map[string]any{"client_request_id": "e2e-ok-1"}), map[string]any{
			"action": "key.used", "actor": "key:" + id, "key_id": id, "method": "GET", "path": "/api/v1/auth/verify",
			"client_ip": "127.0.0.1", "user_agent": "e2e-audit/1", "status": float64(200), "outcome": "ok", "scope": "events:read"})
		wantFields(t, "scope failure", findEvent(t, evs, map[string]any{"client_request_id": "e2e-scope-1"}), map[string]any{
			"action": "key.auth_failed", "key_id": id, "status": float64(403), "outcome": "scope_denied", "scope": "api-keys:manage"})
		wantFields(t, "management by key", findEvent(t, evs, map[string]any{"client_request_id": "e2e-manage-1"}), map[string]any{
			"action": "key.used", "actor": "key:" + adminID, "key_id": adminID, "method": "GET", "path": "/api/v1/api-keys",
			"outcome": "ok", "scope": "api-keys:manage", "status": nil})
		wantFields(t, "rotation", findEvent(t, evs, map[string]any{"client_request_id": "e2e-rotate-1"}), map[string]any{
			"action": "key.rotated", "actor": "user:user_1", "key_id": id, "path": "/api/v1/api-keys/" + id + "/rotate"})
		wantFields(t, "revocation", findEvent(t, evs, map[string]any{"client_request_id": "e2e-revoke-1"}), map[string]any{
			"action": "key.revoked", "actor": "user:user_1", "key_id": revID, "method": "DELETE"})
		wantFields(t, "revoked key", findEvent(t, evs, map[string]any{"client_request_id": "e2e-revoked-1"}), map[string]any{
			"action": "key.auth_failed", "key_id": revID, "outcome": "revoked", "status": float64(401)})
		wantFields(t, "expired key", findEvent(t, evs, map[string]any{"client_request_id": "e2e-expired-1"}), map[string]any{
			"action": "key.auth_failed", "key_id": shortID, "outcome": "expired", "status": float64(401)})
		// A rotated-away secret is attributed to its key (its digest is kept).
		wantFields(t, "rotated-away secret", findEvent(t, evs, map[string]any{"client_request_id": "e2e-rotated-1"}), map[string]any{
			"action": "key.auth_failed", "key_id": id, "actor": "key:" + id, "outcome": "rotated", "status": float64(401), "organization_id": "org_123"})
		// Failures of unidentified keys (unknown, bad checksum) belong to no
		// organization: nobody sees them through the API.
		for _, rid := range []string{"e2e-unknown-1", "e2e-checksum-1"} {
			for _, ev := range evs {
				if ev["client_request_id"] == rid {
					t.Errorf("failure of an unidentified key listed: %v", ev)
				}
			}
		}

		// Filters.
		failures := s.auditLog("/api/v1/audit-logs?action=key.auth_failed&limit=2", bearer(tok)...)
		if len(failures) != 4 || slices.ContainsFunc(failures, func(ev map[string]any) bool { return ev["action"] != "key.auth_failed" }) {
			t.Errorf("action filter: %v", failures)
		}
		byKey := s.auditLog("/api/v1/audit-logs?key_id="+adminID, bearer(tok)...)
		if len(byKey) != 2 { // created, used
			t.Errorf("key_id filter: %v", byKey)
		}
		byActor := s.auditLog("/api/v1/audit-logs?actor="+url.QueryEscape("key:"+adminID), bearer(tok)...)
		if len(byActor) != 1 || byActor[0]["client_request_id"] != "e2e-manage-1" {
			t.Errorf("actor filter: %v", byActor)
		}
		mid := parseTime(t, findEvent(t, evs, map[string]any{"client_request_id": "e2e-rotate-1"})["time"])
		window := s.auditLog("/api/v1/audit-logs?since="+url.QueryEscape(mid.Format(time.RFC3339Nano))+
			"&until="+url.QueryEscape(mid.Add(time.Microsecond).Format(time.RFC3339Nano)), bearer(tok)...)
		if len(window) != 1 || window[0]["client_request_id"] != "e2e-rotate-1" {
			t.Errorf("since/until window: %v", window)
		}
		paged := s.auditLog("/api/v1/audit-logs?limit=1", bearer(tok)...)
		if len(paged) < len(evs) {
			t.Errorf("pages of one: %d events, want at least %d", len(paged), len(evs))
		}
		for q, field := range map[string]string{"action=key.deleted": "action", "since=yesterday": "since",
			"until=2025-01-01": "until", "limit=-1": "limit", "key_id=nope": "key_id", "cursor=%25%25": "cursor"} {
			r := s.do("GET", "/api/v1/audit-logs?"+q, "", bearer(tok)...)
			want(t, r, 400)
			if _, f := r.errorCode(t); f != field {
				t.Errorf("%s: field %q, want %q", q, f, field)
			}
		}

		// One key's uses: key.used and key.auth_failed only.
		usage := s.auditLog("/api/v1/api-keys/"+id+"/usage", "X-API-Key", admin)
		if got := requestIDs(usage, "key.used"); !slices.Equal(got, []string{"e2e-ok-1"}) {
			t.Errorf("usage: key.used %v", got)
		}
		if got := requestIDs(usage, "key.auth_failed"); !slices.Equal(got, []string{"e2e-rotated-1", "e2e-scope-1"}) {
			t.Errorf("usage: key.auth_failed %v, want the rotated-away secret's use and the scope failure", got)
		}
		if len(usage) != 3 {
			t.Errorf("usage lists %d events, want 3: %v", len(usage), usage)
		}

		// Another organization sees nothing of org_123.
		if evs := s.auditLog("/api/v1/audit-logs", bearer(other)...); len(evs) != 0 {
			t.Errorf("org_456 sees %d events", len(evs))
		}
		r = s.do("GET", "/api/v1/audit-logs?organization_id=org_123", "", bearer(other)...)
		want(t, r, 403)
		if code, field := r.errorCode(t); code != "forbidden_organization" || field != "organization_id" {
			t.Errorf("foreign organization_id: %s %s", code, field)
		}
		want(t, s.do("GET", "/api/v1/api-keys/"+id+"/usage", "", bearer(other)...), 404)
		want(t, s.do("GET", "/api/v1/api-keys/key_doesnotexist/usage", "", bearer(tok)...), 404)
		_, noManage := createKey(t, s, tok, `{"name":"reader","organization_id":"org_123","scopes":["events:read"]}`)
		want(t, s.do("GET", "/api/v1/audit-logs", "", "X-API-Key", noManage), 403)

		s.stop()
		out := s.cli("audit", "verify")
		if !strings.Contains(out, "no problems found") {
			t.Errorf("audit verify:\n%s", out)
		}
	})
}

// TestTrustedProxyClientIP runs the server behind a trusted proxy
// (127.0.0.1): the client address it forwards is recorded.
func TestTrustedProxyClientIP(t *testing.T) {
	s := start(t, env{driver: "sqlite"}, "APIKEYS_HTTP_TRUSTED_PROXIES=127.0.0.1")
	tok := s.token("user_1", "org_123")
	_, secret := createKey(t, s, tok, `{"name":"p","organization_id":"org_123","scopes":["events:read"]}`)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret, "X-Request-ID", "e2e-xff", "X-Forwarded-For", "203.0.113.50"), 200)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret, "X-Request-ID", "e2e-xri", "X-Real-IP", "203.0.113.51"), 200)
	eventually(t, 5*time.Second, "both uses listed", func() bool {
		return len(requestIDs(s.auditLog("/api/v1/audit-logs?action=key.used", bearer(tok)...), "key.used")) == 2
	})
	evs := s.auditLog("/api/v1/audit-logs?action=key.used", bearer(tok)...)
	wantFields(t, "X-Forwarded-For", findEvent(t, evs, map[string]any{"client_request_id": "e2e-xff"}), map[string]any{"client_ip": "203.0.113.50"})
	wantFields(t, "X-Real-IP", findEvent(t, evs, map[string]any{"client_request_id": "e2e-xri"}), map[string]any{"client_ip": "203.0.113.51"})

	// The trusted proxy names the original request of a forward-auth
	// check (nginx, then Traefik's headers); a method that is not an RFC
	// 9110 token, or a URI that is not a path, is refused, not recorded.
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret, "X-Request-ID", "e2e-orig",
		"X-Original-Method", "PATCH", "X-Original-URI", "/v1/triggers/7?token=not-for-the-log"), 200)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret, "X-Request-ID", "e2e-fwd",
		"X-Forwarded-Method", "DELETE", "X-Forwarded-Uri", "/v1/events/9"), 200)
	for _, h := range [][]string{{"X-Original-Method", "DELETE /admin"}, {"X-Forwarded-Method", "GET\u00a0"}, {"X-Original-URI", "http://evil/x"},
		{"X-Original-URI", "evil/<script>"}} {
		r := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret, h[0], h[1])
		want(t, r, 400)
		if code, field := r.errorCode(t); code != "invalid_method" && code != "invalid_path" || !strings.EqualFold(field, h[0]) {
			t.Errorf("%s: %q: code %s field %s", h[0], h[1], code, field)
		}
	}
	eventually(t, 5*time.Second, "forwarded uses listed", func() bool {
		return len(requestIDs(s.auditLog("/api/v1/audit-logs?action=key.used", bearer(tok)...), "key.used")) == 4
	})
	evs = s.auditLog("/api/v1/audit-logs?action=key.used", bearer(tok)...)
	wantFields(t, "X-Original-*", findEvent(t, evs, map[string]any{"client_request_id": "e2e-orig"}), map[string]any{"method": "PATCH", "path": "/v1/triggers/7"})
	wantFields(t, "X-Forwarded-*", findEvent(t, evs, map[string]any{"client_request_id": "e2e-fwd"}), map[string]any{"method": "DELETE", "path": "/v1/events/9"})
}

// load sends verifications from several workers until stopped, each with
// a unique X-Request-ID, and remembers which ones got a 2xx.
type load struct {
	mu     sync.Mutex
	ok     []string
	status map[int]int
	errs   int
	stop   context.CancelFunc
	done   sync.WaitGroup
}

func startLoad(t *testing.T, base, secret, prefix string, workers int, pause time.Duration) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{status: map[int]int{}, stop: cancel}
	for w := range workers {
		l.done.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second}
			for i := 0; ctx.Err() == nil; i++ {
				rid := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/auth/verify", nil)
				req.Header.Set("X-API-Key", secret)
				req.Header.Set("X-Request-ID", rid)
				resp, err := client.Do(req)
				if err != nil {
					l.mu.Lock()
					l.errs++
					l.mu.Unlock()
					time.Sleep(5 * time.Millisecond)
					continue
				}
				resp.Body.Close()
				l.mu.Lock()
				l.status[resp.StatusCode]++
				if resp.StatusCode/100 == 2 {
					if resp.Header.Get("X-Client-Request-Id") != rid {
						t.Errorf("client request id %q echoed as %q", rid, resp.Header.Get("X-Client-Request-Id"))
					}
					l.ok = append(l.ok, rid)
				}
				l.mu.Unlock()
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		})
	}
	return l
}

// finish stops the load and returns the request ids answered with a 2xx.
func (l *load) finish() []string {
	l.stop()
	l.done.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ok)
}

func (l *load) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d ok, statuses %v, %d transport errors", len(l.ok), l.status, l.errs)
}

// usedRequestIDs reads, straight from the database, the client request ids of
// every key.used event of key id.
func usedRequestIDs(t *testing.T, st *gormstore.Store, id string) []string {
	t.Helper()
	q := ports.AuditQuery{OrganizationIDs: []string{"org_123"}, KeyID: id, Action: audit.ActionKeyUsed, Limit: 1000}
	var out []string
	for {
		page, err := st.ListEvents(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Events {
			out = append(out, ev.ClientRequestID)
		}
		if page.Next == nil {
			return out
		}
		q.After = page.Next
	}
}

// missing returns the ids of want not in got, and how many ids got holds
// more than once.
func missing(want, got []string) (absent []string, dups int) {
	seen := make(map[string]int, len(got))
	for _, id := range got {
		seen[id]++
		if seen[id] == 2 {
			dups++
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			absent = append(absent, id)
		}
	}
	return absent, dups
}

// TestConcurrentUsesRecordedExactlyOnce sends N verifications at once and
// finds exactly N key.used events, one per request id.
func TestConcurrentUsesRecordedExactlyOnce(t *testing.T) {
	const n, workers = 300, 30
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		id, secret := createKey(t, s, tok, `{"name":"busy","organization_id":"org_123","scopes":["events:read"]}`)
		ids := make(chan string, n)
		for i := range n {
			ids <- fmt.Sprintf("e2e-conc-%03d", i)
		}
		close(ids)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for rid := range ids {
					r := s.do("GET", "/api/v1/auth/verify?scope=events:read", "", "X-API-Key", secret, "X-Request-ID", rid)
					if r.status != 200 {
						t.Errorf("%s: status %d", rid, r.status)
					}
				}
			})
		}
		wg.Wait()
		// Connections the client dialled but never used would hold the
		// server's graceful shutdown for 5 seconds.
		http.DefaultClient.CloseIdleConnections()
		var got []string
		eventually(t, 10*time.Second, "every use is recorded", func() bool {
			got = requestIDs(s.auditLog("/api/v1/api-keys/"+id+"/usage?limit=200", bearer(tok)...), "key.used")
			return len(got) >= n
		})
		var sent []string
		for i := range n {
			sent = append(sent, fmt.Sprintf("e2e-conc-%03d", i))
		}
		absent, dups := missing(sent, got)
		if len(got) != n || len(absent) != 0 || dups != 0 {
			t.Errorf("%d key.used events for %d requests: %d missing, %d duplicated", len(got), n, len(absent), dups)
		}
	})
}

// TestSIGTERMUnderLoadLosesNoUse hammers verify, sends SIGTERM mid-way and
// checks that every request answered 2xx has its key.used event once the
// server has exited.
func TestSIGTERMUnderLoadLosesNoUse(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		id, secret := createKey(t, s, tok, `{"name":"term","organization_id":"org_123","scopes":["events:read"]}`)
		l := startLoad(t, s.base, secret, "e2e-term", 8, 0)
		time.Sleep(time.Second)
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Fatal("server did not exit within 30s of SIGTERM")
		}
		ok := l.finish()
		t.Logf("%s: %s", e.driver, l)
		if len(ok) < 50 {
			t.Fatalf("only %d requests succeeded before SIGTERM; the test proves nothing", len(ok))
		}
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d after SIGTERM", code)
		}
		if strings.Contains(s.logs(), "events not written") {
			t.Errorf("the server lost events on the way out:\n%s", s.logs())
		}
		got := usedRequestIDs(t, openStore(t, e, s), id)
		if absent, dups := missing(ok, got); len(absent) != 0 || dups != 0 {
			t.Errorf("%d of %d successful requests have no key.used event (e.g. %v); %d duplicated", len(absent), len(ok), absent[:min(3, len(absent))], dups)
		}
		if out := s.cli("audit", "verify"); !strings.Contains(out, "no problems found") {
			t.Errorf("audit verify after SIGTERM:\n%s", out)
		}
	})
}

// TestDatabaseOutageLosesNoUse takes the database away for a few seconds
// under load: verifications of a cached key go on, their events wait in
// the queue, and once the database is back every request answered 2xx
// has its event.
func TestDatabaseOutageLosesNoUse(t *testing.T) {
	for _, driver := range networkDrivers {
		t.Run(driver, func(t *testing.T) {
			dsn := dbtest.DSN(t, driver)
			p, proxied := faultproxy.StartDSN(t, driver, dsn)
			e := env{driver: driver, dsn: proxied}
			s := start(t, e, "APIKEYS_STORAGE_QUERY_TIMEOUT=1s")
			tok := s.token("user_1", "org_123")
			id, secret := createKey(t, s, tok, `{"name":"outage","organization_id":"org_123","scopes":["events:read"]}`)
			want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret, "X-Request-ID", "e2e-warm"), 200) // cached

			l := startLoad(t, s.base, secret, "e2e-outage", 4, 5*time.Millisecond)
			time.Sleep(500 * time.Millisecond)
			p.Cut()
			time.Sleep(3 * time.Second)
			p.Restore()
			time.Sleep(500 * time.Millisecond)
			ok := l.finish()
			t.Logf("%s: %s", driver, l)
			if len(ok) < 100 {
				t.Fatalf("only %d requests succeeded; the test proves nothing", len(ok))
			}
			if !strings.Contains(s.logs(), "write failed; will retry") {
				t.Errorf("the outage never reached the audit writer; the test proves nothing")
			}
			st := openStore(t, env{driver: driver, dsn: dsn}, s)
			eventually(t, 30*time.Second, "every successful request's event is stored after the outage", func() bool {
				absent, _ := missing(ok, usedRequestIDs(t, st, id))
				return len(absent) == 0
			})
			if _, dups := missing(ok, usedRequestIDs(t, st, id)); dups != 0 {
				t.Errorf("%d events stored twice", dups)
			}
			s.stop()
			if out := s.cli("audit", "verify"); !strings.Contains(out, "no problems found") {
				t.Errorf("audit verify after the outage:\n%s", out)
			}
		})
	}
}

// TestFullQueue fills a small queue while the database is away: in block
// mode verify answers 503 once the queue is full (no success goes
// unrecorded); in drop mode it goes on answering 200 and counts and logs
// the drops.
func TestFullQueue(t *testing.T) {
	const capacity = 20
	driver := "postgres"
	for _, mode := range []string{"block", "drop"} {
		t.Run(mode, func(t *testing.T) {
			dsn := dbtest.DSN(t, driver)
			p, proxied := faultproxy.StartDSN(t, driver, dsn)
			s := start(t, env{driver: driver, dsn: proxied}, "APIKEYS_STORAGE_QUERY_TIMEOUT=1s",
				fmt.Sprintf("APIKEYS_AUDIT_QUEUE_CAPACITY=%d", capacity), "APIKEYS_AUDIT_BATCH_SIZE=5",
				"APIKEYS_AUDIT_BLOCK_TIMEOUT=200ms", "APIKEYS_AUDIT_ON_FULL="+mode)
			tok := s.token("user_1", "org_123")
			id, secret := createKey(t, s, tok, `{"name":"full","organization_id":"org_123","scopes":["events:read"]}`)
			want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret, "X-Request-ID", "e2e-warm"), 200)
			st := openStore(t, env{driver: driver, dsn: dsn}, s)
			eventually(t, 5*time.Second, "the warm-up use is stored", func() bool {
				return len(usedRequestIDs(t, st, id)) == 1
			})

			p.Cut()
			var ok, refused []string
			for i := range 2 * capacity {
				rid := fmt.Sprintf("e2e-full-%02d", i)
				r := s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret, "X-Request-ID", rid)
				switch r.status {
				case 200:
					ok = append(ok, rid)
				case 503:
					if code, _ := r.errorCode(t); code != "service_unavailable" || r.header.Get("Retry-After") == "" {
						t.Errorf("%s: 503 without the service_unavailable envelope and Retry-After: %s", rid, r.body)
					}
					refused = append(refused, rid)
				default:
					t.Errorf("%s: status %d", rid, r.status)
				}
			}
			switch mode {
			case "block":
				if len(ok) != capacity || len(refused) != capacity {
					t.Errorf("block: %d answered 200, %d refused; want the first %d accepted and the rest refused", len(ok), len(refused), capacity)
				}
			case "drop":
				if len(ok) != 2*capacity {
					t.Errorf("drop: %d answered 200, want all %d", len(ok), 2*capacity)
				}
				if !strings.Contains(s.logs(), "usage events dropped") {
					t.Errorf("drop: no warning logged")
				}
			}
			p.Restore()
			var got []string
			eventually(t, 30*time.Second, "the queued events are stored after the outage", func() bool {
				got = usedRequestIDs(t, st, id)
				return len(got) >= capacity+1
			})
			time.Sleep(300 * time.Millisecond) // nothing more arrives
			got = usedRequestIDs(t, st, id)
			if len(got) != capacity+1 {
				t.Errorf("%d key.used events, want the warm-up and the %d the queue held", len(got), capacity)
			}
			if mode == "block" {
				if absent, _ := missing(ok, got); len(absent) != 0 {
					t.Errorf("block: answered 200 without an event: %v", absent)
				}
				for _, rid := range refused {
					if slices.Contains(got, rid) {
						t.Errorf("block: refused request %s has an event", rid)
					}
				}
			}
			// Drops are logged at most once a second; the next stored
			// event reports those not logged yet.
			time.Sleep(1100 * time.Millisecond)
			want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret), 200)
			if mode == "drop" {
				eventually(t, 10*time.Second, "the drop total is logged", func() bool {
					return strings.Contains(s.logs(), fmt.Sprintf(`"dropped_total":%d`, capacity))
				})
			}
		})
	}
}

// TestAuditVerifyAndPurgeCommands runs `apikeys audit verify` and `audit
// purge` against a log written by the server: a tampered row is named, a
// purge refuses to destroy it, and a purge of old events leaves chains
// that verify.
func TestAuditVerifyAndPurgeCommands(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		id, secret := createKey(t, s, tok, `{"name":"old","organization_id":"org_123","scopes":["events:read"]}`)
		for i := range 5 {
			want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret, "X-Request-ID", fmt.Sprintf("e2e-old-%d", i)), 200)
		}
		st := openStore(t, e, s)
		eventually(t, 5*time.Second, "old uses stored", func() bool { return len(usedRequestIDs(t, st, id)) == 5 })
		time.Sleep(20 * time.Millisecond)
		cut := time.Now().UTC()
		time.Sleep(20 * time.Millisecond)
		for i := range 3 {
			want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret, "X-Request-ID", fmt.Sprintf("e2e-new-%d", i)), 200)
		}
		s.stop()

		out := s.cli("audit", "verify")
		if !strings.Contains(out, "verified 1 chains, 9 events: no problems found") {
			t.Errorf("audit verify:\n%s", out)
		}

		// Tamper with a recent use: verify names it and exits non-zero;
		// purge refuses to run.
		var victim string
		if err := st.DB().Raw(`SELECT id FROM audit_events WHERE client_request_id = ?`, "e2e-new-1").Scan(&victim).Error; err != nil || victim == "" {
			t.Fatalf("find event: %v", err)
		}
		if err := st.DB().Exec(`UPDATE audit_events SET client_ip = '10.9.9.9' WHERE id = ?`, victim).Error; err != nil {
			t.Fatal(err)
		}
		out, err := runCLI(t, s.env, "audit", "verify")
		if err == nil || !strings.Contains(out, "MODIFIED") || !strings.Contains(out, victim) {
			t.Errorf("audit verify of a tampered log: %v\n%s", err, out)
		}
		out, err = runCLI(t, s.env, "audit", "verify", "--json")
		if err == nil || !strings.Contains(out, `"ok": false`) || !strings.Contains(out, `"event_id": "`+victim+`"`) {
			t.Errorf("audit verify --json of a tampered log: %v\n%s", err, out)
		}
		before := cut.Format(time.RFC3339Nano)
		out, err = runCLI(t, s.env, "audit", "purge", "--before", before)
		if err == nil || !strings.Contains(out, "nothing purged") {
			t.Errorf("purge of a tampered log: %v\n%s", err, out)
		}
		if err := st.DB().Exec(`UPDATE audit_events SET client_ip = '127.0.0.1' WHERE id = ?`, victim).Error; err != nil {
			t.Fatal(err)
		}

		out, err = runCLI(t, s.env, "audit", "purge")
		if err == nil || !strings.Contains(out, "audit.retention is 0") {
			t.Errorf("purge without a retention: %v\n%s", err, out)
		}
		out = s.cli("audit", "purge", "--before", before)
		if !strings.Contains(out, "purged 6 audit events") {
			t.Errorf("purge:\n%s", out)
		}
		if got := usedRequestIDs(t, st, id); !slices.Equal(sorted(got), []string{"e2e-new-0", "e2e-new-1", "e2e-new-2"}) {
			t.Errorf("uses left after the purge: %v", got)
		}
		out = s.cli("audit", "verify")
		// The server's chain, now anchored, and the purge command's own
		// chain holding its audit.purged event.
		if !strings.Contains(out, "verified 2 chains, 4 events: no problems found") || !strings.Contains(out, "purged through seq 6") {
			t.Errorf("audit verify after the purge:\n%s", out)
		}
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestPurgeJob runs serve with a short retention: its purge job deletes
// old events and the chain still verifies.
func TestPurgeJob(t *testing.T) {
	s := start(t, env{driver: "sqlite"}, "APIKEYS_AUDIT_RETENTION=1s", "APIKEYS_AUDIT_PURGE_INTERVAL=300ms")
	tok := s.token("user_1", "org_123")
	id, secret := createKey(t, s, tok, `{"name":"short-lived","organization_id":"org_123","scopes":["events:read"]}`)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret), 200)
	eventually(t, 10*time.Second, "the purge job deletes events past retention", func() bool {
		return len(s.auditLog("/api/v1/audit-logs?key_id="+id, bearer(tok)...)) == 0
	})
	// The job logs the purge just after it commits.
	eventually(t, 5*time.Second, "the purge job logs its purge", func() bool {
		return strings.Contains(s.logs(), `"msg":"audit purge"`)
	})
	s.stop()
	if out := s.cli("audit", "verify"); !strings.Contains(out, "no problems found") {
		t.Errorf("audit verify after the purge job:\n%s", out)
	}
}

// TestAuditCommandsNeedTheChainKey runs `apikeys audit verify` and `audit
// purge` against a log written by the server with another chain key
// configured: each chain is reported once as sealed with a key not given,
// and nothing is purged; given the server's key as a previous key (a
// rotation), the log verifies again.
func TestAuditCommandsNeedTheChainKey(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		_, secret := createKey(t, s, tok, `{"name":"chained","organization_id":"org_123","scopes":["events:read"]}`)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret), 200)
		s.stop()
		key := s.chainKey()

		out := s.cli("audit", "verify")
		if !strings.Contains(out, "no problems found") || !strings.Contains(out, ", key ck_") {
			t.Errorf("audit verify with the server's key:\n%s", out)
		}
		out = s.cli("audit", "verify", "--json")
		if !strings.Contains(out, `"key_id": "ck_`) || !strings.Contains(out, `"keyed_from_seq": 1,`) {
			t.Errorf("audit verify --json does not name the chain's key:\n%s", out)
		}
		const rotated = "e2e-the-next-audit-chain-key-0123456789abcdef"
		other := append(slices.Clone(s.env), "APIKEYS_AUDIT_CHAIN_KEY="+rotated)
		out, err := runCLI(t, other, "audit", "verify")
		if err == nil || !strings.Contains(out, "UNKNOWN_KEY") || !strings.Contains(out, "is not one of the keys given") ||
			!strings.Contains(out, "1 problems found") {
			t.Errorf("audit verify with another key: %v\n%s", err, out)
		}
		out, err = runCLI(t, other, "audit", "purge", "--older-than", "1ns")
		if err == nil || !strings.Contains(out, "nothing purged") {
			t.Errorf("audit purge with another key: %v\n%s", err, out)
		}
		out, err = runCLI(t, append(other, "APIKEYS_AUDIT_PREVIOUS_CHAIN_KEYS="+key), "audit", "verify")
		if err != nil || !strings.Contains(out, "verified 1 chains") || !strings.Contains(out, "no problems found") {
			t.Errorf("audit verify after a rotation: %v\n%s", err, out)
		}
	})
}
