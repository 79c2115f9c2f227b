package audit

import (
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
)

// TestSpanIDTravelsButIsNotHashed: the request's span id reaches the
// events made for the request, and the hash chain does not cover it (it
// is never stored, so a chain verified later could not recompute it).
func TestSpanIDTravelsButIsNotHashed(t *testing.T) {
	req := Request{RequestID: "req_1", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}
	st := Stamp{ID: "evt_1", Time: time.Unix(1, 0).UTC()}
	use := Use(st, apikey.Verified{KeyID: "key_1", OrganizationID: "org_1"}, apikey.OutcomeOK, 200, nil, nil, req)
	change := Change(st, ActionKeyCreated, "user:u", "org_1", "key_1", req, nil)
	for _, ev := range []Event{use, change} {
		if ev.SpanID != req.SpanID || ev.TraceID != req.TraceID {
			t.Errorf("%s event: trace %q span %q, want the request's", ev.Action, ev.TraceID, ev.SpanID)
		}
	}
	r := vectorRecord()
	k := mustKeys(t, exampleKey).Current()
	h1, h2 := r.HashV1(), r.HashV2(k)
	r.Event.SpanID = "00f067aa0ba902b7"
	if r.HashV1() != h1 || r.HashV2(k) != h2 {
		t.Error("the span id changes the hash: it is not stored, so the chain must not cover it")
	}
}
