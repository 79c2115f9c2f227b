package audit

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// testKeys are the keys the tests' chains are written with.
var testKeys, _ = NewChainKeys([]byte("test-audit-chain-key-0123456789abcdef"))

// testKey is the key of every chain buildChain returns.
var testKey = testKeys.Current()

// buildChain returns n linked records of chain "chn_T", keyed from its
// first event with testKey, and its sealed registry entry.
func buildChain(n int) (Chain, []Record) {
	recs := make([]Record, n)
	prevID, prevHash := "", ""
	for i := range recs {
		r := Record{
			Event: Event{ID: fmt.Sprintf("evt_%04d", i+1), Time: time.Unix(int64(i), 0).UTC(), Action: ActionKeyUsed, Outcome: "ok"},
			Link:  Link{ChainID: "chn_T", Seq: int64(i + 1), PrevID: prevID, PrevHash: prevHash},
		}
		r.Link.Hash = r.HashV2(testKey)
		recs[i] = r
		prevID, prevHash = r.Event.ID, r.Link.Hash
	}
	last := recs[n-1]
	c := Chain{ID: "chn_T", Registered: true, KeyedFrom: 1, HeadSeq: last.Link.Seq, HeadID: last.Event.ID, HeadHash: last.Link.Hash}
	c.Seal(testKey)
	return c, recs
}

// rehashV1 relinks recs from index i on with unkeyed hashes, as someone
// without the chain key would, and returns the new head.
func rehashV1(recs []Record, i int) Record {
	for ; i < len(recs); i++ {
		if i > 0 {
			recs[i].Link.PrevID, recs[i].Link.PrevHash = recs[i-1].Event.ID, recs[i-1].Link.Hash
		}
		recs[i].Link.Hash = recs[i].HashV1()
	}
	return recs[len(recs)-1]
}

func run(c Chain, recs []Record) ChainResult { return runWith(testKeys, c, recs) }

func runWith(keys ChainKeys, c Chain, recs []Record) ChainResult {
	v := NewChainVerifier(c, keys)
	sorted := slices.Clone(recs)
	slices.SortStableFunc(sorted, func(a, b Record) int { return int(a.Link.Seq - b.Link.Seq) })
	for _, r := range sorted {
		if c.ID == "" || r.Link.Seq > c.AnchorSeq {
			v.Add(r)
		}
	}
	return v.Finish()
}

