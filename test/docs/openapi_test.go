package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/agentauri/apikeys/api"
)

// specErrorCodes returns the code enum of each ErrorNNN schema of the
// OpenAPI document, by status.
func specErrorCodes(t *testing.T) map[string][]string {
	t.Helper()
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties struct {
					Error struct {
						Properties struct {
							Code struct {
								Enum []string `yaml:"enum"`
							} `yaml:"code"`
						} `yaml:"properties"`
					} `yaml:"error"`
				} `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(api.YAML(), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for name, s := range doc.Components.Schemas {
		if status, ok := strings.CutPrefix(name, "Error"); ok && len(status) == 3 {
			codes := slices.Clone(s.Properties.Error.Properties.Code.Enum)
			sort.Strings(codes)
			out[status] = codes
		}
	}
	return out
}

// readmeErrorCodes returns the codes of each status of README's error
// table ("| 404 / 405 | `not_found` / `method_not_allowed` |" pairs them).
func readmeErrorCodes(t *testing.T) map[string][]string {
	t.Helper()
	r := readme(t)
	start := strings.Index(r, "| Status | Codes |")
	if start < 0 {
		t.Fatal("README has no error table")
	}
	table, _, _ := strings.Cut(r[start:], "\n\n")
	code := regexp.MustCompile("`([a-z_]+)`")
	out := map[string][]string{}
	for _, line := range strings.Split(table, "\n")[2:] {
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		statuses := strings.Split(cells[1], "/")
		parts := strings.Split(cells[2], " / ")
		if len(statuses) != len(parts) {
			parts = []string{cells[2]}
		}
		for i, st := range statuses {
			st = strings.TrimSpace(st)
			p := parts[min(i, len(parts)-1)]
			for _, m := range code.FindAllStringSubmatch(p, -1) {
				out[st] = append(out[st], m[1])
			}
			sort.Strings(out[st])
		}
	}
	return out
}

// TestOpenAPIErrorCodesAreREADMEs keeps one list of error codes: each
// status's code enum in api/openapi.yaml is exactly README's table row.
func TestOpenAPIErrorCodesAreREADMEs(t *testing.T) {
	spec, table := specErrorCodes(t), readmeErrorCodes(t)
	if len(table) < 10 {
		t.Fatalf("README's error table read as %v: is the parse broken?", table)
	}
	for st, codes := range table {
		if !slices.Equal(spec[st], codes) {
			t.Errorf("status %s: README lists %v, api/openapi.yaml's Error%s enum %v", st, codes, st, spec[st])
		}
	}
	for st := range spec {
		if _, ok := table[st]; !ok {
			t.Errorf("api/openapi.yaml has Error%s, README's error table no row for %s", st, st)
		}
	}
}

// emitted finds the error codes written as literals in the service's Go
// code: Code fields, abort calls and code constants.
var emitted = []*regexp.Regexp{
	regexp.MustCompile(`Code:\s*"([a-z_]+)"`),
	regexp.MustCompile(`abort\(c, [^,]+, "([a-z_]+)"`),
	regexp.MustCompile(`code[A-Z]\w*\s*=\s*"([a-z_]+)"`),
	regexp.MustCompile(`\{apikey\.Err\w+, http\.Status\w+, "([a-z_]+)"`),
}

// TestEveryEmittedCodeIsDocumented checks that every error code the code
// writes is in the OpenAPI document (hence in README's table). Codes made
// by "invalid_" + a field name are listed by hand.
func TestEveryEmittedCodeIsDocumented(t *testing.T) {
	documented := map[string]bool{}
	for _, codes := range specErrorCodes(t) {
		for _, c := range codes {
			documented[c] = true
		}
	}
	for _, c := range []string{"invalid_since", "invalid_until", "invalid_expires_at"} {
		if !documented[c] {
			t.Errorf("%s (made from a field name) is not documented", c)
		}
	}
	found := 0
	for _, dir := range []string{"../../core", "../../adapters/httpapi"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, re := range emitted {
				for _, m := range re.FindAllStringSubmatch(string(b), -1) {
					if strings.HasSuffix(m[1], "_") {
						continue // "invalid_" + a field name: listed above
					}
					found++
					if !documented[m[1]] {
						t.Errorf("%s emits error code %q, which api/openapi.yaml and README's error table lack", path, m[1])
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if found < 20 {
		t.Fatalf("found only %d error codes in the code: is the scan broken?", found)
	}
}
