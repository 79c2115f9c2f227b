package console

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestSessionTimeouts(t *testing.T) {
	clk := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newSessions(10, 10*time.Minute, time.Hour, clk.now)
	id, _ := s.create("alice", []string{"org_a"})
	// Kept alive by use, up to the absolute timeout.
	for range 5 {
		clk.t = clk.t.Add(9 * time.Minute)
		if _, ok := s.get(id); !ok {
			t.Fatalf("session ended while in use at %s", clk.t)
		}
	}
	clk.t = clk.t.Add(14*time.Minute + 59*time.Second) // 59m59s after creation, 14m59s idle
	if _, ok := s.get(id); ok {
		t.Fatal("a session idle past idle_timeout is still live")
	}
	if len(s.byHash) != 0 {
		t.Fatal("an expired session is still held")
	}

	id, _ = s.create("alice", nil)
	for _, step := range []time.Duration{9 * time.Minute, 9 * time.Minute, 9 * time.Minute, 9 * time.Minute, 9 * time.Minute, 9 * time.Minute, 5*time.Minute + 59*time.Second} {
		clk.t = clk.t.Add(step)
		if _, ok := s.get(id); !ok {
			t.Fatal("session ended before its absolute timeout")
		}
	}
	clk.t = clk.t.Add(time.Second) // exactly an hour after sign-in, one second idle
	if _, ok := s.get(id); ok {
		t.Fatal("a session past absolute_timeout is still live")
	}
	if _, ok := s.get(""); ok {
		t.Fatal("the empty cookie found a session")
	}
}

func TestSessionsAreBounded(t *testing.T) {
	clk := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newSessions(3, time.Hour, 24*time.Hour, clk.now)
	var ids []string
	for range 3 {
		id, _ := s.create("u", nil)
		ids = append(ids, id)
		clk.t = clk.t.Add(time.Second)
	}
	s.get(ids[0]) // the first is now the most recently used; the second the least
	clk.t = clk.t.Add(time.Second)
	fourth, _ := s.create("u", nil)
	if len(s.byHash) != 3 {
		t.Fatalf("%d sessions held, bound 3", len(s.byHash))
	}
	if _, ok := s.get(ids[1]); ok {
		t.Error("the least recently used session survived")
	}
	for _, id := range []string{ids[0], ids[2], fourth} {
		if _, ok := s.get(id); !ok {
			t.Error("a more recently used session was dropped")
		}
	}
	// Expired sessions go before live ones.
	clk.t = clk.t.Add(2 * time.Hour)
	live, _ := s.create("u", nil)
	if len(s.byHash) != 1 {
		t.Fatalf("expired sessions not pruned: %d held", len(s.byHash))
	}
	if _, ok := s.get(live); !ok {
		t.Fatal("the new session is not live")
	}
}

func TestSecretShownOnce(t *testing.T) {
	clk := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newSessions(3, time.Hour, 24*time.Hour, clk.now)
	_, ss := s.create("u", nil)
	ref := s.keep(ss, "key_a", "sk_test_x")
	if _, ok := s.take(ss, ref, "key_b"); ok {
		t.Fatal("a reference showed the secret of another key")
	}
	if got, ok := s.take(ss, ref, "key_a"); !ok || got != "sk_test_x" {
		t.Fatalf("take: %q %v", got, ok)
	}
	if _, ok := s.take(ss, ref, "key_a"); ok {
		t.Fatal("the secret was shown twice")
	}
	ref = s.keep(ss, "key_a", "sk_test_y")
	clk.t = clk.t.Add(secretTTL)
	if _, ok := s.take(ss, ref, "key_a"); ok {
		t.Fatal("a secret past its time was shown")
	}
	for i := range 2 * maxPendingSecrets {
		s.keep(ss, "key_a", "sk_test_"+string(rune('a'+i)))
		if len(ss.secrets) > maxPendingSecrets {
			t.Fatalf("%d secrets pending, bound %d", len(ss.secrets), maxPendingSecrets)
		}
	}
	_, other := s.create("v", nil)
	if other.csrf == ss.csrf || !ss.validCSRF(ss.csrf) || ss.validCSRF(other.csrf) || ss.validCSRF("") {
		t.Fatal("CSRF tokens are not per session")
	}
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"/console/orgs/org_a/keys?status=all": "/console/orgs/org_a/keys?status=all",
		"":                                    "/console/orgs",
		"https://evil.example/console/":       "/console/orgs",
		"//evil.example/console/":             "/console/orgs",
		"/console//evil.example":              "/console/orgs",
		"/console/\\evil":                     "/console/orgs",
		"/console/sign-in":                    "/console/orgs",
		"/api/v1/api-keys":                    "/console/orgs",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}
