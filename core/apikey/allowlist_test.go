package apikey

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestParseIPAllowlist(t *testing.T) {
	got, err := ParseIPAllowlist([]string{"203.0.113.77/24", " 2001:db8::1/32 ", "198.51.100.7", "::ffff:192.0.2.1", "203.0.113.0/24", "::ffff:10.0.0.0/104", "2001:db8::5"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.1/32", "198.51.100.7/32", "203.0.113.0/24", "2001:db8::/32", "2001:db8::5/128"}
	if !slices.Equal(got.Strings(), want) {
		t.Errorf("normalized %v, want %v", got.Strings(), want)
	}
	if l, err := ParseIPAllowlist(nil); err != nil || l != nil {
		t.Errorf("empty: %v %v", l, err)
	}
	for i, bad := range []string{"", "example.com", "203.0.113.0/33", "2001:db8::/129", "fe80::1%eth0", "1.2.3", "10.0.0.0/8/8", "::ffff:10.0.0.0/90"} {
		_, err := ParseIPAllowlist([]string{"10.0.0.0/8", bad})
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Code != "invalid_ip_allowlist" || ve.Field != "ip_allowlist[1]" {
			t.Errorf("%d %q: %v, want invalid_ip_allowlist on ip_allowlist[1]", i, bad, err)
		}
	}
	many := make([]string, MaxIPAllowlist+1)
	for i := range many {
		many[i] = fmt.Sprintf("10.0.%d.0/24", i)
	}
	if _, err := ParseIPAllowlist(many); err == nil {
		t.Error("101 entries accepted")
	}
	if _, err := ParseIPAllowlist(many[:MaxIPAllowlist]); err != nil {
		t.Errorf("100 entries: %v", err)
	}
}

func TestIPAllowlistAllows(t *testing.T) {
	l, err := ParseIPAllowlist([]string{"203.0.113.0/24", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"203.0.113.9": true, "203.0.114.1": false, "::ffff:203.0.113.9": true, "2001:db8:1::7": true,
		"2001:db9::1": false, "": false, "garbage": false, "127.0.0.1": false,
	} {
		if got := l.Allows(addr); got != want {
			t.Errorf("Allows(%q) = %v, want %v", addr, got, want)
		}
	}
	if !IPAllowlist(nil).Allows("") || !IPAllowlist(nil).Allows("198.51.100.1") {
		t.Error("an empty allowlist refused an address")
	}
}
