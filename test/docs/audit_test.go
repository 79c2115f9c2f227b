package docs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
	"github.com/agentauri/apikeys/test/dbtest"
)

func auditDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAuditDocWorkedExample recomputes the worked example of docs/audit.md
// (encoding, links, key id, head seal) and checks that the page shows
// those values.
func TestAuditDocWorkedExample(t *testing.T) {
	doc := auditDoc(t)
	const key = "example-audit-chain-key-0123456789abcdef"
	ks, err := audit.NewChainKeys([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	r := audit.Record{
		Event: audit.Event{
			ID: "evt_7Q2M4X6C8V0B1N3K5J7H", Time: time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC),
			OrganizationID: "org_123", Actor: "key:key_8fJ2kQ0xLm3Zp9Ab", Action: audit.ActionKeyUsed,
			KeyID: "key_8fJ2kQ0xLm3Zp9Ab", RequestID: "req_1", ClientRequestID: "nginx-7f3a9c01", Method: "GET", Path: "/v1/triggers",
			ClientIP: "203.0.113.7", UserAgent: "curl/8.5.0", Status: 200, Outcome: "ok", Scope: "triggers:read",
		},
		Link: audit.Link{ChainID: "chn_EXAMPLE", Seq: 2, PrevID: "evt_PREVIOUS", PrevHash: strings.Repeat("ab", 32)},
	}
	head := audit.Chain{ID: "chn_EXAMPLE", KeyedFrom: 1, HeadSeq: 2, HeadID: r.Event.ID, HeadHash: r.HashV2(ks.Current())}
	for what, want := range map[string]string{
		"the v2 encoding": "\n" + string(r.Canonical(audit.FormatV2)) + "\n",
		"the example key": "`" + key + "`",
		"the v2 link":     "`" + r.HashV2(ks.Current()) + "`",
		"the key id":      "`" + ks.Current().ID() + "`",
		"the head seal":   "`" + head.ComputeHeadSeal(ks.Current()) + "`",
		"the v1 link":     "`" + r.HashV1() + "`",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/audit.md does not show %s, %s", what, want)
		}
	}
}

