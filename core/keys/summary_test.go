package keys

import (
	"errors"
	"fmt"
	"testing"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
)

// TestFailuresNamingNoKeyAreSummarized: a flood of failures that identify
// no key costs one event per client address and outcome per flush, whose
// counts add up to the failures, none lost and none counted twice, even
// when the audit trail refuses a flush; failures of a known key are still
// one event each.
func TestFailuresNamingNoKeyAreSummarized(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	bad := iss.Secret[:20] + flip(iss.Secret[20]) + iss.Secret[21:]
	want := map[string]int64{}
	for i := range 300 {
		ip := fmt.Sprintf("198.51.100.%d", i%3)
		secret, outcome := bad, apikey.OutcomeChecksum
		if i%2 == 1 {
			secret, outcome = "not-a-key", apikey.OutcomeMalformed
		}
		v, err := f.verify(secret, "", audit.Request{ClientIP: ip, Path: "/flood", UserAgent: "flooder"})
		if err != nil || v.Outcome != outcome {
			t.Fatalf("failure %d: %+v, %v", i, v, err)
		}
		want[ip+"/"+string(outcome)]++
		if i == 150 {
			// The trail refuses a flush midway: its counts wait.
			f.usage.fail = errors.New("queue full")
			if err := f.svc.FlushFailureSummaries(ctx); err == nil {
				t.Fatal("a refused flush reported no error")
			}
			f.usage.fail = nil
		}
	}
	if v, err := f.verify(iss.Secret, "events:read", audit.Request{ClientIP: "198.51.100.9"}); err != nil || v.Outcome != apikey.OutcomeScopeDenied {
		t.Fatalf("scope denied: %+v, %v", v, err)
	}
	if err := f.svc.FlushFailureSummaries(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	summaries, identified := 0, 0
	for _, ev := range f.usage.all() {
		if ev.KeyID != "" {
			identified++
			continue
		}
		summaries++
		n, _ := ev.Details["count"].(int64)
		got[ev.ClientIP+"/"+string(ev.Outcome)] += n
		if ev.Path != "/flood" || ev.UserAgent != "flooder" || ev.Details["first_at"] == nil || ev.Details["last_at"] == nil {
			t.Errorf("summary without its sample or times: %+v", ev)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("summarized counts %v, want %v", got, want)
	}
	if summaries != 6 || identified != 1 {
		t.Errorf("%d summaries and %d events of a known key, want 6 and 1", summaries, identified)
	}
	if err := f.svc.FlushFailureSummaries(ctx); err != nil || len(f.usage.all()) != summaries+identified {
		t.Errorf("an empty flush recorded something: %v", err)
	}
}

// TestSummariesFlushWhenFull: past MaxSummaries distinct addresses the
// summaries are flushed at once, so memory stays bounded.
func TestSummariesFlushWhenFull(t *testing.T) {
	f := newFixture(t)
	for i := range MaxSummaries + 5 {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if _, err := f.verify("", "", audit.Request{ClientIP: ip}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.usage.all()); n != MaxSummaries {
		t.Fatalf("%d summaries recorded before any flush, want %d (the full set)", n, MaxSummaries)
	}
	if err := f.svc.FlushFailureSummaries(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.usage.all()); n != MaxSummaries+5 {
		t.Fatalf("%d summaries in all, want %d", n, MaxSummaries+5)
	}
}
