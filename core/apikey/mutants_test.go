package apikey

import (
	"bytes"
	"testing"
)

// TestRandomStringRejectsBiasedBytes: bytes from 248 up are dropped (they
// would make the first characters of the alphabet likelier); 247 is kept.
func TestRandomStringRejectsBiasedBytes(t *testing.T) {
	entropy := bytes.NewReader(append([]byte{248, 255, 247, 1}, bytes.Repeat([]byte{2}, 64)...))
	s, err := RandomString(entropy, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := string([]byte{alphabet[247%62], alphabet[1]}); s != want {
		t.Fatalf("RandomString over 248, 255, 247, 1 = %q, want %q", s, want)
	}
}

// TestHintBoundaries: the shortest secret with a hint has 12 characters,
// and a prefix separator at the very start still makes one.
func TestHintBoundaries(t *testing.T) {
	for secret, want := range map[string]string{
		"sk_test_abcd":  "sk_test_…abcd",
		"sk_test_abc":   "",
		"_abcdefghijkl": "_…ijkl",
		"abcdefghijklm": "",
	} {
		if got := Hint(secret); got != want {
			t.Errorf("Hint(%q) = %q, want %q", secret, got, want)
		}
	}
}

// TestIdentifierAlphabetEdges: the last letters and digits of each range
// are identifier characters.
func TestIdentifierAlphabetEdges(t *testing.T) {
	for _, s := range []string{"z", "Z", "9", "az", "aZ", "a9", "a0", "A", "0"} {
		if !ValidOrganizationID(s) {
			t.Errorf("ValidOrganizationID(%q) = false", s)
		}
	}
	for _, s := range []string{"{", "a{", "`", "a[", "a/", "a:" + string(rune(0x7f))} {
		if ValidOrganizationID(s) {
			t.Errorf("ValidOrganizationID(%q) = true", s)
		}
	}
}
