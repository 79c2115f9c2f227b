package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

var (
	keyRe = regexp.MustCompile(`^sk_test_[0-9A-Za-z]{32}$`)
	idRe  = regexp.MustCompile(`^key_[0-9A-Za-z]+$`)
)

func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("want an RFC 3339 string, got %#v", v)
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("not RFC 3339: %q", s)
	}
	return ts
}

func stringsOf(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestDocumentedLifecycle replays the documentation's curl examples in
// order: create, list, use, rotate, revoke; then checks the audit trail and
// that no issued secret was written to the database or the log.
func TestDocumentedLifecycle(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		tok := s.token("user_1", "org_123")
		var secrets []string

		// Creating API keys.
		before := time.Now().Add(-time.Second)
		r := s.do("POST", "/api/v1/api-keys", `{
		  "name": "Production Webhook Server",
		  "organization_id": "org_123",
		  "scopes": ["triggers:read", "triggers:write", "events:read"]
		}`, jsonBearer(tok)...)
		want(t, r, 201)
		created := r.json(t)
		id, _ := created["id"].(string)
		secret, _ := created["key"].(string)
		secrets = append(secrets, secret)
		if !idRe.MatchString(id) || !keyRe.MatchString(secret) {
			t.Fatalf("id %q key %q", id, secret)
		}
		if created["name"] != "Production Webhook Server" || created["organization_id"] != "org_123" {
			t.Fatalf("create response %s", r.body)
		}
		if got := stringsOf(created["scopes"]); !reflect.DeepEqual(got, []string{"triggers:read", "triggers:write", "events:read"}) {
			t.Fatalf("scopes %v", got)
		}
		if ca := parseTime(t, created["created_at"]); ca.Before(before) || ca.After(time.Now().Add(time.Second)) {
			t.Fatalf("created_at %v", ca)
		}
		if v, ok := created["last_used_at"]; !ok || v != nil {
			t.Fatalf("last_used_at must be present and null, got %#v", v)
		}

		// Listing API keys: the key itself never comes back.
		r = s.do("GET", "/api/v1/api-keys", "", bearer(tok)...)
		want(t, r, 200)
		list := r.json(t)
		data, _ := list["data"].([]any)
		if len(data) != 1 || list["total"] != float64(1) {
			t.Fatalf("list %s", r.body)
		}
		item := data[0].(map[string]any)
		if item["id"] != id || item["name"] != "Production Webhook Server" || item["last_used_at"] != nil {
			t.Fatalf("list item %v", item)
		}
		for _, f := range []string{"id", "name", "scopes", "created_at", "last_used_at"} {
			if _, ok := item[f]; !ok {
				t.Fatalf("list item lacks %q: %v", f, item)
			}
		}
		if _, ok := item["key"]; ok || strings.Contains(string(r.body), secret) {
			t.Fatalf("list reveals the key: %s", r.body)
		}
		if strings.Contains(string(r.body), "argon2") {
			t.Fatalf("list reveals the hash: %s", r.body)
		}

		// Using the key, as a server integration does with X-API-Key.
		r = s.do("GET", "/api/v1/auth/verify?scope=triggers:read", "", "X-API-Key", secret)
		want(t, r, 200)
		v := r.json(t)
		if v["key_id"] != id || v["organization_id"] != "org_123" || r.header.Get("X-Key-Id") != id ||
			r.header.Get("X-Organization-Id") != "org_123" || r.header.Get("X-Scopes") != "triggers:read,triggers:write,events:read" {
			t.Fatalf("verify %v %v", v, r.header)
		}
		usedAt := time.Now()
		eventually(t, 2*time.Second, "last_used_at reflects the use", func() bool {
			r := s.do("GET", "/api/v1/api-keys/"+id, "", bearer(tok)...)
			lu, ok := r.json(t)["last_used_at"].(string)
			if !ok {
				return false
			}
			ts, err := time.Parse(time.RFC3339Nano, lu)
			return err == nil && ts.After(usedAt.Add(-2*time.Second)) && ts.Before(usedAt.Add(2*time.Second))
		})

		// Rotating API keys: same id, new key, old key refused at once.
		r = s.do("POST", "/api/v1/api-keys/"+id+"/rotate", "", bearer(tok)...)
		want(t, r, 200)
		rot := r.json(t)
		newSecret, _ := rot["key"].(string)
		secrets = append(secrets, newSecret)
		if rot["id"] != id || !keyRe.MatchString(newSecret) || newSecret == secret || rot["name"] != "Production Webhook Server" {
			t.Fatalf("rotate %s", r.body)
		}
		parseTime(t, rot["rotated_at"])
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret), 401)
		r = s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", newSecret)
		want(t, r, 200)
		if got := stringsOf(r.json(t)["scopes"]); !reflect.DeepEqual(got, []string{"triggers:read", "triggers:write", "events:read"}) {
			t.Fatalf("scopes changed by rotation: %v", got)
		}

		// Updating a key: rename, narrow the scopes, set an expiry.
		expires := time.Now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
		r = s.do("PATCH", "/api/v1/api-keys/"+id, `{"name": "Webhook Server (EU)", "scopes": ["triggers:read"], "expires_at": "`+expires+`"}`, jsonBearer(tok)...)
		want(t, r, 200)
		upd := r.json(t)
		if upd["id"] != id || upd["name"] != "Webhook Server (EU)" || upd["status"] != "active" || upd["expires_at"] != expires ||
			!reflect.DeepEqual(stringsOf(upd["scopes"]), []string{"triggers:read"}) {
			t.Fatalf("update %s", r.body)
		}
		want(t, s.do("GET", "/api/v1/auth/verify?scope=triggers:write", "", "X-API-Key", newSecret), 403)

		// Revoking API keys.
		want(t, s.do("DELETE", "/api/v1/api-keys/"+id, "", bearer(tok)...), 204)
		want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", newSecret), 401)
		r = s.do("GET", "/api/v1/api-keys/"+id, "", bearer(tok)...)
		want(t, r, 200)
		if r.json(t)["revoked_at"] == nil || r.json(t)["status"] != "revoked" {
			t.Fatalf("revoked key %s", r.body)
		}
		r = s.do("GET", "/api/v1/api-keys", "", bearer(tok)...)
		if r.json(t)["total"] != float64(0) {
			t.Fatalf("revoked keys are not listed by default: %s", r.body)
		}
		r = s.do("GET", "/api/v1/api-keys?include_revoked=true", "", bearer(tok)...)
		if r.json(t)["total"] != float64(1) {
			t.Fatalf("include_revoked lists them: %s", r.body)
		}

		// Stop gracefully: the audit queue is flushed on the way out.
		s.stop()
		checkAudit(t, e, s, id)
		checkNoPlaintext(t, s, append(secrets, tok))
		checkNoPlaintextRows(t, e, s, append(secrets, tok))
	})
}

