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
