package contract

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/auditlog"
	"github.com/agentauri/apikeys/ports"
)

// ChainWriter is one writer of the audit log: a store that appends to a
// hash chain of its own.
type ChainWriter interface {
	ports.KeyStore
	ports.AuditStore
	ports.AuditChains
}

// ChainEnv is one database shared by several writers.
type ChainEnv struct {
	Writers []ChainWriter
	// Key is the chain key every writer keys its chain with; Keys holds
	// it alone, and verifies the log.
	Key  []byte
	Keys audit.ChainKeys
	// NewWriter opens one more writer on the database, with key as its
	// chain key and previous as its previous ones.
	NewWriter func(t *testing.T, key []byte, previous ...[]byte) ChainWriter
	// Upgrade runs again what the store does to chains written before
	// chains were keyed when it is upgraded (with Key).
	Upgrade func(t *testing.T)
	// Exec runs a statement directly on the database, to tamper with the
	// log; its placeholders are "?".
	Exec func(t *testing.T, query string, args ...any)
}

// AuditChains returns the contract suite of ports.AuditChains: every
// event a writer stores, management or usage, is a link of its chain;
// failed writes leave no gap; verification finds every modified, deleted,
// reordered or inserted event of a large log; purges leave the rest of
// each chain verifiable; chains forged by someone without the chain key
// (links recomputed with SHA-256, downgrades, faked purges) are found,
// chains from before keyed chains are sealed by the upgrade and still
// verify, a wrong key is reported as such, and a rotated key keeps older
// chains verifiable. open returns a fresh database with the given number
// of writers.
func AuditChains(open func(t *testing.T, writers int) ChainEnv) func(t *testing.T) {
	return func(t *testing.T) {
		tests := []struct {
			name    string
			writers int
			run     func(t *testing.T, env ChainEnv)
		}{
			{"Chain/EveryEventLinked", 1, testEveryEventLinked},
			{"Chain/FailedWritesLeaveNoGap", 1, testFailedWritesNoGap},
			{"Chain/RetriedBatchLinkedOnce", 1, testRetriedBatchLinkedOnce},
			{"Chain/ConcurrentWriters", 3, testConcurrentChainWriters},
			{"Verify/TamperedLargeLog", 3, testTamperedLargeLog},
			{"Purge/AnchorKeepsChainVerifiable", 2, testPurgeAnchors},
			{"Purge/StopsAtFirstRecentEvent", 1, testPurgeStopsAtRecent},
			{"Purge/ConcurrentWithWriters", 2, testConcurrentPurge},
			{"Purge/TamperAfterPurge", 1, testTamperAfterPurge},
		}
		tests = append(tests, keyedTests...)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, open(t, tc.writers))
			})
		}
	}
}

