// Package docs checks that the README states facts the code agrees with.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
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

// TestReadmeLayoutListsEveryPackage keeps the README's layout section, the
// architecture document, true: every directory holding Go files is listed
// there, and every listed directory exists.
func TestReadmeLayoutListsEveryPackage(t *testing.T) {
	r := readme(t)
	start := strings.Index(r, "## Layout")
	if start < 0 {
		t.Fatal("README has no Layout section")
	}
	section := r[start:]
	if end := strings.Index(section[len("## Layout"):], "\n## "); end >= 0 {
		section = section[:len("## Layout")+end]
	}
	// The map is the section's first code block: one entry per line that
	// does not start with a space (continuations do).
	_, block, ok := strings.Cut(section, "```\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("README's Layout section has no code block")
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(block, "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(line, " ") {
			listed[strings.TrimSuffix(f[0], "/")] = true
		}
	}
	root := "../.."
	dirs := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (strings.HasPrefix(name, ".") || name == "data" || name == "bin" || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".go") {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			dirs[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range dirs {
		if dir == "." {
			dir = "main.go"
		}
		if !listed[dir] {
			t.Errorf("README's layout does not list %s", dir)
		}
	}
	for dir := range listed {
		if dir == "main.go" {
			continue
		}
		if st, err := os.Stat(filepath.Join(root, dir)); err != nil || !st.IsDir() {
			t.Errorf("README's layout lists %s, which is not a directory", dir)
		}
	}
}
