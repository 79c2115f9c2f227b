package audit

import (
	"strings"
	"testing"

	"github.com/agentauri/apikeys/core/apikey"
)

func TestValidClientRequestID(t *testing.T) {
	for _, id := range []string{
		"a", "req-42", "0f8fad5b-d9cb-469f-a165-70867728950e", "01J9ZK3Q4W5E6R7T8Y9U0I1O2P", "trace:span.1_2",
		strings.Repeat("x", MaxClientRequestIDLen),
	} {
		if !ValidClientRequestID(id) {
			t.Errorf("%q refused", id)
		}
	}
	for _, id := range []string{
		"", strings.Repeat("x", MaxClientRequestIDLen+1), "req 42", "req\n42", "req\r\nX-Admin: 1", "req\x00", "req/42",
		`"req"`, "req;drop", "<script>", "ré", "req\u202e42", "req\u200b", "a=b", "a,b", "%41",
	} {
		if ValidClientRequestID(id) {
			t.Errorf("%q accepted", id)
		}
	}
}

// TestEventsCarryBothRequestIDs: every event constructor that takes a
// request copies the server's and the client's request ids into their own
// fields.
func TestEventsCarryBothRequestIDs(t *testing.T) {
	req := Request{RequestID: "req_server", ClientRequestID: "client-1", Method: "GET", Path: "/p"}
	st := Stamp{ID: "evt_1"}
	for name, ev := range map[string]Event{
		"change": Change(st, ActionKeyCreated, "user:u", "org_1", "key_1", req, nil),
		"use":    Use(st, apikey.Verified{KeyID: "key_1"}, apikey.OutcomeOK, 200, nil, nil, req),
	} {
		if ev.RequestID != "req_server" || ev.ClientRequestID != "client-1" {
			t.Errorf("%s: request id %q, client request id %q", name, ev.RequestID, ev.ClientRequestID)
		}
	}
}
