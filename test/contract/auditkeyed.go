package contract

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/auditlog"
)

// keyedTests are the cases of AuditChains about the chain key: what
// someone who can write to the database but does not hold the key can do
// to the log, the upgrade of chains written before chains were keyed, a
// wrong key, and a rotation of the key.
var keyedTests = []struct {
	name    string
	writers int
	run     func(t *testing.T, env ChainEnv)
}{
	{"Keyed/ForgedWithoutTheKey", 3, testForgedWithoutTheKey},
	{"Keyed/UpgradeFromUnkeyedChains", 2, testUpgradeFromUnkeyedChains},
	{"Keyed/FakePurgeWithoutTheKey", 1, testFakePurgeWithoutTheKey},
	{"Keyed/WrongKey", 1, testWrongChainKey},
	{"Keyed/KeyRotation", 1, testChainKeyRotation},
}

// keyedLog writes, with w: a key created, used five times, revoked, and
// used three times more (refused); it returns w's chain and its records.
func keyedLog(t *testing.T, env ChainEnv, w ChainWriter) (audit.Chain, []audit.Record) {
	t.Helper()
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	create(t, w, k)
	for i := range 5 {
		appendUsage(t, w, useEvent(audit.ActionKeyUsed, k, at(time.Duration(i+1)*time.Minute), "ok"))
	}
	if _, err := w.RevokeKey(ctx, k.ID, at(time.Hour), keyEvent(audit.ActionKeyRevoked, k, at(time.Hour))); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	for i := range 3 {
		appendUsage(t, w, useEvent(audit.ActionKeyAuthFailed, k, at(time.Hour+time.Duration(i+1)*time.Minute), "revoked"))
	}
	chains, recs := chainRecords(t, w)
	for id, c := range chains {
		if slices.ContainsFunc(recs[id], func(r audit.Record) bool { return r.Event.KeyID == k.ID }) {
			if len(recs[id]) != 10 {
				t.Fatalf("chain %s holds %d events, want 10", id, len(recs[id]))
			}
			return c, recs[id]
		}
	}
	t.Fatalf("no chain holds key %s", k.ID)
	panic("unreachable")
}

// relinkUnkeyed rewrites recs from index from on as someone without the
// chain key would: each event at the seq it holds, linked to the one
// before it, with a plain SHA-256 link (v1). It returns the new last
// record.
func relinkUnkeyed(t *testing.T, env ChainEnv, recs []audit.Record, from int) audit.Record {
	t.Helper()
	for i := from; i < len(recs); i++ {
		r := &recs[i]
		if i > 0 {
			r.Link.PrevID, r.Link.PrevHash = recs[i-1].Event.ID, recs[i-1].Link.Hash
		}
		r.Link.Hash = r.HashV1()
		env.Exec(t, "UPDATE audit_events SET seq = ?, prev_id = ?, prev_hash = ?, hash = ?, actor = ?, client_ip = ? WHERE id = ?",
			r.Link.Seq, r.Link.PrevID, r.Link.PrevHash, r.Link.Hash, r.Event.Actor, r.Event.ClientIP, r.Event.ID)
	}
	return recs[len(recs)-1]
}

// setHead points chain id's registry head at r, as a forger would.
func setHead(t *testing.T, env ChainEnv, id string, r audit.Record) {
	t.Helper()
	env.Exec(t, "UPDATE audit_chains SET head_seq = ?, head_id = ?, head_hash = ? WHERE chain_id = ?", r.Link.Seq, r.Event.ID, r.Link.Hash, id)
}

