package quota

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
)

func TestClientGrouping(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"", "unknown"},
		{"not-an-ip", "unknown"},
		{"203.0.113.7:443", "unknown"},
	} {
		if got := ParseClient(tc.in).String(); got != tc.want {
			t.Errorf("ParseClient(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	same := [][2]string{
		{"2001:db8:1:2::1", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"},
		{"10.0.0.1", "::ffff:10.0.0.1"},
		{"fe80::1%eth0", "fe80::1%eth1"},
	}
	for _, p := range same {
		if ParseClient(p[0]) != ParseClient(p[1]) {
			t.Errorf("%s and %s are different clients, want one", p[0], p[1])
		}
	}
	differ := [][2]string{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"10.0.0.1", "10.0.0.2"},
		{"10.0.0.1", "::a00:1"},
	}
	for _, p := range differ {
		if ParseClient(p[0]) == ParseClient(p[1]) {
			t.Errorf("%s and %s are one client, want two", p[0], p[1])
		}
	}
	if !ParseClient("bogus").IsZero() || !ClientOf(netip.Addr{}).IsZero() || ParseClient("10.0.0.1").IsZero() {
		t.Error("IsZero is true only for unknown addresses")
	}
	if ClientOf(netip.MustParseAddr("2001:db8::1")) != ParseClient("2001:db8::1") {
		t.Error("ClientOf and ParseClient disagree")
	}
}

func TestDecisionSeconds(t *testing.T) {
	for _, tc := range []struct {
		d            Decision
		reset, retry int64
	}{
		{Decision{Allowed: true}, 0, 0},
		{Decision{Allowed: true, Reset: time.Nanosecond}, 1, 0},
		{Decision{Allowed: true, Reset: time.Second}, 1, 0},
		{Decision{Allowed: true, Reset: 1001 * time.Millisecond, RetryAfter: time.Hour}, 2, 0},
		{Decision{Allowed: false, Reset: 59500 * time.Millisecond, RetryAfter: 200 * time.Millisecond}, 60, 1},
		{Decision{Allowed: false, Reset: time.Minute, RetryAfter: 12 * time.Second}, 60, 12},
		{Decision{Allowed: false}, 0, 1},
	} {
		if got := tc.d.ResetSeconds(); got != tc.reset {
			t.Errorf("%+v.ResetSeconds() = %d, want %d", tc.d, got, tc.reset)
		}
		if got := tc.d.RetryAfterSeconds(); got != tc.retry {
			t.Errorf("%+v.RetryAfterSeconds() = %d, want %d", tc.d, got, tc.retry)
		}
	}
}

func TestErrUnavailableIsUnavailable(t *testing.T) {
	if !errors.Is(ErrUnavailable, apikey.ErrUnavailable) {
		t.Error("quota.ErrUnavailable must wrap apikey.ErrUnavailable (answered 503)")
	}
}

func TestKeyDefaults(t *testing.T) {
	d, err := ParseKeyDefaults([]string{"org_123=100/1m", " * = 1000/1h ", "org.b@x=5/1s"})
	if err != nil {
		t.Fatal(err)
	}
	for org, want := range map[string]apikey.RateLimit{
		"org_123": {Limit: 100, Window: time.Minute},
		"org.b@x": {Limit: 5, Window: time.Second},
		"org_999": {Limit: 1000, Window: time.Hour},
	} {
		if got, ok := d.For(org); !ok || got != want {
			t.Errorf("For(%s) = %+v, %v; want %+v", org, got, ok, want)
		}
	}
	if d.Len() != 3 {
		t.Errorf("Len = %d, want 3", d.Len())
	}

	d, err = ParseKeyDefaults([]string{"org_123=100/1m"})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := d.For("org_other"); ok {
		t.Errorf("For(org_other) = %+v without a * entry, want none", r)
	}
	var zero KeyDefaults
	if r, ok := zero.For("org_123"); ok {
		t.Errorf("zero KeyDefaults.For = %+v, want none", r)
	}
}

func TestKeyDefaultsRefuses(t *testing.T) {
	for _, tc := range []struct {
		entries []string
		want    string
	}{
		{[]string{"org_123"}, "entry 1"},
		{[]string{"org_1=1/1s", "org 2=1/1s"}, "entry 2"},
		{[]string{"=1/1s"}, "neither * nor an organization id"},
		{[]string{"org_1=1/1s", "org_1=2/1m"}, "listed twice"},
		{[]string{"*=0/1s"}, "rate_limit.limit"},
		{[]string{"*=10/1d"}, "rate_limit.window"},
		{[]string{"*=10"}, "LIMIT/WINDOW"},
	} {
		_, err := ParseKeyDefaults(tc.entries)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseKeyDefaults(%q) = %v, want an error mentioning %q", tc.entries, err, tc.want)
		}
	}
}

// TestKeyDefaultsErrorsNameTheEntry: a refused entry is named by its
// position, counted from 1, for each kind of refusal.
func TestKeyDefaultsErrorsNameTheEntry(t *testing.T) {
	for _, entries := range [][]string{
		{"org_a=10/1m", "org_a=20/1m"},    // listed twice
		{"org_a=10/1m", "org_b=10/1d"},    // bad window
		{"org_a=10/1m", "org b=10/1m"},    // bad organization
		{"org_a=10/1m", "no-equals-sign"}, // no ORGANIZATION=
	} {
		_, err := ParseKeyDefaults(entries)
		if err == nil || !strings.Contains(err.Error(), "entry 2 ") {
			t.Errorf("ParseKeyDefaults(%q) = %v, want an error naming entry 2", entries, err)
		}
	}
}