func summary(res ChainResult) []string {
	var out []string
	for _, p := range res.Problems {
		s := fmt.Sprintf("%s %d %s", p.Kind, p.Seq, p.EventID)
		if p.LastSeq != p.Seq {
			s = fmt.Sprintf("%s %d-%d %s", p.Kind, p.Seq, p.LastSeq, p.EventID)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestVerifierFindsEachTampering(t *testing.T) {
	// These changes are made with the chain key (by its holder): they are
	// found by the chain's structure, not by the key.
	rehash := func(r *Record) { r.Link.Hash = r.HashV2(testKey) }
	cases := []struct {
		name   string
		tamper func(c *Chain, recs []Record) []Record
		want   []string
	}{
		{"intact", func(_ *Chain, r []Record) []Record { return r }, nil},
		{"modified", func(_ *Chain, r []Record) []Record { r[4].Event.ClientIP = "x"; return r }, []string{"modified 5 evt_0005"}},
		{"modified and rehashed", func(_ *Chain, r []Record) []Record { r[4].Event.Path = "x"; rehash(&r[4]); return r },
			[]string{"modified 5 evt_0005"}},
		{"last modified and rehashed", func(_ *Chain, r []Record) []Record { r[19].Event.Path = "x"; rehash(&r[19]); return r },
			[]string{"modified 20 evt_0020"}},
		{"first deleted", func(_ *Chain, r []Record) []Record { return r[1:] }, []string{"deleted 1 evt_0001"}},
		{"middle run deleted", func(_ *Chain, r []Record) []Record { return slices.Delete(r, 5, 9) }, []string{"deleted 6-9 evt_0009"}},
		{"last deleted", func(_ *Chain, r []Record) []Record { return r[:19] }, []string{"deleted 20 evt_0020"}},
		{"everything deleted", func(_ *Chain, r []Record) []Record { return nil }, []string{"deleted 1-20 evt_0020"}},
		{"adjacent swap", func(_ *Chain, r []Record) []Record {
			r[6].Link.Seq, r[7].Link.Seq = 8, 7
			return r
		}, []string{"reordered 7 evt_0008", "reordered 8 evt_0007"}},
		{"far swap", func(_ *Chain, r []Record) []Record {
			r[1].Link.Seq, r[15].Link.Seq = 16, 2
			return r
		}, []string{"reordered 16 evt_0002", "reordered 2 evt_0016"}},
		{"rotation of three", func(_ *Chain, r []Record) []Record {
			r[2].Link.Seq, r[3].Link.Seq, r[4].Link.Seq = 4, 5, 3
			return r
		}, []string{"reordered 3 evt_0005", "reordered 4 evt_0003", "reordered 5 evt_0004"}},
		{"moved into a gap", func(c *Chain, r []Record) []Record {
			r[10].Link.Seq = 40 // past the head: moved and also beyond it
			return r
		}, []string{"reordered 40 evt_0011"}},
		{"appended after the head", func(_ *Chain, r []Record) []Record {
			extra := Record{Event: Event{ID: "evt_forged"}, Link: Link{ChainID: "chn_T", Seq: 21, PrevID: r[19].Event.ID, PrevHash: r[19].Link.Hash}}
			rehash(&extra)
			return append(r, extra)
		}, []string{"inserted 21 evt_forged"}},
		{"duplicate seq", func(_ *Chain, r []Record) []Record {
			dup := r[3]
			dup.Event.ID = "evt_dup"
			return append(r, dup)
		}, []string{"inserted 4 evt_dup"}},
		{"registry head rewound", func(c *Chain, r []Record) []Record {
			c.HeadSeq, c.HeadID, c.HeadHash = 18, r[17].Event.ID, r[17].Link.Hash
			c.Seal(testKey)
			return r
		}, []string{"inserted 19-20 evt_0019"}},
		{"registry head hash forged", func(c *Chain, r []Record) []Record { c.HeadHash = "00"; c.Seal(testKey); return r },
			[]string{"modified 20 evt_0020"}},
		{"unregistered chain", func(c *Chain, r []Record) []Record { c.Registered = false; return r },
			[]string{"inserted 1-20 "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, recs := buildChain(20)
			recs = tc.tamper(&c, recs)
			res := run(c, recs)
			if got := summary(res); !slices.Equal(got, tc.want) {
				t.Errorf("problems %q, want %q", got, tc.want)
				for _, p := range res.Problems {
					t.Log(p)
				}
			}
		})
	}
}

func TestVerifierFromAnchor(t *testing.T) {
	c, recs := buildChain(20)
	c.AnchorSeq, c.AnchorID, c.AnchorHash = 8, recs[7].Event.ID, recs[7].Link.Hash
	c.Seal(testKey)
	if got := summary(run(c, recs[8:])); got != nil {
		t.Fatalf("purged through seq 8: %q", got)
	}
	if got := summary(run(c, recs[9:])); !slices.Equal(got, []string{"deleted 9 evt_0009"}) {
		t.Errorf("first event after the anchor deleted: %q", got)
	}
	forged := c
	forged.AnchorHash = strings.Repeat("0", 64)
	if got := summary(run(forged, recs[8:])); !slices.Equal(got, []string{"modified 8 evt_0008"}) {
		t.Errorf("forged anchor: %q", got)
	}
	all := c
	all.AnchorSeq, all.AnchorID, all.AnchorHash = 20, c.HeadID, c.HeadHash
	all.Seal(testKey)
	if got := summary(run(all, nil)); got != nil {
		t.Errorf("purged up to the head: %q", got)
	}
	all.AnchorHash = "1"
	all.Seal(testKey)
	if got := summary(run(all, nil)); !slices.Equal(got, []string{"modified 20 evt_0020"}) {
		t.Errorf("purged up to the head, anchor differs from head: %q", got)
	}
}

func TestVerifierNoChain(t *testing.T) {
	res := run(Chain{}, []Record{{Event: Event{ID: "evt_loose"}}})
	if got := summary(res); !slices.Equal(got, []string{"inserted 0 evt_loose"}) {
		t.Errorf("an event of no chain: %q", got)
	}
}

func TestVerifierCapsProblems(t *testing.T) {
	c, recs := buildChain(MaxProblems + 50)
	for i := range recs {
		recs[i].Event.Path = "x"
	}
	res := run(c, recs)
	if len(res.Problems) != MaxProblems || res.Omitted != 50 || res.OK() {
		t.Errorf("%d problems listed, %d omitted; want %d and 50", len(res.Problems), res.Omitted, MaxProblems)
	}
}

// TestVerifierNamesExactPlace checks the kind, seq range, event and cause
// of the findings that follow links across a chain's edges: the purge
// anchor, the first event and the registered head.
func TestVerifierNamesExactPlace(t *testing.T) {
	// Each change is made with the chain key, so that only the chain's
	// structure shows it.
	rehashFrom := func(recs []Record, i int) {
		for ; i < len(recs); i++ {
			if i > 0 {
				recs[i].Link.PrevID, recs[i].Link.PrevHash = recs[i-1].Event.ID, recs[i-1].Link.Hash
			}
			recs[i].Link.Hash = recs[i].HashV2(testKey)
		}
	}
	forged := func(recs []Record, seq int64, prevID, prevHash string) Record {
		r := Record{Event: Event{ID: "evt_forged", Action: ActionKeyUsed}, Link: Link{ChainID: "chn_T", Seq: seq, PrevID: prevID, PrevHash: prevHash}}
		r.Link.Hash = r.HashV2(testKey)
		return r
	}
	cases := []struct {
		name   string
		tamper func(c *Chain, recs []Record) []Record
		want   []Problem
	}{
		{"first event links to a predecessor", func(c *Chain, r []Record) []Record {
			// Everything rehashed and the registry's head updated: only
			// the first link still shows it.
			r[0].Link.PrevID, r[0].Link.PrevHash = "evt_ghost", strings.Repeat("f", 64)
			rehashFrom(r, 0)
			c.HeadHash = r[19].Link.Hash
			c.Seal(testKey)
			return r
		}, []Problem{{Kind: ProblemModified, Seq: 1, LastSeq: 1, EventID: "evt_0001", Message: "the first event of the chain links to a predecessor"}}},
		{"rewritten purge anchor", func(c *Chain, r []Record) []Record {
			c.AnchorSeq, c.AnchorID, c.AnchorHash = 8, r[7].Event.ID, strings.Repeat("0", 64)
			c.Seal(testKey)
			return r[8:]
		}, []Problem{{Kind: ProblemModified, Seq: 8, LastSeq: 8, EventID: "evt_0008", Message: "the purge anchor does not match the link recorded by the next event evt_0009 (seq 9)"}}},
		{"rewritten event after a purge anchor", func(c *Chain, r []Record) []Record {
			c.AnchorSeq, c.AnchorID, c.AnchorHash = 8, r[7].Event.ID, r[7].Link.Hash
			c.Seal(testKey)
			r[11].Event.Actor = "user:mallory"
			r[11].Link.Hash = r[11].HashV2(testKey)
			return r[8:]
		}, []Problem{{Kind: ProblemModified, Seq: 12, LastSeq: 12, EventID: "evt_0012", Message: "the event was rewritten with a recomputed hash: the next event evt_0013 (seq 13) recorded a different hash for it"}}},
		{"gap at the registered head", func(c *Chain, r []Record) []Record {
			return append(r[:19], forged(r, 21, r[19].Event.ID, r[19].Link.Hash))
		}, []Problem{
			{Kind: ProblemDeleted, Seq: 20, LastSeq: 20, EventID: "evt_0020", Message: "the event at seq 20 is missing"},
			{Kind: ProblemInserted, Seq: 21, LastSeq: 21, EventID: "evt_forged", Message: "1 events after the registered head (seq 20) were not appended by the chain's writer"},
		}},
		{"gap ending at the registered head", func(c *Chain, r []Record) []Record {
			// The event after the gap lies past the head: the registry,
			// not that event, names the last missing one.
			return append(r[:18], forged(r, 21, "evt_bogus", strings.Repeat("e", 64)))
		}, []Problem{
			{Kind: ProblemDeleted, Seq: 19, LastSeq: 20, EventID: "evt_0020", Message: "2 events (seq 19 to 20) are missing; the last of them was evt_0020"},
			{Kind: ProblemInserted, Seq: 21, LastSeq: 21, EventID: "evt_forged", Message: "1 events after the registered head (seq 20) were not appended by the chain's writer"},
		}},
		{"gap through the registered head", func(c *Chain, r []Record) []Record {
			return append(r[:18], forged(r, 23, "evt_bogus", strings.Repeat("e", 64)))
		}, []Problem{
			{Kind: ProblemDeleted, Seq: 19, LastSeq: 20, EventID: "evt_0020", Message: "2 events (seq 19 to 20) are missing; the last of them was evt_0020"},
			{Kind: ProblemInserted, Seq: 21, LastSeq: 23, EventID: "evt_forged", Message: "1 events after the registered head (seq 20) were not appended by the chain's writer"},
		}},
		{"events missing up to the registered head", func(c *Chain, r []Record) []Record { return r[:17] },
			[]Problem{{Kind: ProblemDeleted, Seq: 18, LastSeq: 20, EventID: "evt_0020", Message: "3 events (seq 18 to 20) are missing; the last of them was evt_0020"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, recs := buildChain(20)
			recs = tc.tamper(&c, recs)
			res := run(c, recs)
			wantProblems(t, res, tc.want)
		})
	}
}

// wantProblems checks res's problems, in any order, field by field.
func wantProblems(t *testing.T, res ChainResult, want []Problem) {
	t.Helper()
	key := func(p Problem) string {
		return fmt.Sprintf("%s %s %d-%d %s: %s", p.Kind, p.ChainID, p.Seq, p.LastSeq, p.EventID, p.Message)
	}
	var got, exp []string
	for _, p := range res.Problems {
		got = append(got, key(p))
	}
	for _, p := range want {
		if p.ChainID == "" {
			p.ChainID = res.Chain.ID
		}
		exp = append(exp, key(p))
	}
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		t.Errorf("problems\n  got  %q\n  want %q", got, exp)
	}
}

// Findings of the seals and the key, as wantProblems compares them.
const (
	msgUnkeyed    = "the event's link is an unkeyed SHA-256 hash where the chain is keyed (from seq %d): it was rewritten without the chain key"
	msgHeadSeal   = "the registry's head no longer matches its seal: the head, or the seq from which links are keyed, was rewritten without the chain key"
	msgAnchorSeal = "the registry's purge anchor no longer matches its seal: it was moved or rewritten without the chain key"
	msgUnsealed   = "the chain's registry entry is not sealed with a chain key: it was registered or rewritten by someone without the key (or by an apikeys version without keyed chains, after the upgrade to them)"
)

func unkeyed(keyedFrom int64, from, to int64, id func(int64) string) []Problem {
	var out []Problem
	for s := from; s <= to; s++ {
		out = append(out, Problem{Kind: ProblemModified, Seq: s, LastSeq: s, EventID: id(s), Message: fmt.Sprintf(msgUnkeyed, keyedFrom)})
	}
	return out
}

func evtID(s int64) string { return fmt.Sprintf("evt_%04d", s) }

// TestVerifierCatchesForgeryWithoutTheKey rewrites chains as someone who
// can write to the database but does not hold the chain key would: with
// plain SHA-256 links, recomputed registry heads, and the registry's
// format fields set back to unkeyed. Every attempt is found.
func TestVerifierCatchesForgeryWithoutTheKey(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(c *Chain, recs []Record) []Record
		want   []Problem
	}{
		{"actor changed, every later link and the head recomputed", func(c *Chain, r []Record) []Record {
			r[4].Event.Actor, r[4].Event.ClientIP = "user:someone-else", "198.51.100.1"
			head := rehashV1(r, 4)
			c.HeadHash = head.Link.Hash
			return r
		}, append(unkeyed(1, 5, 20, evtID), Problem{Kind: ProblemModified, Seq: 20, LastSeq: 20, EventID: "evt_0020", Message: msgHeadSeal})},
		{"key.revoked deleted, later events renumbered and relinked", func(c *Chain, r []Record) []Record {
			r = slices.Delete(r, 9, 10)
			for i := 9; i < len(r); i++ {
				r[i].Link.Seq--
			}
			head := rehashV1(r, 9)
			c.HeadSeq, c.HeadID, c.HeadHash = head.Link.Seq, head.Event.ID, head.Link.Hash
			return r
		}, append(unkeyed(1, 10, 19, func(s int64) string { return evtID(s + 1) }),
			Problem{Kind: ProblemModified, Seq: 19, LastSeq: 19, EventID: "evt_0020", Message: msgHeadSeal})},
		{"downgraded: every link unkeyed, the chain marked unkeyed", func(c *Chain, r []Record) []Record {
			head := rehashV1(r, 0)
			c.HeadHash, c.KeyedFrom = head.Link.Hash, 0
			return r
		}, []Problem{{Kind: ProblemModified, Seq: 20, LastSeq: 20, EventID: "evt_0020", Message: msgHeadSeal}}},
		{"downgraded: every link unkeyed, the registry entry unsealed", func(c *Chain, r []Record) []Record {
			head := rehashV1(r, 0)
			c.HeadHash, c.KeyedFrom, c.KeyID, c.HeadSeal = head.Link.Hash, 0, "", ""
			return r
		}, []Problem{{Kind: ProblemModified, Seq: 20, LastSeq: 20, EventID: "evt_0020", Message: msgUnsealed}}},
		{"keyed boundary moved past a rewritten link", func(c *Chain, r []Record) []Record {
			// The first 15 links rewritten unkeyed, the boundary moved
			// after them; the keyed link at 16 still names the old 15.
			r[14].Event.Path = "/elsewhere"
			rehashV1(r[:15], 0)
			c.KeyedFrom = 16
			return r
		}, []Problem{
			{Kind: ProblemModified, Seq: 20, LastSeq: 20, EventID: "evt_0020", Message: msgHeadSeal},
			{Kind: ProblemModified, Seq: 15, LastSeq: 15, EventID: "evt_0015", Message: "the event was rewritten with a recomputed hash: the next event evt_0016 (seq 16) recorded a different hash for it"},
		}},
		{"tail deleted, head rewound", func(c *Chain, r []Record) []Record {
			c.HeadSeq, c.HeadID, c.HeadHash = 17, r[16].Event.ID, r[16].Link.Hash
			return r[:17]
		}, []Problem{{Kind: ProblemModified, Seq: 17, LastSeq: 17, EventID: "evt_0017", Message: msgHeadSeal}}},
		{"oldest events deleted as if purged", func(c *Chain, r []Record) []Record {
			c.AnchorSeq, c.AnchorID, c.AnchorHash = 6, r[5].Event.ID, r[5].Link.Hash
			return r[6:]
		}, []Problem{{Kind: ProblemModified, Seq: 6, LastSeq: 6, EventID: "evt_0006", Message: msgAnchorSeal}}},
		{"registry entry re-sealed with another key", func(c *Chain, r []Record) []Record {
			other, _ := NewChainKeys([]byte("an-attacker-s-own-key-0123456789abcdef"))
			c.KeyID, c.HeadSeal = testKey.ID(), c.ComputeHeadSeal(other.Current())
			return r
		}, []Problem{{Kind: ProblemModified, Seq: 20, LastSeq: 20, EventID: "evt_0020", Message: msgHeadSeal}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, recs := buildChain(20)
			recs = tc.tamper(&c, recs)
			wantProblems(t, run(c, recs), tc.want)
		})
	}
}

// TestVerifierUnkeyedAndMixedChains checks chains from before keyed
// chains: their v1 links verify up to KeyedFrom, the seal made at the
// upgrade pins their head, and a v1 link at or after KeyedFrom is found.
func TestVerifierUnkeyedAndMixedChains(t *testing.T) {
	// v1 links for 1..10, v2 links from 11 on.
	mixed := func(keyedFrom int) (Chain, []Record) {
		c, recs := buildChain(20)
		rehashV1(recs[:keyedFrom-1], 0)
		for i := keyedFrom - 1; i < len(recs); i++ {
			recs[i].Link.PrevHash = recs[i-1].Link.Hash
			recs[i].Link.Hash = recs[i].HashV2(testKey)
		}
		c.KeyedFrom, c.HeadHash = int64(keyedFrom), recs[19].Link.Hash
		c.Seal(testKey)
		return c, recs
	}
	c, recs := mixed(11)
	wantProblems(t, run(c, recs), nil)

	// A chain the upgrade found: every link v1, keyed from past its head.
	c, recs = buildChain(20)
	head := rehashV1(recs, 0)
	c.KeyedFrom, c.HeadHash = 21, head.Link.Hash
	c.Seal(testKey)
	wantProblems(t, run(c, recs), nil)
	if c.Keyed(20) || !c.Keyed(21) {
		t.Error("Keyed disagrees with KeyedFrom")
	}

	// Its v1 links are pinned by the sealed head: rewriting one and every
	// later one shows at the head.
	forged := slices.Clone(recs)
	forged[3].Event.Actor = "user:nobody"
	c2 := c
	c2.HeadHash = rehashV1(forged, 3).Link.Hash
	wantProblems(t, run(c2, forged), []Problem{{Kind: ProblemModified, Seq: 20, LastSeq: 20, EventID: "evt_0020", Message: msgHeadSeal}})

	// An older writer appending unkeyed links after the upgrade, moving
	// the head: the links and the head are found.
	extra := Record{Event: Event{ID: "evt_0021", Action: ActionKeyUsed}, Link: Link{ChainID: "chn_T", Seq: 21, PrevID: head.Event.ID, PrevHash: head.Link.Hash}}
	extra.Link.Hash = extra.HashV1()
	c3 := c
	c3.HeadSeq, c3.HeadID, c3.HeadHash = 21, extra.Event.ID, extra.Link.Hash
	wantProblems(t, run(c3, append(slices.Clone(recs), extra)), []Problem{
		{Kind: ProblemModified, Seq: 21, LastSeq: 21, EventID: "evt_0021", Message: msgHeadSeal},
		{Kind: ProblemModified, Seq: 21, LastSeq: 21, EventID: "evt_0021", Message: fmt.Sprintf(msgUnkeyed, 21)},
	})

	// In a mixed chain, a link after the boundary rewritten unkeyed.
	c, recs = mixed(11)
	recs[14].Event.ClientIP = "10.1.1.1"
	recs[14].Link.Hash = recs[14].HashV1()
	wantProblems(t, run(c, recs), unkeyed(11, 15, 15, evtID))
}

// TestVerifierKeys checks that a chain verifies with the key it was
// written with, current or previous, and is reported whole, not event by
// event, when that key is not given.
func TestVerifierKeys(t *testing.T) {
	c, recs := buildChain(20)
	rotated, err := NewChainKeys([]byte("the-next-audit-chain-key-0123456789abc"), []byte("test-audit-chain-key-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, runWith(rotated, c, recs), nil)

	other, _ := NewChainKeys([]byte("the-next-audit-chain-key-0123456789abc"))
	wantProblems(t, runWith(other, c, recs), []Problem{{Kind: ProblemUnknownKey, Seq: 20, LastSeq: 20, EventID: "evt_0020",
		Message: fmt.Sprintf("the chain is sealed with chain key %s, but it is not one of the keys given (%s): its 20 events were not checked; it was written with another key, or rewritten under one", testKey.ID(), other.Current().ID())}})
	wantProblems(t, runWith(ChainKeys{}, c, recs), []Problem{{Kind: ProblemUnknownKey, Seq: 20, LastSeq: 20, EventID: "evt_0020",
		Message: fmt.Sprintf("the chain is sealed with chain key %s, but no chain key was given: its 20 events were not checked; it was written with another key, or rewritten under one", testKey.ID())}})
	res := runWith(other, c, recs)
	if res.Events != 20 || res.FirstSeq != 1 || res.LastSeq != 20 || res.OK() {
		t.Errorf("unchecked chain: %+v", res)
	}

	// A chain whose events name a registry entry that is gone cannot be
	// authenticated at all: it is reported as inserted, whatever its links.
	c.Registered = false
	rehashV1(recs, 0)
	wantProblems(t, run(c, recs), []Problem{{Kind: ProblemInserted, Seq: 1, LastSeq: 20,
		Message: "20 events name chain chn_T, which the chain registry does not know: they were inserted, or the registry entry was deleted"}})
}

// TestVerifierNeverAcceptsAKeyedLinkWithoutAKey verifies, with no key at
// all, a chain whose unsealed registry entry claims keyed links: they are
// reported, not accepted, and nothing is computed under a zero key.
func TestVerifierNeverAcceptsAKeyedLinkWithoutAKey(t *testing.T) {
	c, recs := buildChain(3)
	c.KeyID, c.HeadSeal = "", ""
	recs[1].Link.Hash = "" // an empty link must not match an empty computation
	res := runWith(ChainKeys{}, c, recs)
	wantProblems(t, res, append([]Problem{{Kind: ProblemModified, Seq: 3, LastSeq: 3, EventID: "evt_0003", Message: msgUnsealed}},
		Problem{Kind: ProblemModified, Seq: 1, LastSeq: 1, EventID: "evt_0001", Message: "the stored hash does not match the event's contents"},
		Problem{Kind: ProblemModified, Seq: 2, LastSeq: 2, EventID: "evt_0002", Message: "the stored hash does not match the event's contents"},
		Problem{Kind: ProblemModified, Seq: 3, LastSeq: 3, EventID: "evt_0003", Message: "the stored hash does not match the event's contents"}))
}