// testForgedWithoutTheKey forges three chains as someone with write access
// to the database but without the chain key: an event's actor and client
// IP changed and every later link and the registry's head recomputed with
// SHA-256; a key.revoked event deleted and the chain renumbered and
// relinked; a chain downgraded to unkeyed links with its registry entry
// unsealed. Verification finds each, and says why.
func testForgedWithoutTheKey(t *testing.T, env ChainEnv) {
	type forged struct {
		chain audit.Chain
		recs  []audit.Record
	}
	var fs []forged
	for _, w := range env.Writers {
		c, recs := keyedLog(t, env, w)
		fs = append(fs, forged{c, recs})
	}
	wantVerified(t, env.Keys, env.Writers[0], 3, 30)

	// 1. The third use (seq 4) now names another actor and address.
	a := fs[0]
	a.recs[3].Event.Actor, a.recs[3].Event.ClientIP = "key:key_someoneelse", "198.51.100.77"
	setHead(t, env, a.chain.ID, relinkUnkeyed(t, env, a.recs, 3))

	// 2. The key.revoked event (seq 7) is gone; the later events move up.
	b := fs[1]
	revoked := slices.IndexFunc(b.recs, func(r audit.Record) bool { return r.Event.Action == audit.ActionKeyRevoked })
	if revoked != 6 {
		t.Fatalf("key.revoked at index %d, want 6", revoked)
	}
	env.Exec(t, "DELETE FROM audit_events WHERE id = ?", b.recs[revoked].Event.ID)
	b.recs = slices.Delete(b.recs, revoked, revoked+1)
	for i := revoked; i < len(b.recs); i++ {
		b.recs[i].Link.Seq--
	}
	setHead(t, env, b.chain.ID, relinkUnkeyed(t, env, b.recs, revoked))

	// 3. Every link unkeyed, the registry entry as an older version wrote
	// it.
	d := fs[2]
	setHead(t, env, d.chain.ID, relinkUnkeyed(t, env, d.recs, 0))
	env.Exec(t, "UPDATE audit_chains SET key_id = '', keyed_from_seq = 0, head_seal = '' WHERE chain_id = ?", d.chain.ID)

	rep := verifyLog(t, env.Keys, env.Writers[0])
	if rep.OK() {
		t.Fatal("a log forged without the chain key verified")
	}
	want := map[string][]string{
		// Each rewritten link is unkeyed where the chain is keyed, and the
		// head no longer matches its seal.
		a.chain.ID: {"modified 4 unkeyed", "modified 5 unkeyed", "modified 6 unkeyed", "modified 7 unkeyed", "modified 8 unkeyed",
			"modified 9 unkeyed", "modified 10 unkeyed", "modified 10 seal"},
		b.chain.ID: {"modified 7 unkeyed", "modified 8 unkeyed", "modified 9 unkeyed", "modified 9 seal"},
		d.chain.ID: {"modified 10 unsealed"},
	}
	for _, r := range rep.Chains {
		var got []string
		for _, p := range r.Problems {
			why := "other: " + p.Message
			switch {
			case strings.Contains(p.Message, "unkeyed SHA-256 hash where the chain is keyed"):
				why = "unkeyed"
			case strings.Contains(p.Message, "no longer matches its seal"):
				why = "seal"
			case strings.Contains(p.Message, "not sealed with a chain key"):
				why = "unsealed"
			}
			got = append(got, strings.Join([]string{string(p.Kind), strconv.FormatInt(p.Seq, 10), why}, " "))
		}
		w := want[r.Chain.ID]
		slices.Sort(got)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("chain %s: problems\n  got  %q\n  want %q", r.Chain.ID, got, w)
		}
	}
	if len(rep.Chains) != 3 || rep.Problems != 13 {
		t.Errorf("%d chains, %d problems; want 3 chains, 13 problems", len(rep.Chains), rep.Problems)
	}
}

// testFakePurgeWithoutTheKey deletes the oldest events of a chain, up to
// and including its key.revoked event, and moves the chain's purge anchor
// to the last of them, as a purge would have: without the chain key the
// anchor's seal cannot follow, and verification names the anchor.
func testFakePurgeWithoutTheKey(t *testing.T, env ChainEnv) {
	c, recs := keyedLog(t, env, env.Writers[0])
	last := recs[6]
	if last.Event.Action != audit.ActionKeyRevoked {
		t.Fatalf("seq 7 is %s, want key.revoked", last.Event.Action)
	}
	env.Exec(t, "DELETE FROM audit_events WHERE chain_id = ? AND seq <= ?", c.ID, last.Link.Seq)
	env.Exec(t, "UPDATE audit_chains SET anchor_seq = ?, anchor_id = ?, anchor_hash = ? WHERE chain_id = ?", last.Link.Seq, last.Event.ID, last.Link.Hash, c.ID)
	rep := verifyLog(t, env.Keys, env.Writers[0])
	ps := problemsOf(rep, c.ID)
	if rep.Problems != 1 || len(ps) != 1 || ps[0].Kind != audit.ProblemModified || ps[0].Seq != 7 || ps[0].EventID != last.Event.ID ||
		!strings.Contains(ps[0].Message, "purge anchor no longer matches its seal") {
		t.Errorf("a purge faked without the key: %d problems %v", rep.Problems, ps)
	}
}

// testUpgradeFromUnkeyedChains puts a chain in the state versions before
// keyed chains left it (v1 links, a registry entry with no key or seal),
// runs the store's upgrade, and checks that the chain then verifies next
// to the keyed chains written after, that it is sealed (keyed from past
// its head), and that its events are still checked.
func testUpgradeFromUnkeyedChains(t *testing.T, env ChainEnv) {
	// Writers[1] writes the old chain and stops; Writers[0] goes on after
	// the upgrade.
	old, recs := keyedLog(t, env, env.Writers[1])
	head := relinkUnkeyed(t, env, recs, 0)
	setHead(t, env, old.ID, head)
	env.Exec(t, "UPDATE audit_chains SET key_id = '', keyed_from_seq = 0, head_seal = '', anchor_seal = '' WHERE chain_id = ?", old.ID)
	rep := verifyLog(t, env.Keys, env.Writers[0])
	if ps := problemsOf(rep, old.ID); len(ps) != 1 || !strings.Contains(ps[0].Message, "not sealed") {
		t.Fatalf("an unkeyed chain before the upgrade: %v", ps)
	}

	env.Upgrade(t)
	wantVerified(t, env.Keys, env.Writers[0], 1, 10)
	keyedLog(t, env, env.Writers[0])
	wantVerified(t, env.Keys, env.Writers[0], 2, 20)
	chains, _ := chainRecords(t, env.Writers[0])
	c := chains[old.ID]
	if c.KeyID != env.Keys.Current().ID() || c.KeyedFrom != 11 || c.HeadSeal != c.ComputeHeadSeal(env.Keys.Current()) {
		t.Errorf("upgraded chain %+v; want keyed from seq 11 (past its head), sealed with the current key", c)
	}

	// Its v1 links are still checked.
	env.Exec(t, "UPDATE audit_events SET client_ip = ? WHERE id = ?", "10.99.0.1", recs[4].Event.ID)
	rep = verifyLog(t, env.Keys, env.Writers[0])
	if ps := problemsOf(rep, old.ID); len(ps) != 1 || ps[0].Kind != audit.ProblemModified || ps[0].Seq != 5 || ps[0].EventID != recs[4].Event.ID {
		t.Errorf("an upgraded chain modified: %v", ps)
	}
	if rep.Problems != 1 {
		t.Errorf("%d problems, want 1", rep.Problems)
	}
}

