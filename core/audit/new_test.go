package audit

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentauri/apikeys/core/apikey"
)

// TestUseAction: a verification is key.used exactly when its outcome is
// OutcomeOK, and names the missing scopes only when there are some.
func TestUseAction(t *testing.T) {
	s := Stamp{ID: "evt_1", Time: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	key := apikey.Verified{KeyID: "key_abc", OrganizationID: "org_1"}
	for _, o := range apikey.Outcomes {
		ev := Use(s, key, o, 200, apikey.Scopes{"triggers:read"}, nil, Request{})
		want := ActionKeyAuthFailed
		if o == apikey.OutcomeOK {
			want = ActionKeyUsed
		}
		if ev.Action != want || ev.Outcome != o || ev.Details != nil {
			t.Errorf("Use(%s) = action %s outcome %s details %v, want %s, no details", o, ev.Action, ev.Outcome, ev.Details, want)
		}
	}
	ev := Use(s, key, apikey.OutcomeScopeDenied, 403, apikey.Scopes{"triggers:read", "events:read"}, apikey.Scopes{"events:read"}, Request{})
	if got, _ := ev.Details["missing_scopes"].([]string); len(got) != 1 || got[0] != "events:read" || ev.Scope != "triggers:read,events:read" {
		t.Errorf("scope_denied event: scope %q details %v", ev.Scope, ev.Details)
	}
	if ev := Use(s, key, apikey.OutcomeScopeDenied, 403, nil, apikey.Scopes{}, Request{}); ev.Details != nil {
		t.Errorf("no missing scopes, details %v", ev.Details)
	}
}

// TestCapUTF8Boundaries: a value of exactly the cap is kept whole, one byte
// more is cut to the cap, and a character straddling the cap is dropped
// whole, never split.
func TestCapUTF8Boundaries(t *testing.T) {
	exact := strings.Repeat("a", MaxPathLen)
	if got := capUTF8(exact, MaxPathLen); got != exact {
		t.Errorf("a value of exactly the cap was cut to %d bytes", len(got))
	}
	if got := capUTF8(exact+"b", MaxPathLen); got != exact {
		t.Errorf("one byte over the cap: %d bytes, want %d", len(got), MaxPathLen)
	}
	straddling := strings.Repeat("a", MaxPathLen-1) + "é" // é is 2 bytes: ends at MaxPathLen+1
	if got := capUTF8(straddling, MaxPathLen); got != strings.Repeat("a", MaxPathLen-1) || !utf8.ValidString(got) {
		t.Errorf("a character across the cap: %q (%d bytes)", got[len(got)-3:], len(got))
	}
	if got := capUTF8("ééé", 1); got != "" {
		t.Errorf("a cap inside the first character: %q, want empty", got)
	}
	if got := capUTF8("\x80\x80abc", 1); got != "" {
		t.Errorf("a value starting inside a character: %q, want empty", got)
	}
	ev := Use(Stamp{}, apikey.Verified{}, apikey.OutcomeUnknown, 401, nil, nil,
		Request{Path: "/" + strings.Repeat("p", MaxPathLen), UserAgent: strings.Repeat("u", MaxUserAgentLen+1)})
	if len(ev.Path) != MaxPathLen || len(ev.UserAgent) != MaxUserAgentLen {
		t.Errorf("event path %d bytes, user agent %d bytes; want %d and %d", len(ev.Path), len(ev.UserAgent), MaxPathLen, MaxUserAgentLen)
	}
}

// TestChainKeyMinimum: a secret of exactly MinChainKeyLen bytes is a key.
func TestChainKeyMinimum(t *testing.T) {
	if _, err := NewChainKey([]byte(strings.Repeat("k", MinChainKeyLen))); err != nil {
		t.Fatalf("a key of exactly MinChainKeyLen bytes: %v", err)
	}
}

// TestChainResultOK: a result is OK only without problems and without
// problems left out.
func TestChainResultOK(t *testing.T) {
	if !(ChainResult{Events: 3}).OK() {
		t.Error("a result without problems is not OK")
	}
	if (ChainResult{Omitted: 1}).OK() {
		t.Error("a result with omitted problems is OK")
	}
	if (ChainResult{Problems: []Problem{{Seq: 1}}}).OK() {
		t.Error("a result with a problem is OK")
	}
}
