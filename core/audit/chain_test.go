package audit

import (
	"fmt"
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
			KeyID: "key_8fJ2kQ0xLm3Zp9Ab", RequestID: "req_1", ClientRequestID: "nginx-7f3a9c01", Method: "GET", Path: "/v1/triggers",
			ClientIP: "203.0.113.7", UserAgent: "curl/8.5.0", Status: 200, Outcome: "ok", Scope: "triggers:read",
		},
		Link: Link{ChainID: "chn_EXAMPLE", Seq: 2, PrevID: "evt_PREVIOUS", PrevHash: strings.Repeat("ab", 32)},
	}
}

// exampleKey is the chain key of the worked example of docs/audit.md.
const exampleKey = "example-audit-chain-key-0123456789abcdef"

func mustKeys(t testing.TB, current string, previous ...string) ChainKeys {
	t.Helper()
	prev := make([][]byte, len(previous))
	for i, p := range previous {
		prev[i] = []byte(p)
	}
	ks, err := NewChainKeys([]byte(current), prev...)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestCanonicalVector pins the canonical encodings, link hashes, key id
// and head seal that docs/audit.md shows, so the documentation and the
// code cannot drift. The expected values were computed apart, with
// Python's hashlib and hmac.
func TestCanonicalVector(t *testing.T) {
	r := vectorRecord()
	want := "16:apikeys-audit-v1,11:chn_EXAMPLE,1:2,12:evt_PREVIOUS,64:" + strings.Repeat("ab", 32) +
		",24:evt_7Q2M4X6C8V0B1N3K5J7H,27:2025-03-14T15:09:26.535897Z,7:org_123,24:key:key_8fJ2kQ0xLm3Zp9Ab," +
		"8:key.used,20:key_8fJ2kQ0xLm3Zp9Ab,5:req_1,0:,3:GET,12:/v1/triggers,11:203.0.113.7,10:curl/8.5.0," +
		"3:200,2:ok,13:triggers:read,0:,"
	if got := string(r.Canonical(FormatV1)); got != want {
		t.Fatalf("canonical encoding\n got %s\nwant %s", got, want)
	}
	// v2 adds the client's request id after the server's.
	wantV2 := strings.Replace(strings.Replace(want, "16:apikeys-audit-v1,", "16:apikeys-audit-v2,", 1),
		"5:req_1,", "5:req_1,14:nginx-7f3a9c01,", 1)
	if got := string(r.Canonical(FormatV2)); got != wantV2 {
		t.Fatalf("v2 canonical encoding\n got %s\nwant %s", got, wantV2)
	}
	const wantHash = "279e130b12f95054a3ab433f1b161590f7b777ca0ef291b16c0e44020295941c"
	if got := r.HashV1(); got != wantHash {
		t.Errorf("v1 hash %s, want %s (update docs/audit.md if the format changed on purpose)", got, wantHash)
	}
	k := mustKeys(t, exampleKey).Current()
	const wantV2Hash = "7193489ccb6abcf4e8dca3496c347f9e94a28782a3cfad351885feffca7c9140"
	if got := r.HashV2(k); got != wantV2Hash {
		t.Errorf("v2 hash %s, want %s", got, wantV2Hash)
	}
	if got := k.ID(); got != "ck_1f9545c9b3620b07" {
		t.Errorf("key id %s, want ck_1f9545c9b3620b07", got)
	}
	c := Chain{ID: "chn_EXAMPLE", KeyedFrom: 1, HeadSeq: 2, HeadID: r.Event.ID, HeadHash: wantV2Hash}
	const wantSeal = "0547d4a3286cd16583f61d71889479c2ea623214569abf357da44ac1b6679690"
	if got := c.ComputeHeadSeal(k); got != wantSeal {
		t.Errorf("head seal %s, want %s", got, wantSeal)
	}
}

func TestCanonicalCoversEveryField(t *testing.T) {
	base := vectorRecord()
	base.RawDetails = `{"a":1}`
	k := mustKeys(t, exampleKey).Current()
	other := mustKeys(t, exampleKey+"2").Current()
	h1, h2 := base.HashV1(), base.HashV2(k)
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
		if r.HashV1() == h1 {
			t.Errorf("changing the %s does not change the v1 hash", name)
		}
		if r.HashV2(k) == h2 {
			t.Errorf("changing the %s does not change the v2 hash", name)
		}
	}
	// The client's request id is covered by v2 links; v1 links, written
	// before events had it, never covered it.
	r := base
	r.Event.ClientRequestID = "other"
	if r.HashV2(k) == h2 {
		t.Error("changing the client request id does not change the v2 hash")
	}
	if r.HashV1() != h1 {
		t.Error("v1 links changed meaning: they now cover the client request id")
	}
	local := base
	local.Event.Time = base.Event.Time.In(time.FixedZone("X", 3600))
	local.Event.Details = map[string]any{"ignored": true}
	if local.HashV1() != h1 || local.HashV2(k) != h2 {
		t.Error("the hash depends on the time zone or the decoded details")
	}
	if h2 == h1 || base.HashV2(other) == h2 {
		t.Error("the v2 hash does not depend on the key, or equals the unkeyed one")
	}
}

