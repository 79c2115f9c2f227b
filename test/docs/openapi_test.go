package docs

import (
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
		// "`a` / `b` (notes, which may hold / too)": one part per status.
		parts := strings.SplitN(cells[2], " / ", len(statuses))
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
