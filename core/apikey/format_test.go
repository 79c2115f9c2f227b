package apikey

import (
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestGenerateParseRoundTrip(t *testing.T) {
	re := regexp.MustCompile(`^` + ScannerRegex + `$`)
	for _, env := range []Environment{EnvTest, EnvLive} {
		seen := map[string]bool{}
		for i := 0; i < 500; i++ {
			s, err := Generate(rand.Reader, env)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(s, env.Prefix()) || len(s) != len(env.Prefix())+BodyLen {
				t.Fatalf("bad shape %q", s)
			}
			if !re.MatchString(s) {
				t.Fatalf("scanner regex misses %q", s)
			}
			got, err := Parse(s)
			if err != nil || got != env {
				t.Fatalf("Parse(%q) = %v, %v", s, got, err)
			}
			if seen[s] {
				t.Fatalf("duplicate secret %q", s)
			}
			seen[s] = true
		}
	}
}

func TestParseRejectsEverySingleCharacterChange(t *testing.T) {
	s, err := Generate(rand.Reader, EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	start := len("sk_live_")
	for i := start; i < len(s); i++ {
		for _, c := range []byte(alphabet) {
			if c == s[i] {
				continue
			}
			mutated := s[:i] + string(c) + s[i+1:]
			if _, err := Parse(mutated); !errors.Is(err, ErrChecksum) {
				t.Fatalf("changing position %d to %q: got %v, want ErrChecksum", i, c, err)
			}
		}
	}
}

func TestParseRejectsSwappedEnvironment(t *testing.T) {
	s, _ := Generate(rand.Reader, EnvTest)
	swapped := "sk_live_" + s[len("sk_test_"):]
	if _, err := Parse(swapped); !errors.Is(err, ErrChecksum) {
		t.Fatalf("got %v, want ErrChecksum", err)
	}
}

func TestParseMalformed(t *testing.T) {
	valid, _ := Generate(rand.Reader, EnvTest)
	cases := map[string]error{
		"":                                       ErrMissingKey,
		"sk_prod_" + valid[8:]:                   ErrMalformedKey,
		"pk_test_" + valid[8:]:                   ErrMalformedKey,
		valid[:len(valid)-1]:                     ErrMalformedKey,
		valid + "a":                              ErrMalformedKey,
		valid[:20] + "-" + valid[21:]:            ErrMalformedKey,
		valid[:20] + "é" + valid[22:]:            ErrMalformedKey,
		"sk_test_abc123def456ghi789jkl012mno345": ErrMalformedKey, // the documentation's example (30 chars)
		strings.ToUpper(valid[:8]) + valid[8:]:   ErrMalformedKey,
	}
	for in, want := range cases {
		if _, err := Parse(in); !errors.Is(err, want) {
			t.Errorf("Parse(%q) = %v, want %v", in, err, want)
		}
	}
}

func TestGenerateUnknownEnvironment(t *testing.T) {
	if _, err := Generate(rand.Reader, Environment("prod")); err == nil {
		t.Fatal("want error for unknown environment")
	}
}

func TestGenerateEntropyFailure(t *testing.T) {
	if _, err := Generate(strings.NewReader("short"), EnvTest); err == nil {
		t.Fatal("want error when entropy runs out")
	}
}

func TestRandomStringUniformAlphabet(t *testing.T) {
	s, err := RandomString(rand.Reader, 62*200)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[rune]int{}
	for _, r := range s {
		counts[r]++
	}
	if len(counts) != 62 {
		t.Fatalf("saw %d distinct characters, want 62", len(counts))
	}
	for r, n := range counts {
		if n < 100 || n > 320 { // expectation 200; far outside means a biased draw
			t.Errorf("character %q drawn %d times", r, n)
		}
	}
}

func TestHint(t *testing.T) {
	s, _ := Generate(rand.Reader, EnvTest)
	h := Hint(s)
	if h != "sk_test_…"+s[len(s)-4:] {
		t.Fatalf("Hint = %q", h)
	}
	if strings.Contains(h, s[8:30]) {
		t.Fatal("hint reveals the secret")
	}
}

func TestScannerRegexFindsKeysInText(t *testing.T) {
	s, _ := Generate(rand.Reader, EnvLive)
	text := "export AGENTAURI_API_KEY=" + s + "\nother sk_live_tooShort and xsk_live_" + s[8:] + "x"
	got := regexp.MustCompile(ScannerRegex).FindAllString(text, -1)
	if len(got) != 1 || got[0] != s {
		t.Fatalf("found %q", got)
	}
}