// openStore opens the server's database directly, to inspect what it kept.
func openStore(t *testing.T, e env, s *server) *gormstore.Store {
	t.Helper()
	cfg := gormstore.Config{Driver: e.driver, DSN: e.dsn}
	if e.driver == "sqlite" {
		cfg.DSN = filepath.Join(s.dataDir, "apikeys.db")
	}
	st, err := gormstore.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func checkAudit(t *testing.T, e env, s *server, id string) {
	t.Helper()
	st := openStore(t, e, s)
	page, err := st.ListEvents(context.Background(), ports.AuditQuery{OrganizationIDs: []string{"org_123"}, KeyID: id, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[audit.Action]int{}
	for _, ev := range page.Events {
		got[ev.Action]++
		if ev.OrganizationID != "org_123" || ev.Time.IsZero() || ev.ID == "" {
			t.Errorf("event %+v", ev)
		}
		switch ev.Action {
		case audit.ActionKeyCreated, audit.ActionKeyRotated, audit.ActionKeyRevoked, audit.ActionKeyUpdated:
			if ev.Actor != "user:user_1" {
				t.Errorf("%s actor %q", ev.Action, ev.Actor)
			}
		case audit.ActionKeyUsed:
			if ev.Actor != "key:"+id || ev.Path == "" || ev.Method != "GET" || ev.ClientIP != "127.0.0.1" {
				t.Errorf("use event %+v", ev)
			}
		}
		if ev.Action == audit.ActionKeyCreated && strings.Join(stringsOf(anySlice(ev.Details["scopes"])), ",") != "triggers:read,triggers:write,events:read" {
			t.Errorf("created event scopes %v", ev.Details)
		}
	}
	// The rotated-away secret's digest is kept, so its failed use names the
	// key (outcome rotated), like the revoked key's failure and the scope
	// refusal.
	if got[audit.ActionKeyCreated] != 1 || got[audit.ActionKeyRotated] != 1 || got[audit.ActionKeyRevoked] != 1 || got[audit.ActionKeyUpdated] != 1 ||
		got[audit.ActionKeyUsed] != 2 || got[audit.ActionKeyAuthFailed] != 3 {
		t.Fatalf("audit events %v", got)
	}
}

func anySlice(v any) any {
	switch x := v.(type) {
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	}
	return v
}

// checkNoPlaintext searches the server's whole data dir (SQLite files,
// write-ahead log) and its log output for every secret it handed out.
func checkNoPlaintext(t *testing.T, s *server, secrets []string) {
	t.Helper()
	var blobs []string
	_ = filepath.Walk(s.dataDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			blobs = append(blobs, string(b))
		}
		return nil
	})
	blobs = append(blobs, s.logs())
	for _, sec := range secrets {
		if sec == "" {
			t.Fatal("empty secret")
		}
		for i, b := range blobs {
			if strings.Contains(b, sec) {
				t.Errorf("secret %s… found in blob %d", sec[:10], i)
			}
		}
	}
	if !strings.Contains(s.logs(), "apikeys listening") {
		t.Fatal("log capture is broken")
	}
}

// checkNoPlaintextRows reads every row of every table of the server's
// database as text and searches it for the secrets; on SQLite this repeats
// the file search through SQL, on Postgres and MySQL it is the only way in.
func checkNoPlaintextRows(t *testing.T, e env, s *server, secrets []string) {
	t.Helper()
	st := openStore(t, e, s)
	var tables []string
	q := map[string]string{
		"sqlite":   "SELECT name FROM sqlite_master WHERE type = 'table'",
		"postgres": "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
		"mysql":    "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
	}[e.driver]
	if err := st.DB().Raw(q).Scan(&tables).Error; err != nil {
		t.Fatal(err)
	}
	if len(tables) < 2 {
		t.Fatalf("found tables %v", tables)
	}
	rowsSeen := 0
	for _, table := range tables {
		var rows []map[string]any
		if err := st.DB().Table(table).Find(&rows).Error; err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		for _, row := range rows {
			rowsSeen++
			for col, v := range row {
				text := fmt.Sprint(v)
				if b, ok := v.([]byte); ok {
					text = string(b)
				}
				for _, sec := range secrets {
					if strings.Contains(text, sec) {
						t.Errorf("secret %s… stored in %s.%s", sec[:10], table, col)
					}
				}
			}
		}
	}
	if rowsSeen < 5 {
		t.Fatalf("read only %d rows; the search proves nothing", rowsSeen)
	}
}