func TestChainKeys(t *testing.T) {
	if _, err := NewChainKey([]byte(strings.Repeat("k", MinChainKeyLen-1))); err == nil {
		t.Error("a key shorter than MinChainKeyLen accepted")
	}
	if _, err := NewChainKeys(nil, []byte(exampleKey)); err == nil {
		t.Error("previous keys without a current one accepted")
	}
	if _, err := NewChainKeys([]byte(exampleKey), []byte(exampleKey+"2"), []byte(exampleKey)); err == nil || !strings.Contains(err.Error(), "previous chain key 2 repeats") {
		t.Errorf("a repeated key: %v", err)
	}
	if _, err := NewChainKeys([]byte(exampleKey), []byte("short")); err == nil || !strings.Contains(err.Error(), "previous chain key 1") {
		t.Errorf("a short previous key: %v", err)
	}
	ks := mustKeys(t, exampleKey+"new", exampleKey)
	cur, old := ks.Current(), mustKeys(t, exampleKey).Current()
	if cur.ID() == old.ID() || !strings.HasPrefix(cur.ID(), ChainKeyIDPrefix) || len(cur.ID()) != len(ChainKeyIDPrefix)+16 {
		t.Errorf("key ids %s, %s", cur.ID(), old.ID())
	}
	if got, ok := ks.Lookup(old.ID()); !ok || got.ID() != old.ID() {
		t.Errorf("Lookup of the previous key: %v %v", got, ok)
	}
	if got, ok := ks.Lookup(cur.ID()); !ok || got.ID() != cur.ID() {
		t.Errorf("Lookup of the current key: %v %v", got, ok)
	}
	if _, ok := ks.Lookup(""); ok {
		t.Error("Lookup of no id found a key")
	}
	if _, ok := ks.Lookup("ck_0000000000000000"); ok {
		t.Error("Lookup of an unknown id found a key")
	}
	if ids := ks.IDs(); len(ids) != 2 || ids[0] != cur.ID() || ids[1] != old.ID() {
		t.Errorf("IDs %v", ids)
	}
	if (ChainKeys{}).IDs() != nil || !(ChainKeys{}).IsZero() || ks.IsZero() {
		t.Error("zero ChainKeys")
	}
	// The key never shows in its formatted forms.
	for _, s := range []string{fmt.Sprint(cur), fmt.Sprintf("%+v", cur), fmt.Sprintf("%#v", cur), fmt.Sprintf("%v", ks), fmt.Sprintf("%+v", ks), fmt.Sprintf("%#v", ks)} {
		if strings.Contains(s, "example-audit") || !strings.Contains(s, cur.ID()) {
			t.Errorf("formatted key %q", s)
		}
	}
}

func TestSealsCoverTheirFields(t *testing.T) {
	k := mustKeys(t, exampleKey).Current()
	base := Chain{ID: "chn_X", KeyedFrom: 1, HeadSeq: 9, HeadID: "evt_9", HeadHash: "h9", AnchorSeq: 4, AnchorID: "evt_4", AnchorHash: "h4"}
	head, anchor := base.ComputeHeadSeal(k), base.ComputeAnchorSeal(k)
	if head == anchor || head == "" || anchor == "" {
		t.Fatalf("seals %q %q", head, anchor)
	}
	for name, change := range map[string]func(*Chain){
		"chain": func(c *Chain) { c.ID = "chn_Y" }, "keyed from": func(c *Chain) { c.KeyedFrom = 0 },
		"head seq": func(c *Chain) { c.HeadSeq = 8 }, "head id": func(c *Chain) { c.HeadID = "evt_8" }, "head hash": func(c *Chain) { c.HeadHash = "h8" },
	} {
		c := base
		change(&c)
		if c.ComputeHeadSeal(k) == head {
			t.Errorf("changing the %s does not change the head seal", name)
		}
	}
	for name, change := range map[string]func(*Chain){
		"chain": func(c *Chain) { c.ID = "chn_Y" }, "keyed from": func(c *Chain) { c.KeyedFrom = 0 },
		"anchor seq": func(c *Chain) { c.AnchorSeq = 5 }, "anchor id": func(c *Chain) { c.AnchorID = "evt_5" }, "anchor hash": func(c *Chain) { c.AnchorHash = "h5" },
	} {
		c := base
		change(&c)
		if c.ComputeAnchorSeal(k) == anchor {
			t.Errorf("changing the %s does not change the anchor seal", name)
		}
	}
	c := base
	c.HeadSeq, c.HeadID, c.HeadHash = c.AnchorSeq, c.AnchorID, c.AnchorHash
	if c.ComputeHeadSeal(k) == c.ComputeAnchorSeal(k) {
		t.Error("a head seal serves as an anchor seal")
	}
	c.AnchorSeq = 0
	if c.ComputeAnchorSeal(k) != "" {
		t.Error("a chain without an anchor has an anchor seal")
	}
	c = base
	c.Seal(k)
	if c.KeyID != k.ID() || c.HeadSeal != head || c.AnchorSeal != anchor {
		t.Errorf("Seal: %+v", c)
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

func BenchmarkLinkHash(b *testing.B) {
	r := vectorRecord()
	k := mustKeys(b, exampleKey).Current()
	b.Run("v1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.HashV1()
		}
	})
	b.Run("v2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.HashV2(k)
		}
	})
}
