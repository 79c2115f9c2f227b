package audit

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentauri/apikeys/core/apikey"
)

func TestEventIDsSortByTime(t *testing.T) {
	start := time.Date(2030, 1, 15, 10, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 2000 {
		// Several ids per millisecond, then later milliseconds.
		at := start.Add(time.Duration(i/4) * time.Millisecond).Add(time.Duration(i%4) * time.Microsecond)
		id, err := NewID(rand.Reader, at)
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != len(IDPrefix)+IDLen || !strings.HasPrefix(id, IDPrefix) {
			t.Fatalf("id %q: want %q and %d characters", id, IDPrefix, IDLen)
		}
		for _, c := range id[len(IDPrefix):] {
			if !strings.ContainsRune(base62, c) {
				t.Fatalf("id %q holds %q, not base62", id, c)
			}
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
		// Ids of a later millisecond sort after every id of an earlier one.
		if i%4 == 0 && prev != "" && id <= prev {
			t.Fatalf("id %q of %s sorts before %q of an earlier millisecond", id, at, prev)
		}
		if i%4 == 3 {
			prev = id[:len(IDPrefix)+idTimeLen] + strings.Repeat("z", IDLen-idTimeLen)
		}
	}
	// The time digits are the millisecond count in base62.
	id, err := NewID(rand.Reader, time.UnixMilli(62*62+5))
	if err != nil {
		t.Fatal(err)
	}
	if got := id[len(IDPrefix) : len(IDPrefix)+idTimeLen]; got != "00000105" {
		t.Fatalf("time digits of 62²+5 ms = %q, want 00000105", got)
	}
}

func TestRequestFactsAreCapped(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes
	ev := Change(Stamp{ID: "evt_x"}, ActionKeyCreated, "user:u", "org", "key_x",
		Request{Path: "/" + long, UserAgent: long, ClientIP: "10.0.0.1"}, nil)
	if len(ev.Path) > MaxPathLen || len(ev.UserAgent) > MaxUserAgentLen || !utf8.ValidString(ev.Path) || !utf8.ValidString(ev.UserAgent) {
		t.Fatalf("path %d bytes, user agent %d bytes (valid UTF-8: %v, %v)", len(ev.Path), len(ev.UserAgent), utf8.ValidString(ev.Path), utf8.ValidString(ev.UserAgent))
	}
	if len(ev.Path) < MaxPathLen-1 || len(ev.UserAgent) < MaxUserAgentLen-1 {
		t.Fatalf("cut too much: %d, %d", len(ev.Path), len(ev.UserAgent))
	}
	short := Use(Stamp{ID: "evt_y"}, apikey.Verified{}, apikey.OutcomeUnknown, 401, nil, nil, Request{Path: "/v1/x", UserAgent: "curl"})
	if short.Path != "/v1/x" || short.UserAgent != "curl" {
		t.Fatalf("short facts changed: %+v", short)
	}
}

// TestRequestFactsAreMadePrintable: NUL, other control characters and
// invalid UTF-8 in a caller-chosen fact are recorded as U+FFFD, never as
// bytes one database refuses (Postgres answered 500 for a NUL) and another
// stores.
func TestRequestFactsAreMadePrintable(t *testing.T) {
	ev := Change(Stamp{ID: "evt_x"}, ActionKeyCreated, "user:u", "org", "key_x",
		Request{Method: "G\x00T", Path: "/a\x00b\xc0\x80c", UserAgent: "ua\xff\n\u202e"}, nil)
	if ev.Path != "/a\ufffdb\ufffd\ufffdc" || ev.UserAgent != "ua\ufffd\ufffd\u202e" || ev.Method != "G\ufffdT" {
		t.Fatalf("method %q path %q user agent %q", ev.Method, ev.Path, ev.UserAgent)
	}
}
