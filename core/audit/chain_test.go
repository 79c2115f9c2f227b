package audit

import (
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