// fixedClock is a clock stopped at a time.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// auditLog returns the audit-log use cases over w, verifying with ks, at
// time now.
func auditLog(t *testing.T, ks audit.ChainKeys, w ChainWriter, now time.Time) *auditlog.Service {
	t.Helper()
	al, err := auditlog.New(auditlog.Deps{Events: w, Chains: w, Keys: w, Clock: fixedClock{now}, Entropy: rand.Reader, ChainKeys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return al
}

// verifyLog verifies the whole log with ks.
func verifyLog(t *testing.T, ks audit.ChainKeys, w ChainWriter) auditlog.VerifyReport {
	t.Helper()
	rep, err := auditLog(t, ks, w, time.Now()).VerifyChains(context.Background(), nil)
	if err != nil {
		t.Fatalf("VerifyChains: %v", err)
	}
	return rep
}

func wantVerified(t *testing.T, ks audit.ChainKeys, w ChainWriter, chains int, events int64) {
	t.Helper()
	rep := verifyLog(t, ks, w)
	for _, r := range rep.Chains {
		for _, p := range r.Problems {
			t.Errorf("unexpected problem: %s", p)
		}
	}
	if len(rep.Chains) != chains || rep.Events != events {
		t.Errorf("verified %d chains, %d events; want %d chains, %d events", len(rep.Chains), rep.Events, chains, events)
	}
}

// chainRecords reads every chain and its records from one snapshot.
func chainRecords(t *testing.T, w ChainWriter) (map[string]audit.Chain, map[string][]audit.Record) {
	t.Helper()
	chains := map[string]audit.Chain{}
	recs := map[string][]audit.Record{}
	ctx := context.Background()
	err := w.ReadChains(ctx, func(snap ports.ChainSnapshot) error {
		cs, err := snap.Chains(ctx)
		if err != nil {
			return err
		}
		for _, c := range cs {
			chains[c.ID] = c
			for r, err := range snap.Records(ctx, c.ID, c.AnchorSeq) {
				if err != nil {
					return err
				}
				recs[c.ID] = append(recs[c.ID], r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ReadChains: %v", err)
	}
	return chains, recs
}

// onlyChain returns the one chain of the log and its records.
func onlyChain(t *testing.T, w ChainWriter) (audit.Chain, []audit.Record) {
	t.Helper()
	chains, recs := chainRecords(t, w)
	if len(chains) != 1 {
		t.Fatalf("%d chains, want 1", len(chains))
	}
	for id, c := range chains {
		return c, recs[id]
	}
	panic("unreachable")
}

// checkLinks checks by hand what verification checks: a chain keyed from
// its first event with the current key of ks, its registry entry sealed;
// contiguous seqs from the anchor, each link naming its predecessor, each
// hash recomputable, the registry's head naming the last event.
func checkLinks(t *testing.T, ks audit.ChainKeys, c audit.Chain, recs []audit.Record) {
	t.Helper()
	key := ks.Current()
	if c.KeyID != key.ID() || c.KeyedFrom != 1 || c.HeadSeal != c.ComputeHeadSeal(key) || c.AnchorSeal != c.ComputeAnchorSeal(key) {
		t.Fatalf("chain %s: key %s keyed from %d, seals %s %s; want key %s from seq 1, sealed", c.ID, c.KeyID, c.KeyedFrom, c.HeadSeal, c.AnchorSeal, key.ID())
	}
	prevID, prevHash, seq := c.AnchorID, c.AnchorHash, c.AnchorSeq
	for _, r := range recs {
		seq++
		l := r.Link
		switch {
		case l.ChainID != c.ID:
			t.Fatalf("event %s: chain %q, want %q", r.Event.ID, l.ChainID, c.ID)
		case l.Seq != seq:
			t.Fatalf("event %s: seq %d, want %d", r.Event.ID, l.Seq, seq)
		case l.PrevID != prevID || l.PrevHash != prevHash:
			t.Fatalf("event %s (seq %d) links to %s %s, want %s %s", r.Event.ID, l.Seq, l.PrevID, l.PrevHash, prevID, prevHash)
		case r.HashV2(key) != l.Hash || len(l.Hash) != 64:
			t.Fatalf("event %s (seq %d): stored hash %s, computed %s", r.Event.ID, l.Seq, l.Hash, r.HashV2(key))
		}
		prevID, prevHash = r.Event.ID, l.Hash
	}
	if c.HeadSeq != seq || c.HeadID != prevID || c.HeadHash != prevHash {
		t.Fatalf("registry head %d %s %s, want %d %s %s", c.HeadSeq, c.HeadID, c.HeadHash, seq, prevID, prevHash)
	}
}

func recordIDs(recs []audit.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Event.ID
	}
	return out
}

func testEveryEventLinked(t *testing.T, env ChainEnv) {
	w := env.Writers[0]
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	created := create(t, w, k)
	used := []audit.Event{
		useEvent(audit.ActionKeyUsed, k, at(time.Minute), "ok"),
		useEvent(audit.ActionKeyAuthFailed, k, at(2*time.Minute), "scope_denied"),
	}
	used[0].Details = map[string]any{"n": float64(1), "s": "é \"q\" <b>"}
	appendUsage(t, w, used...)
	rotated := keyEvent(audit.ActionKeyRotated, k, at(time.Hour))
	if _, err := w.RotateKey(ctx, rotation(k, 1, at(time.Hour)), rotated); err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	revoked := keyEvent(audit.ActionKeyRevoked, k, at(2*time.Hour))
	if _, err := w.RevokeKey(ctx, k.ID, at(2*time.Hour), revoked); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	anon := audit.Event{ID: newEventID(), Time: at(3 * time.Hour), Actor: "anonymous", Action: audit.ActionKeyAuthFailed, Outcome: "unknown"}
	appendUsage(t, w, anon)

	c, recs := onlyChain(t, w)
	want := []string{created.ID, used[0].ID, used[1].ID, rotated.ID, revoked.ID, anon.ID}
	if got := recordIDs(recs); !slices.Equal(got, want) {
		t.Fatalf("chain order %v, want %v", got, want)
	}
	checkLinks(t, env.Keys, c, recs)
	if !strings.HasPrefix(c.ID, audit.ChainIDPrefix) || !c.Registered || c.Writer == "" || c.CreatedAt.IsZero() {
		t.Errorf("chain registry entry %+v", c)
	}
	checkEvent(t, "chained usage event", recs[1].Event, withoutDetails(used[0]))
	if recs[1].RawDetails == "" || recs[0].RawDetails == "" || recs[5].RawDetails != "" {
		t.Errorf("raw details %q, %q, %q; want the stored JSON, empty without details", recs[1].RawDetails, recs[0].RawDetails, recs[5].RawDetails)
	}
	wantVerified(t, env.Keys, w, 1, int64(len(want)))
}

func withoutDetails(ev audit.Event) audit.Event {
	ev.Details = nil
	return ev
}

func testFailedWritesNoGap(t *testing.T, env ChainEnv) {
	w := env.Writers[0]
	ctx := context.Background()
	k := newKey(newOrgID(), at(0))
	first := create(t, w, k)

	// A rotation that loses its version check, a create whose lookup or
	// event id is taken, and a batch whose context is gone: each rolls
	// back and must leave the chain as it was.
	if _, err := w.RotateKey(ctx, rotation(k, 7, at(time.Hour)), keyEvent(audit.ActionKeyRotated, k, at(time.Hour))); err == nil {
		t.Fatal("stale rotation succeeded")
	}
	dup := newKey(k.OrganizationID, at(time.Second))
	dup.Lookup = k.Lookup
	if err := w.CreateKey(ctx, dup, keyEvent(audit.ActionKeyCreated, dup, dup.CreatedAt)); err == nil {
		t.Fatal("create with a taken lookup succeeded")
	}
	other := newKey(k.OrganizationID, at(2*time.Second))
	ev := keyEvent(audit.ActionKeyCreated, other, other.CreatedAt)
	ev.ID = first.ID
	if err := w.CreateKey(ctx, other, ev); err == nil {
		t.Fatal("create with a taken event id succeeded")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.AppendUsage(canceled, []audit.Event{useEvent(audit.ActionKeyUsed, k, at(time.Minute), "ok")}); err == nil {
		t.Fatal("AppendUsage with a canceled context succeeded")
	}
	if _, err := w.RevokeKey(ctx, newKeyID(), at(time.Hour), keyEvent(audit.ActionKeyRevoked, k, at(time.Hour))); err == nil {
		t.Fatal("revoking a missing key succeeded")
	}

	next := useEvent(audit.ActionKeyUsed, k, at(time.Minute), "ok")
	appendUsage(t, w, next)
	create(t, w, other)
	c, recs := onlyChain(t, w)
	checkLinks(t, env.Keys, c, recs)
	if len(recs) != 3 || recs[1].Event.ID != next.ID {
		t.Fatalf("chain %v, want the first create, the usage event and the second create", recordIDs(recs))
	}
	wantVerified(t, env.Keys, w, 1, 3)
}

func testRetriedBatchLinkedOnce(t *testing.T, env ChainEnv) {
	w := env.Writers[0]
	k := newKey(newOrgID(), at(0))
	create(t, w, k)
	batch := []audit.Event{
		useEvent(audit.ActionKeyUsed, k, at(time.Minute), "ok"),
		useEvent(audit.ActionKeyUsed, k, at(2*time.Minute), "ok"),
	}
	appendUsage(t, w, batch...)
	again := append(slices.Clone(batch), useEvent(audit.ActionKeyUsed, k, at(3*time.Minute), "ok"))
	again = append(again, again[2]) // the same event twice in one batch
	appendUsage(t, w, again...)
	c, recs := onlyChain(t, w)
	checkLinks(t, env.Keys, c, recs)
	if len(recs) != 4 || recs[3].Event.ID != again[2].ID {
		t.Fatalf("chain %v, want the create and three usage events once each", recordIDs(recs))
	}
}

func testConcurrentChainWriters(t *testing.T, env ChainEnv) {
	ctx := context.Background()
	org := newOrgID()
	const batches, size, creates = 8, 40, 4
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for _, w := range env.Writers {
		k := newKey(org, at(0))
		create(t, w, k)
		wg.Go(func() {
			for b := range batches {
				evs := make([]audit.Event, size)
				for i := range evs {
					evs[i] = useEvent(audit.ActionKeyUsed, k, at(time.Duration(b*size+i)*time.Millisecond), "ok")
				}
				if err := w.AppendUsage(ctx, evs); err != nil {
					errs <- err
				}
			}
		})
		wg.Go(func() {
			for i := range creates {
				nk := newKey(org, at(time.Duration(i)*time.Second))
				if err := w.CreateKey(ctx, nk, keyEvent(audit.ActionKeyCreated, nk, nk.CreatedAt)); err != nil {
					errs <- err
					continue
				}
				if _, err := w.RotateKey(ctx, rotation(nk, 1, at(time.Hour)), keyEvent(audit.ActionKeyRotated, nk, at(time.Hour))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	chains, recs := chainRecords(t, env.Writers[0])
	if len(chains) != len(env.Writers) {
		t.Fatalf("%d chains, want one per writer (%d)", len(chains), len(env.Writers))
	}
	perWriter := int64(1 + batches*size + 2*creates)
	for id, c := range chains {
		checkLinks(t, env.Keys, c, recs[id])
		if int64(len(recs[id])) != perWriter {
			t.Errorf("chain %s: %d events, want %d", id, len(recs[id]), perWriter)
		}
	}
	wantVerified(t, env.Keys, env.Writers[1], len(env.Writers), perWriter*int64(len(env.Writers)))
}

// problemKey identifies a problem in assertions.
type problemKey struct {
	Kind    audit.ProblemKind
	ChainID string
	Seq     int64
	EventID string
}

func problemKeys(rep auditlog.VerifyReport) []problemKey {
	var out []problemKey
	for _, r := range rep.Chains {
		for _, p := range r.Problems {
			out = append(out, problemKey{p.Kind, p.ChainID, p.Seq, p.EventID})
		}
	}
	slices.SortFunc(out, func(a, b problemKey) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	})
	return out
}

// buildLog writes about n usage events spread over the writers' chains,
// with a key creation at the start of each chain.
func buildLog(t *testing.T, env ChainEnv, n int) {
	t.Helper()
	org := newOrgID()
	const batch = 200
	ks := make([]apikey.Key, len(env.Writers))
	for i, w := range env.Writers {
		ks[i] = newKey(org, at(0))
		create(t, w, ks[i])
	}
	for b := 0; b*batch < n; b++ {
		i := b % len(env.Writers)
		evs := make([]audit.Event, 0, batch)
		for j := 0; j < batch && b*batch+j < n; j++ {
			ev := useEvent(audit.ActionKeyUsed, ks[i], at(time.Duration(b*batch+j)*time.Millisecond), "ok")
			ev.Details = map[string]any{"i": float64(b*batch + j)}
			evs = append(evs, ev)
		}
		appendUsage(t, env.Writers[i], evs...)
	}
}

// testTamperedLargeLog builds a log of 5,000 events over three chains,
// tampers with it in every way and checks that verification reports each
// change, with the right chain, seq and event id, and nothing else.
func testTamperedLargeLog(t *testing.T, env ChainEnv) {
	buildLog(t, env, 5000)
	w := env.Writers[0]
	wantVerified(t, env.Keys, w, 3, 5003)
	chains, recs := chainRecords(t, w)
	ids := make([]string, 0, 3)
	for id := range chains {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	a, b, c := ids[0], ids[1], ids[2]
	for _, id := range ids {
		if len(recs[id]) < 1600 {
			t.Fatalf("chain %s has %d events; the fixture needs 1600", id, len(recs[id]))
		}
	}
	rec := func(chain string, seq int64) audit.Record { return recs[chain][seq-1] }
	var want []problemKey

	// Modified: a field changed, the hash left alone.
	m := rec(a, 1234)
	env.Exec(t, "UPDATE audit_events SET client_ip = ? WHERE id = ?", "10.66.6.6", m.Event.ID)
	want = append(want, problemKey{audit.ProblemModified, a, 1234, m.Event.ID})

	// Modified and rehashed, even with the chain key: the next event's
	// link gives it away.
	r := rec(a, 321)
	r.Event.Path = "/v1/nothing-to-see"
	env.Exec(t, "UPDATE audit_events SET path = ?, hash = ? WHERE id = ?", r.Event.Path, r.HashV2(env.Keys.Current()), r.Event.ID)
	want = append(want, problemKey{audit.ProblemModified, a, 321, r.Event.ID})

	// Deleted: one event in the middle, and the last one.
	d := rec(b, 777)
	env.Exec(t, "DELETE FROM audit_events WHERE id = ?", d.Event.ID)
	want = append(want, problemKey{audit.ProblemDeleted, b, 777, d.Event.ID})
	last := recs[b][len(recs[b])-1]
	env.Exec(t, "DELETE FROM audit_events WHERE id = ?", last.Event.ID)
	want = append(want, problemKey{audit.ProblemDeleted, b, last.Link.Seq, last.Event.ID})

	// Reordered: two events swap places.
	x, y := rec(c, 100), rec(c, 1500)
	env.Exec(t, "UPDATE audit_events SET seq = ? WHERE id = ?", -1, x.Event.ID)
	env.Exec(t, "UPDATE audit_events SET seq = ? WHERE id = ?", 100, y.Event.ID)
	env.Exec(t, "UPDATE audit_events SET seq = ? WHERE id = ?", 1500, x.Event.ID)
	want = append(want, problemKey{audit.ProblemReordered, c, 100, y.Event.ID}, problemKey{audit.ProblemReordered, c, 1500, x.Event.ID})

	// Inserted: a well-formed event appended after the registered head,
	// even with the chain key.
	tail := recs[c][len(recs[c])-1]
	forged := tail
	forged.Event.ID = newEventID()
	forged.Link = audit.Link{ChainID: c, Seq: tail.Link.Seq + 1, PrevID: tail.Event.ID, PrevHash: tail.Link.Hash}
	forged.Link.Hash = forged.HashV2(env.Keys.Current())
	env.Exec(t, `INSERT INTO audit_events (id, occurred_at, organization_id, actor, action, key_id, request_id, client_request_id,
		trace_id, method, path, client_ip, user_agent, status, outcome, scope, details, chain_id, seq, prev_id, prev_hash, hash)
		SELECT ?, occurred_at, organization_id, actor, action, key_id, request_id, client_request_id, trace_id, method, path, client_ip,
		user_agent, status, outcome, scope, details, chain_id, ?, ?, ?, ? FROM audit_events WHERE id = ?`,
		forged.Event.ID, forged.Link.Seq, forged.Link.PrevID, forged.Link.PrevHash, forged.Link.Hash, tail.Event.ID)
	want = append(want, problemKey{audit.ProblemInserted, c, forged.Link.Seq, forged.Event.ID})

	rep := verifyLog(t, env.Keys, w)
	slices.SortFunc(want, func(p, q problemKey) int { return strings.Compare(fmt.Sprint(p), fmt.Sprint(q)) })
	if got := problemKeys(rep); !slices.Equal(got, want) {
		t.Errorf("problems:\n  got  %v\n  want %v", got, want)
		for _, r := range rep.Chains {
			for _, p := range r.Problems {
				t.Logf("  %s", p)
			}
		}
	}
	if rep.OK() || rep.Events != 5003-2+1 {
		t.Errorf("report OK=%v with %d events, want not OK with %d", rep.OK(), rep.Events, 5003-2+1)
	}
}

// timedLog writes n usage events per writer, event i at base+i minutes,
// after one key creation at base.
func timedLog(t *testing.T, env ChainEnv, n int, from time.Duration) {
	t.Helper()
	org := newOrgID()
	for _, w := range env.Writers {
		k := newKey(org, at(from))
		create(t, w, k)
		evs := make([]audit.Event, n)
		for i := range evs {
			evs[i] = useEvent(audit.ActionKeyUsed, k, at(from+time.Duration(i)*time.Minute), "ok")
		}
		appendUsage(t, w, evs...)
	}
}

func purge(t *testing.T, w ChainWriter, before time.Time) []ports.ChainCut {
	t.Helper()
	cuts, err := w.PurgeBefore(context.Background(), before)
	if err != nil {
		t.Fatalf("PurgeBefore(%s): %v", before.Format(time.RFC3339), err)
	}
	return cuts
}

func testPurgeAnchors(t *testing.T, env ChainEnv) {
	w := env.Writers[0]
	timedLog(t, env, 100, 0) // per chain: seq 1 the create at 0, seq 2..101 uses at 0..99 min
	wantVerified(t, env.Keys, w, 2, 202)
	if cuts := purge(t, w, base.Add(-time.Hour)); len(cuts) != 0 {
		t.Fatalf("purge before every event cut %+v", cuts)
	}

	// Events before minute 50: the create and the uses at 0..49 minutes.
	cuts := purge(t, w, at(50*time.Minute))
	if len(cuts) != 2 {
		t.Fatalf("cuts %+v, want one per chain", cuts)
	}
	chains, recs := chainRecords(t, w)
	for _, cut := range cuts {
		c := chains[cut.ChainID]
		if cut.FromSeq != 1 || cut.ThroughSeq != 51 || cut.Deleted != 51 || c.AnchorSeq != 51 ||
			c.AnchorID != cut.AnchorID || c.AnchorHash != cut.AnchorHash || c.AnchorTime == nil || c.PurgedAt == nil {
			t.Errorf("cut %+v, chain %+v", cut, c)
		}
		if len(recs[c.ID]) != 50 || recs[c.ID][0].Link.PrevID != c.AnchorID {
			t.Errorf("chain %s keeps %d events after the anchor", c.ID, len(recs[c.ID]))
		}
		checkLinks(t, env.Keys, c, recs[c.ID])
	}
	wantVerified(t, env.Keys, w, 2, 100)
	if evs := allEvents(t, w, ports.AuditQuery{OrganizationIDs: []string{recs[cuts[0].ChainID][0].Event.OrganizationID}}, 200); len(evs) != 100 {
		t.Errorf("listed %d events after the purge, want 100", len(evs))
	}

	// The writers go on after a purge, and a purge of everything leaves
	// chains that still verify and accept more events.
	timedLog(t, env, 10, 200*time.Minute)
	wantVerified(t, env.Keys, w, 2, 122)
	cuts = purge(t, w, at(1000*time.Minute))
	var deleted int64
	for _, c := range cuts {
		deleted += c.Deleted
	}
	if deleted != 122 {
		t.Errorf("purge of everything deleted %d events, want 122", deleted)
	}
	wantVerified(t, env.Keys, w, 2, 0)
	timedLog(t, env, 3, 2000*time.Minute)
	wantVerified(t, env.Keys, w, 2, 8)
}

func testPurgeStopsAtRecent(t *testing.T, env ChainEnv) {
	w := env.Writers[0]
	k := newKey(newOrgID(), at(0))
	create(t, w, k)
	appendUsage(t, w,
		useEvent(audit.ActionKeyUsed, k, at(time.Minute), "ok"),
		useEvent(audit.ActionKeyUsed, k, at(time.Hour), "ok"), // recent: the cut stops before it
		useEvent(audit.ActionKeyUsed, k, at(2*time.Minute), "ok"),
	)
	cuts := purge(t, w, at(30*time.Minute))
	if len(cuts) != 1 || cuts[0].ThroughSeq != 2 || cuts[0].Deleted != 2 {
		t.Fatalf("cuts %+v, want seq 1 to 2 deleted", cuts)
	}
	wantVerified(t, env.Keys, w, 1, 2)
}

func testConcurrentPurge(t *testing.T, env ChainEnv) {
	timedLog(t, env, 300, 0)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var deleted int64
	errs := make(chan error, 8)
	for range 3 {
		for _, w := range env.Writers {
			wg.Go(func() {
				cuts, err := w.PurgeBefore(ctx, at(150*time.Minute))
				if err != nil {
					errs <- err
				}
				mu.Lock()
				defer mu.Unlock()
				for _, c := range cuts {
					deleted += c.Deleted
				}
			})
		}
	}
	org := newOrgID()
	for _, w := range env.Writers {
		k := newKey(org, at(time.Hour))
		create(t, w, k)
		wg.Go(func() {
			for b := range 5 {
				evs := make([]audit.Event, 20)
				for i := range evs {
					evs[i] = useEvent(audit.ActionKeyUsed, k, at(1000*time.Minute+time.Duration(b*20+i)*time.Second), "ok")
				}
				if err := w.AppendUsage(ctx, evs); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent purge or append: %v", err)
	}
	// Per chain: the create and 150 uses before minute 150 go.
	if deleted != 2*151 {
		t.Errorf("deleted %d events in all, want %d (each cut once)", deleted, 2*151)
	}
	wantVerified(t, env.Keys, env.Writers[0], 2, 2*(301-151+1+100))
}

func testTamperAfterPurge(t *testing.T, env ChainEnv) {
	w := env.Writers[0]
	timedLog(t, env, 20, 0)
	cuts := purge(t, w, at(10*time.Minute))
	if len(cuts) != 1 {
		t.Fatalf("cuts %+v", cuts)
	}
	cut := cuts[0]
	c, recs := onlyChain(t, w)

	// The first event after the anchor goes: a deletion at anchor+1.
	first := recs[0]
	env.Exec(t, "DELETE FROM audit_events WHERE id = ?", first.Event.ID)
	rep := verifyLog(t, env.Keys, w)
	want := []problemKey{{audit.ProblemDeleted, c.ID, cut.ThroughSeq + 1, first.Event.ID}}
	if got := problemKeys(rep); !slices.Equal(got, want) {
		t.Errorf("after deleting the first event past the anchor: %v, want %v", got, want)
	}

	// A forged anchor hides nothing: the next event's link no longer fits.
	env.Exec(t, "UPDATE audit_chains SET anchor_seq = ?, anchor_id = ?, anchor_hash = ? WHERE chain_id = ?",
		first.Link.Seq, first.Event.ID, strings.Repeat("0", 64), c.ID)
	rep = verifyLog(t, env.Keys, w)
	want = []problemKey{{audit.ProblemModified, c.ID, first.Link.Seq, first.Event.ID}}
	if got := problemKeys(rep); !slices.Equal(got, want) {
		t.Errorf("after forging the anchor: %v, want %v", got, want)
	}
}
