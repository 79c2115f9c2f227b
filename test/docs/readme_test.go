// Package docs checks that the README states facts the code agrees with.
package docs

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/agentauri/apikeys/core/apikey"
)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReadmeScannerRegexIsTheCodes(t *testing.T) {
	if !strings.Contains(readme(t), "\n  "+apikey.ScannerRegex+"\n") {
		t.Fatalf("README does not publish the scanner regex %s", apikey.ScannerRegex)
	}
}

func TestReadmeExampleKeyIsValid(t *testing.T) {
	m := regexp.MustCompile(apikey.ScannerRegex).FindAllString(readme(t), -1)
	if len(m) == 0 {
		t.Fatal("README shows no example key")
	}
	for _, k := range m {
		if _, err := apikey.Parse(k); err != nil {
			t.Errorf("README example key %s: %v", k, err)
		}
	}
}

func TestReadmeListsEveryScopeAndCommand(t *testing.T) {
	r := readme(t)
	for _, s := range apikey.AllScopes {
		if !strings.Contains(r, "| `"+string(s)+"` |") {
			t.Errorf("README's scope table lacks %s", s)
		}
	}
	for _, cmd := range []string{"make run", "make test", "apikeys serve", "apikeys migrate up", "apikeys token"} {
		if !strings.Contains(r, cmd) {
			t.Errorf("README does not mention %q", cmd)
		}
	}
}