// testWrongChainKey verifies a log with a key other than the one it was
// written with: each chain is reported once as sealed with a key not
// given, never as a series of modified events.
func testWrongChainKey(t *testing.T, env ChainEnv) {
	c, _ := keyedLog(t, env, env.Writers[0])
	other, err := audit.NewChainKeys([]byte("a-key-the-log-was-not-written-with-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	rep := verifyLog(t, other, env.Writers[0])
	ps := problemsOf(rep, c.ID)
	if rep.OK() || rep.Problems != 1 || len(ps) != 1 || ps[0].Kind != audit.ProblemUnknownKey ||
		!strings.Contains(ps[0].Message, env.Keys.Current().ID()) || !strings.Contains(ps[0].Message, other.Current().ID()) {
		t.Errorf("verified with another key: %d problems %v", rep.Problems, ps)
	}
}

// testChainKeyRotation writes chains with a key, then, after a rotation,
// with its successor: both verify with the new key and the old one as a
// previous key; without the old key, its chains are reported; a purge
// anchors each chain with its own key, and refuses a chain whose key it
// lacks.
func testChainKeyRotation(t *testing.T, env ChainEnv) {
	oldKey := env.Key
	before, _ := keyedLog(t, env, env.Writers[0])
	newSecret := []byte("the-rotated-audit-chain-key-0123456789abcdef")
	rotated := env.NewWriter(t, newSecret, oldKey)
	after, _ := keyedLog(t, env, rotated)
	both, err := audit.NewChainKeys(newSecret, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	wantVerified(t, both, rotated, 2, 20)
	chains, _ := chainRecords(t, rotated)
	if chains[before.ID].KeyID != env.Keys.Current().ID() || chains[after.ID].KeyID != both.Current().ID() {
		t.Errorf("chain keys %s and %s; want the old key, then the new", chains[before.ID].KeyID, chains[after.ID].KeyID)
	}

	onlyNew, err := audit.NewChainKeys(newSecret)
	if err != nil {
		t.Fatal(err)
	}
	rep := verifyLog(t, onlyNew, rotated)
	if ps := problemsOf(rep, before.ID); rep.Problems != 1 || len(ps) != 1 || ps[0].Kind != audit.ProblemUnknownKey {
		t.Errorf("verified without the previous key: %d problems, %v", rep.Problems, ps)
	}

	// A writer that has only the new key purges its own chain and leaves
	// the old one, naming it.
	newOnly := env.NewWriter(t, newSecret)
	cuts, err := newOnly.PurgeBefore(context.Background(), at(30*time.Minute))
	if err == nil || !strings.Contains(err.Error(), before.ID) || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("purge without the old key: %v", err)
	}
	if len(cuts) != 1 || cuts[0].ChainID != after.ID || cuts[0].Deleted != 6 {
		t.Errorf("cuts %+v; want chain %s cut through its sixth event", cuts, after.ID)
	}
	// The rotated writer holds both keys: it anchors the old chain with
	// the old key.
	cuts = purge(t, rotated, at(30*time.Minute))
	if len(cuts) != 1 || cuts[0].ChainID != before.ID || cuts[0].Deleted != 6 {
		t.Errorf("cuts %+v; want chain %s cut through its sixth event", cuts, before.ID)
	}
	wantVerified(t, both, rotated, 2, 8)
	chains, _ = chainRecords(t, rotated)
	oldCurrent, _ := audit.NewChainKey(oldKey)
	if c := chains[before.ID]; c.AnchorSeq != 6 || c.AnchorSeal != c.ComputeAnchorSeal(oldCurrent) {
		t.Errorf("old chain anchored %+v; want its anchor at seq 6 sealed with the old key", c)
	}
}

// problemsOf returns the problems rep found in chain id.
func problemsOf(rep auditlog.VerifyReport, id string) []audit.Problem {
	for _, r := range rep.Chains {
		if r.Chain.ID == id {
			return r.Problems
		}
	}
	return nil
}
