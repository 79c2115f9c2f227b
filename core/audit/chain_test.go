package audit

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// vectorRecord is the worked example of docs/audit.md.
func vectorRecord() Record {
	return Record{
		Event: Event{
			ID: "evt_7Q2M4X6C8V0B1N3K5J7H", Time: time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC),
			OrganizationID: "org_123", Actor: "key:key_8fJ2kQ0xLm3Zp9Ab", Action: ActionKeyUsed,
			KeyID: "key_8fJ2kQ0xLm3Zp9Ab", RequestID: "req_1", Method: "GET", Path: "/v1/triggers",
			ClientIP: "203.0.113.7", UserAgent: "curl/8.5.0", Status: 200, Outcome: "ok", Scope: "triggers:read",
		},
		Link: Link{ChainID: "chn_EXAMPLE", Seq: 2, PrevID: "evt_PREVIOUS", PrevHash: strings.Repeat("ab", 32)},
	}
}

// TestCanonicalVector pins the canonical encoding and hash that
// docs/audit.md shows, so the documentation and the code cannot drift.
func TestCanonicalVector(t *testing.T) {
	r := vectorRecord()
	want := "16:apikeys-audit-v1,11:chn_EXAMPLE,1:2,12:evt_PREVIOUS,64:" + strings.Repeat("ab", 32) +
		",24:evt_7Q2M4X6C8V0B1N3K5J7H,27:2025-03-14T15:09:26.535897Z,7:org_123,24:key:key_8fJ2kQ0xLm3Zp9Ab," +
		"8:key.used,20:key_8fJ2kQ0xLm3Zp9Ab,5:req_1,0:,3:GET,12:/v1/triggers,11:203.0.113.7,10:curl/8.5.0," +
		"3:200,2:ok,13:triggers:read,0:,"
	if got := string(r.Canonical()); got != want {
		t.Fatalf("canonical encoding\n got %s\nwant %s", got, want)
	}
	const wantHash = "279e130b12f95054a3ab433f1b161590f7b777ca0ef291b16c0e44020295941c"
	if got := r.ComputeHash(); got != wantHash {
		t.Errorf("hash %s, want %s (update docs/audit.md if the format changed on purpose)", got, wantHash)
	}
}

func TestCanonicalCoversEveryField(t *testing.T) {
	base := vectorRecord()
	base.RawDetails = `{"a":1}`
	h := base.ComputeHash()
	changes := map[string]func(*Record){
		"chain": func(r *Record) { r.Link.ChainID += "x" }, "seq": func(r *Record) { r.Link.Seq++ },
		"prev id": func(r *Record) { r.Link.PrevID += "x" }, "prev hash": func(r *Record) { r.Link.PrevHash = "" },
		"id": func(r *Record) { r.Event.ID += "x" }, "time": func(r *Record) { r.Event.Time = r.Event.Time.Add(time.Microsecond) },
		"org": func(r *Record) { r.Event.OrganizationID = "" }, "actor": func(r *Record) { r.Event.Actor = "anonymous" },
		"action": func(r *Record) { r.Event.Action = ActionKeyAuthFailed }, "key": func(r *Record) { r.Event.KeyID = "" },
		"request": func(r *Record) { r.Event.RequestID = "req_2" }, "trace": func(r *Record) { r.Event.TraceID = "t" },
		"method": func(r *Record) { r.Event.Method = "POST" }, "path": func(r *Record) { r.Event.Path = "/" },
		"ip": func(r *Record) { r.Event.ClientIP = "10.0.0.1" }, "ua": func(r *Record) { r.Event.UserAgent = "" },
		"status": func(r *Record) { r.Event.Status = 500 }, "outcome": func(r *Record) { r.Event.Outcome = "revoked" },
		"scope": func(r *Record) { r.Event.Scope = "" }, "details": func(r *Record) { r.RawDetails = `{"a":2}` },
		// Moving bytes from one field to the next changes the encoding.
		"boundary": func(r *Record) { r.Event.Method, r.Event.Path = "GET/v1", "/triggers" },
	}
	for name, change := range changes {
		r := base
		change(&r)
		if r.ComputeHash() == h {
			t.Errorf("changing the %s does not change the hash", name)
		}
	}
	local := base
	local.Event.Time = base.Event.Time.In(time.FixedZone("X", 3600))
	local.Event.Details = map[string]any{"ignored": true}
	if local.ComputeHash() != h {
		t.Error("the hash depends on the time zone or the decoded details")
	}
}

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

func TestActionValid(t *testing.T) {
	for _, a := range Actions {
		if !a.Valid() {
			t.Errorf("%s not valid", a)
		}
	}
	if Action("key.deleted").Valid() || Action("").Valid() {
		t.Error("unknown action valid")
	}
}
