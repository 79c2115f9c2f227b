package audit

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// buildChain returns n linked records of chain "chn_T".
func buildChain(n int) (Chain, []Record) {
	recs := make([]Record, n)
	prevID, prevHash := "", ""
	for i := range recs {
		r := Record{
			Event: Event{ID: fmt.Sprintf("evt_%04d", i+1), Time: time.Unix(int64(i), 0).UTC(), Action: ActionKeyUsed, Outcome: "ok"},
			Link:  Link{ChainID: "chn_T", Seq: int64(i + 1), PrevID: prevID, PrevHash: prevHash},
		}
		r.Link.Hash = r.ComputeHash()
		recs[i] = r
		prevID, prevHash = r.Event.ID, r.Link.Hash
	}
	last := recs[n-1]
	return Chain{ID: "chn_T", Registered: true, HeadSeq: last.Link.Seq, HeadID: last.Event.ID, HeadHash: last.Link.Hash}, recs
}

func run(c Chain, recs []Record) ChainResult {
	v := NewChainVerifier(c)
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
	rehash := func(r *Record) { r.Link.Hash = r.ComputeHash() }
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
			return r
		}, []string{"inserted 19-20 evt_0019"}},
		{"registry head hash forged", func(c *Chain, r []Record) []Record { c.HeadHash = "00"; return r },
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
	if got := summary(run(all, nil)); got != nil {
		t.Errorf("purged up to the head: %q", got)
	}
	all.AnchorHash = "1"
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
	rehashFrom := func(recs []Record, i int) {
		for ; i < len(recs); i++ {
			if i > 0 {
				recs[i].Link.PrevID, recs[i].Link.PrevHash = recs[i-1].Event.ID, recs[i-1].Link.Hash
			}
			recs[i].Link.Hash = recs[i].ComputeHash()
		}
	}
	forged := func(recs []Record, seq int64, prevID, prevHash string) Record {
		r := Record{Event: Event{ID: "evt_forged", Action: ActionKeyUsed}, Link: Link{ChainID: "chn_T", Seq: seq, PrevID: prevID, PrevHash: prevHash}}
		r.Link.Hash = r.ComputeHash()
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
			return r
		}, []Problem{{Kind: ProblemModified, Seq: 1, LastSeq: 1, EventID: "evt_0001", Message: "the first event of the chain links to a predecessor"}}},
		{"rewritten purge anchor", func(c *Chain, r []Record) []Record {
			c.AnchorSeq, c.AnchorID, c.AnchorHash = 8, r[7].Event.ID, strings.Repeat("0", 64)
			return r[8:]
		}, []Problem{{Kind: ProblemModified, Seq: 8, LastSeq: 8, EventID: "evt_0008", Message: "the purge anchor does not match the link recorded by the next event evt_0009 (seq 9)"}}},
		{"rewritten event after a purge anchor", func(c *Chain, r []Record) []Record {
			c.AnchorSeq, c.AnchorID, c.AnchorHash = 8, r[7].Event.ID, r[7].Link.Hash
			r[11].Event.Actor = "user:mallory"
			r[11].Link.Hash = r[11].ComputeHash()
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