// referenceVerifier writes the Python verifier of docs/audit.md to a file
// and returns its path.
func referenceVerifier(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile("(?s)### Reference verifier\n.*?```python\n(.*?)```").FindStringSubmatch(auditDoc(t))
	if m == nil {
		t.Fatal("docs/audit.md has no reference verifier")
	}
	p := filepath.Join(t.TempDir(), "verify.py")
	if err := os.WriteFile(p, []byte(m[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAuditDocReferenceVerifier runs the Python verifier of docs/audit.md
// against a SQLite log the store wrote — keyed chains, a chain from before
// keyed chains that the upgrade sealed, a chain after a key rotation, purge
// anchors — and checks that it agrees with the service: nothing to report
// on the intact log, and each tampering found.
func TestAuditDocReferenceVerifier(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the reference verifier of docs/audit.md is not run")
	}
	script := referenceVerifier(t)
	ctx := context.Background()
	dsn := dbtest.DSN(t, gormstore.DriverSQLite)
	const rotatedKey = "the-rotated-audit-chain-key-0123456789abcdef"
	open := func(key string, previous ...[]byte) *gormstore.Store {
		cfg := dbtest.Config(gormstore.DriverSQLite, dsn)
		cfg.ChainKey, cfg.PreviousChainKeys = []byte(key), previous
		s, err := gormstore.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sql := func(s *gormstore.Store, query string, args ...any) {
		t.Helper()
		if err := s.DB().Exec(query, args...).Error; err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	base := time.Date(2025, 1, 2, 3, 4, 5, 678901000, time.UTC)
	uses := func(s *gormstore.Store, key string, from, n int) {
		t.Helper()
		evs := make([]audit.Event, n)
		for i := range evs {
			evs[i] = audit.Event{
				ID: fmt.Sprintf("evt_%s_%02d", key, from+i), Time: base.Add(time.Duration(from+i) * time.Minute), OrganizationID: "org_doc",
				Actor: audit.UsageActor(key), Action: audit.ActionKeyUsed, KeyID: key, RequestID: fmt.Sprintf("req_%d", i),
				Method: "GET", Path: "/v1/ünïcode", ClientIP: "203.0.113.7", UserAgent: "doc-test/1.0", Status: 200, Outcome: "ok",
				Scope: "events:read", Details: map[string]any{"n": float64(i), "s": "é \"q\" <b>"},
			}
		}
		if err := s.AppendUsage(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}

	a := open(dbtest.ChainKey)
	if err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	uses(a, "key_a", 0, 8)
	// b's chain is made to look as versions before keyed chains wrote it
	// (v1 links, registry row unsealed), then the upgrade seals it.
	b := open(dbtest.ChainKey)
	uses(b, "key_b", 0, 6)
	err = b.ReadChains(ctx, func(snap ports.ChainSnapshot) error {
		prevHash := ""
		for r, err := range snap.Records(ctx, b.ChainID(), 0) {
			if err != nil {
				return err
			}
			r.Link.PrevHash = prevHash
			r.Link.Hash = r.HashV1()
			sql(a, "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE id = ?", r.Link.PrevHash, r.Link.Hash, r.Event.ID)
			sql(a, "UPDATE audit_chains SET head_hash = ?, key_id = '', keyed_from_seq = 0, head_seal = '' WHERE chain_id = ?", r.Link.Hash, b.ChainID())
			prevHash = r.Link.Hash
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sql(a, "DELETE FROM goose_db_version WHERE version_id = 5")
	if err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if cuts, err := a.PurgeBefore(ctx, base.Add(3*time.Minute)); err != nil || len(cuts) != 2 {
		t.Fatalf("purge: %+v, %v", cuts, err)
	}
	// c is written after a rotation of the key.
	c := open(rotatedKey, []byte(dbtest.ChainKey))
	uses(c, "key_c", 0, 4)

	keys, err := audit.NewChainKeys([]byte(rotatedKey), []byte(dbtest.ChainKey))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"APIKEYS_AUDIT_CHAIN_KEY=" + rotatedKey, "APIKEYS_AUDIT_PREVIOUS_CHAIN_KEYS=" + dbtest.ChainKey}
	run := func(env []string) []string {
		t.Helper()
		cmd := exec.Command(python, script, dsn)
		cmd.Env = append(env, "PATH="+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the reference verifier failed: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		slices.Sort(lines)
		return lines
	}
	checked := func(chain string, seq int) string { return fmt.Sprintf("%s checked through seq %d", chain, seq) }
	want := []string{checked(a.ChainID(), 8), checked(b.ChainID(), 6), checked(c.ChainID(), 4)}
	slices.Sort(want)
	if got := run(env); !slices.Equal(got, want) {
		t.Fatalf("the intact log:\n got  %q\n want %q", got, want)
	}
	goVerify := func() []audit.Problem {
		var ps []audit.Problem
		err := a.ReadChains(ctx, func(snap ports.ChainSnapshot) error {
			chains, err := snap.Chains(ctx)
			if err != nil {
				return err
			}
			for _, ch := range chains {
				v := audit.NewChainVerifier(ch, keys)
				for r, err := range snap.Records(ctx, ch.ID, ch.AnchorSeq) {
					if err != nil {
						return err
					}
					v.Add(r)
				}
				ps = append(ps, v.Finish().Problems...)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	if ps := goVerify(); len(ps) != 0 {
		t.Fatalf("the service finds problems in the intact log: %v", ps)
	}

	// An event changed; a sealed head rewritten; a key missing.
	sql(a, "UPDATE audit_events SET client_ip = '10.6.6.6' WHERE id = ?", "evt_key_a_05")
	sql(a, "UPDATE audit_chains SET head_hash = ? WHERE chain_id = ?", strings.Repeat("0", 64), b.ChainID())
	got := run(env)
	for _, line := range []string{"BROKEN " + a.ChainID() + " 6 evt_key_a_05", "HEAD SEAL MISMATCH " + b.ChainID(), "HEAD MISMATCH " + b.ChainID()} {
		if !slices.Contains(got, line) {
			t.Errorf("the reference verifier does not report %q:\n%q", line, got)
		}
	}
	if ps := goVerify(); len(ps) != 2 {
		t.Errorf("the service finds %d problems, want 2 (the event and the head): %v", len(ps), ps)
	}
	got = run([]string{"APIKEYS_AUDIT_CHAIN_KEY=" + rotatedKey})
	old, _ := audit.NewChainKey([]byte(dbtest.ChainKey))
	for _, ch := range []string{a.ChainID(), b.ChainID()} {
		if line := "UNKNOWN KEY " + old.ID() + " " + ch; !slices.Contains(got, line) {
			t.Errorf("without the previous key, the reference verifier does not report %q:\n%q", line, got)
		}
	}
}

// TestAuditDocOutcomeOfManagementEvents: docs/audit.md says what the
// outcome of each kind of event is, as the constructors make it (issue 11
// §11: it said `ok` for management events, which have none).
func TestAuditDocOutcomeOfManagementEvents(t *testing.T) {
	doc := auditDoc(t)
	st := audit.Stamp{ID: "evt_x", Time: time.Now()}
	for _, a := range []audit.Action{audit.ActionKeyCreated, audit.ActionKeyRotated, audit.ActionKeyRevoked} {
		if ev := audit.Change(st, a, "user:u", "org_1", "key_x", audit.Request{}, nil); ev.Outcome != "" {
			t.Fatalf("%s has outcome %q: the doc's null is wrong", a, ev.Outcome)
		}
	}
	if ev := audit.System(st, audit.ActionAuditPurged, "system:purge", nil); ev.Outcome != "ok" {
		t.Fatalf("audit.purged has outcome %q", ev.Outcome)
	}
	row := regexp.MustCompile("(?m)^\\| `outcome` \\|.*$").FindString(doc)
	if !strings.Contains(row, "`null` for management events") || !strings.Contains(row, "`ok` for `audit.purged`") {
		t.Errorf("docs/audit.md's outcome row %q: want `null` for management events and `ok` for `audit.purged`", row)
	}
	for _, c := range []struct {
		field string
		max   int
	}{{"user_agent", audit.MaxUserAgentLen}, {"method`, `path", audit.MaxPathLen}} {
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(c.field) + "` \\|.*$").FindString(doc)
		if !strings.Contains(row, fmt.Sprintf("first %d bytes", c.max)) {
			t.Errorf("docs/audit.md's %s row does not say it keeps the first %d bytes: %q", c.field, c.max, row)
		}
	}
}
