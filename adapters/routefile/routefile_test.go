package routefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/routes"
)

const examplePath = "../../configs/routes.example.yaml"

// TestExamplePolicy loads the shipped example and checks that it answers
// as its comments and docs/routes.md say, rule line included.
func TestExamplePolicy(t *testing.T) {
	p, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if p.Default() != routes.DefaultDeny || p.Len() != 5 {
		t.Fatalf("default %q, %d rules", p.Default(), p.Len())
	}
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	cases := []struct {
		method, target string
		scope          apikey.Scope // empty: no route
		path           string       // the pattern of the rule expected
	}{
		{"GET", "/api/v1/triggers", apikey.ScopeTriggersRead, "/api/v1/triggers/**"},
		{"HEAD", "/api/v1/triggers", apikey.ScopeTriggersRead, "/api/v1/triggers/**"},
		{"GET", "/api/v1/triggers/", apikey.ScopeTriggersRead, "/api/v1/triggers/**"},
		{"GET", "/api/v1/triggers/trg_1?expand=runs", apikey.ScopeTriggersRead, "/api/v1/triggers/**"},
		{"POST", "/api/v1/triggers", apikey.ScopeTriggersWrite, "/api/v1/triggers/**"},
		{"PUT", "/api/v1/triggers/trg_1", apikey.ScopeTriggersWrite, "/api/v1/triggers/**"},
		{"PATCH", "/api/v1/triggers/trg_1", apikey.ScopeTriggersWrite, "/api/v1/triggers/**"},
		{"DELETE", "/api/v1/triggers/trg_1", apikey.ScopeTriggersWrite, "/api/v1/triggers/**"},
		{"GET", "/api/v1/events?chain=1&from=100", apikey.ScopeEventsRead, "/api/v1/events/**"},
		{"GET", "/api/v1/events/evt_1", apikey.ScopeEventsRead, "/api/v1/events/**"},
		{"GET", "/api/v1/organizations/org_123", apikey.ScopeOrganizationsRead, "/api/v1/organizations/**"},
		{"PATCH", "/api/v1/organizations/org_123/settings", apikey.ScopeOrganizationsWrite, "/api/v1/organizations/**"},
		{"DELETE", "/api/v1/organizations/org_123", apikey.ScopeOrganizationsWrite, "/api/v1/organizations/**"},
		{"POST", "/api/v1/events", "", ""},
		{"OPTIONS", "/api/v1/triggers", "", ""},
		{"GET", "/api/v1/triggersX", "", ""},
		{"GET", "/api/v1/api-keys", "", ""},
		{"GET", "/api/v2/triggers", "", ""},
		{"GET", "/", "", ""},
	}
	for _, c := range cases {
		d := p.Match(c.method, c.target)
		if c.scope == "" {
			if d.Kind != routes.NoRoute || !errors.Is(d.Err(), routes.ErrNoRoute) {
				t.Errorf("%s %s: %v, want no route", c.method, c.target, d.Kind)
			}
			continue
		}
		if d.Kind != routes.Matched || d.Public || len(d.Scopes) != 1 || d.Scopes[0] != c.scope || len(d.Environments) != 0 {
			t.Errorf("%s %s: %+v, want scope %s", c.method, c.target, d, c.scope)
			continue
		}
		if d.Line < 2 || !strings.Contains(lines[d.Line-1], "- methods:") || strings.TrimSpace(lines[d.Line]) != "path: "+c.path {
			t.Errorf("%s %s: line %d is %q, %q; want the rule for %s", c.method, c.target, d.Line, lines[d.Line-1], lines[d.Line], c.path)
		}
	}
	// Refusals before any key is looked at.
	if d := p.Match("GET", "/api/v1/events/%2e%2e/triggers"); d.Kind != routes.Invalid {
		t.Errorf("dot segment: %v", d.Kind)
	}
	key := apikey.Verified{Environment: apikey.EnvTest, Scopes: apikey.Scopes{apikey.ScopeTriggersRead}}
	if err := p.Match("GET", "/api/v1/triggers").Authorize(key); err != nil {
		t.Errorf("triggers:read key listing triggers: %v", err)
	}
	if err := p.Match("POST", "/api/v1/triggers").Authorize(key); !errors.Is(err, apikey.ErrForbidden) {
		t.Errorf("triggers:read key creating a trigger: %v", err)
	}
}

// TestExampleCommentsAreValid uncomments the extra rules the example shows
// in comments and loads them with the others, so that what it suggests
// works.
func TestExampleCommentsAreValid(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	head, tail, ok := strings.Cut(string(data), "    # More that a policy can say")
	if !ok {
		t.Fatal("the example lost its commented rules")
	}
	var extra []string
	for _, line := range strings.Split(tail, "\n") {
		if rest, ok := strings.CutPrefix(line, "    # "); ok && (strings.HasPrefix(rest, "- ") || strings.HasPrefix(rest, "  ")) {
			extra = append(extra, "    "+rest)
		}
	}
	if len(extra) < 10 {
		t.Fatalf("found only %d commented lines", len(extra))
	}
	p, err := Parse("example+comments", []byte(head+strings.Join(extra, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Match("GET", "/api/v1/status"); d.Kind != routes.Matched || !d.Public {
		t.Errorf("status: %+v", d)
	}
	d := p.Match("DELETE", "/api/v1/billing/acc_1/cards/1")
	if d.Kind != routes.Matched || d.Scopes[0] != apikey.ScopeOrganizationsWrite || len(d.Environments) != 1 || d.Environments[0] != apikey.EnvLive {
		t.Errorf("billing: %+v", d)
	}
	if d := p.Match("GET", "/api/v1/billing"); d.Kind != routes.NoRoute {
		t.Errorf("{account} needs a segment: %+v", d)
	}
	if d := p.Match("GET", "/api/v1/me"); d.Kind != routes.Matched || d.Public || len(d.Scopes) != 0 || !d.NeedsKey() {
		t.Errorf("me: %+v", d)
	}
}

// TestParseInConfigFile reads the section out of a whole configuration
// file; lines count from the top of the file.
func TestParseInConfigFile(t *testing.T) {
	doc := `env: development
http:
  addr: 127.0.0.1:8080
read: &read [triggers:read]
routes:
  default: allow_any_key
  rules:
    - methods: GET
      path: /a/**
      scopes: *read
    - path: /b/{id}
      scopes: []
      environments: [live]
    - {methods: ["*"], path: /health, public: true}
storage:
  driver: sqlite
`
	p, err := Parse("apikeys.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if p.Default() != routes.DefaultAllowAnyKey {
		t.Fatalf("default %q", p.Default())
	}
	for _, c := range []struct {
		method, target string
		line           int
	}{{"GET", "/a/x", 8}, {"PUT", "/b/1", 11}, {"POST", "/health", 14}} {
		if d := p.Match(c.method, c.target); d.Kind != routes.Matched || d.Line != c.line {
			t.Errorf("%s %s: %+v, want line %d", c.method, c.target, d, c.line)
		}
	}
	if d := p.Match("GET", "/a"); d.Scopes.Join(",") != "triggers:read" {
		t.Errorf("scopes through an alias: %v", d.Scopes)
	}
	if d := p.Match("GET", "/elsewhere"); d.Kind != routes.AnyKey {
		t.Errorf("allow_any_key: %v", d.Kind)
	}
}

func TestParseWithoutSection(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "http:\n  addr: :8080\n"} {
		if p, err := Parse("c.yaml", []byte(doc)); p != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want nil, nil", doc, p, err)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(file, []byte("http: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(file); err == nil || err.Error() != file+": no routes section" {
		t.Errorf("Load of a file without routes: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// TestParseReportsProblemsWithLines checks that every kind of mistake is
// reported with the file, the line and the setting.
func TestParseReportsProblemsWithLines(t *testing.T) {
	const head = "routes:\n  rules:\n" // rules start on line 3
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{"unknown scope", head + "    - path: /a\n      scopes: [triggers:read]\n    - path: /b\n      scopes: [events:read, triggers:admin]\n",
			[]string{`r.yaml: line 5: scopes[1]: unknown scope "triggers:admin"`}},
		{"unknown environment", head + "    - path: /a\n      scopes: []\n      environments: [prod]\n",
			[]string{`r.yaml: line 3: environments[0]: unknown environment "prod"`}},
		{"bad method", head + "    - methods: [GET, \"BAD METHOD\"]\n      path: /a\n      scopes: []\n",
			[]string{`r.yaml: line 3: methods[1]: "BAD METHOD" is not an HTTP method token`}},
		{"bad pattern", head + "    - path: /a/*/b\n      scopes: []\n",
			[]string{`r.yaml: line 3: path: segment "*": * is no wildcard`}},
		{"unreachable", head + "    - path: /a/**\n      scopes: []\n    - methods: [GET]\n      path: /a/b\n      public: true\n",
			[]string{"r.yaml: line 5: is unreachable: every request it would match goes to the rule at line 3 first"}},
		{"overlap", head + "    - {methods: [GET], path: \"/a/{x}/b\", public: true}\n    - {methods: [GET], path: \"/a/c/{y}\", scopes: [events:read]}\n",
			[]string{"r.yaml: line 4: overlaps the rule at line 3: requests such as GET /a/c/b match both"}},
		{"public with scopes", head + "    - path: /a\n      public: true\n      scopes: [events:read]\n",
			[]string{"r.yaml: line 3: public: a public route needs no key"}},
		{"unknown rule setting", head + "    - path: /a\n      scope: [events:read]\n",
			[]string{"r.yaml: line 3: routes.rules[0]: scopes is missing",
				`r.yaml: line 4: routes.rules[0]: unknown setting "scope" (known: methods, path, scopes, environments, public)`}},
		{"unknown section setting", "routes:\n  rule: []\n  rules: []\n",
			[]string{`r.yaml: line 2: routes: unknown setting "rule" (known: default, rules)`}},
		{"setting twice", head + "    - path: /a\n      path: /b\n      scopes: []\n",
			[]string{"r.yaml: line 4: routes.rules[0]: path is given twice"}},
		{"routes twice", "routes:\n  rules: []\nroutes:\n  rules: []\n",
			[]string{"r.yaml: line 3: routes is given twice"}},
		{"missing path", head + "    - methods: [GET]\n      scopes: []\n",
			[]string{"r.yaml: line 3: routes.rules[0]: path is missing"}},
		{"missing scopes", head + "    - {methods: [GET], path: /a}\n",
			[]string{"r.yaml: line 3: routes.rules[0]: scopes is missing: list the scopes required, write scopes: [] to admit any valid key, or public: true for no key"}},
		{"missing rules", "routes:\n  default: deny\n",
			[]string{"r.yaml: line 2: routes: rules is missing"}},
		{"unknown default", "routes:\n  default: allow\n  rules: []\n",
			[]string{`r.yaml: line 2: routes.default: unknown default "allow"`}},
		{"public not a boolean", head + "    - {path: /a, public: yes}\n",
			[]string{"r.yaml: line 3: routes.rules[0].public: expected true or false", "r.yaml: line 3: routes.rules[0]: scopes is missing"}},
		{"path not a string", head + "    - {path: 12, scopes: []}\n",
			[]string{"r.yaml: line 3: routes.rules[0].path: expected a string"}},
		{"scopes not a list", head + "    - path: /a\n      scopes: events:read\n",
			[]string{"r.yaml: line 4: routes.rules[0].scopes: expected a list"}},
		{"scopes empty", head + "    - path: /a\n      scopes:\n",
			[]string{"r.yaml: line 4: routes.rules[0].scopes: expected a list"}},
		{"scope not a string", head + "    - path: /a\n      scopes: [[events:read]]\n",
			[]string{"r.yaml: line 4: routes.rules[0].scopes[0]: expected a string"}},
		{"methods a mapping", head + "    - path: /a\n      methods: {GET: true}\n      scopes: []\n",
			[]string{"r.yaml: line 4: routes.rules[0].methods: expected a list"}},
		{"rule not a mapping", head + "    - /a\n",
			[]string{"r.yaml: line 3: routes.rules[0]: expected a mapping with methods, path, scopes, environments, public"}},
		{"rules not a list", "routes:\n  rules: {path: /a}\n",
			[]string{"r.yaml: line 2: routes.rules: expected a list of rules"}},
		{"section not a mapping", "routes: [a]\n",
			[]string{"r.yaml: line 1: routes: expected a mapping with default, rules"}},
		{"document not a mapping", "- routes\n",
			[]string{"r.yaml: line 1: expected a mapping of settings"}},
		{"bare star", head + "    - methods: [*]\n      path: /a\n      scopes: []\n",
			[]string{`r.yaml: yaml: line 3: did not find expected alphabetic or numeric character (a bare * starts a YAML alias: write "*" for any method)`}},
		{"syntax", "routes:\n  rules: [\n",
			[]string{"r.yaml: yaml: line 2: did not find expected node content"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse("r.yaml", []byte(c.doc))
			if err == nil {
				t.Fatalf("Parse accepted it (%d rules)", p.Len())
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(c.want) {
				t.Fatalf("Parse reported %q, want %d problems %q", got, len(c.want), c.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], c.want[i]) {
					t.Errorf("problem %d = %q, want it to start with %q", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestParseKeepsRuleErrors(t *testing.T) {
	_, err := Parse("r.yaml", []byte("routes:\n  rules:\n    - path: /a\n      scopes: [nope]\n"))
	var re *routes.RuleError
	if !errors.As(err, &re) || re.Line != 3 || re.Field != "scopes[0]" {
		t.Fatalf("Parse: %v; want a *routes.RuleError for line 3", err)
	}
}

// TestDocsExamples loads every YAML example of docs/routes.md (the rule
// fragments inside a routes section of their own) and checks the problems
// its start-up section shows are the ones reported.
func TestDocsExamples(t *testing.T) {
	data, err := os.ReadFile("../../docs/routes.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := codeBlocks(string(data), "yaml")
	if len(blocks) < 6 {
		t.Fatalf("found %d YAML examples", len(blocks))
	}
	for i, b := range blocks {
		doc := b
		if !strings.HasPrefix(b, "routes:") {
			doc = "routes:\n  rules:\n" + b
		}
		if _, err := Parse("docs/routes.md example", []byte(doc)); err != nil {
			t.Errorf("example %d:\n%s\n%v", i+1, b, err)
		}
	}

	// The messages shown under "Checks at start-up", from a file that has
	// those mistakes on those lines.
	shown := codeBlocks(string(data), "")
	if len(shown) != 1 {
		t.Fatalf("found %d plain code blocks, want the one of messages", len(shown))
	}
	bad := "routes:\n  rules:\n" + strings.Repeat("\n", 9) +
		"    - path: /a\n      scopes: [events:read, triggers:admin]\n\n" + // line 12
		"    - methods: [GE T]\n      path: /b\n      scopes: []\n" + // line 15
		"    - path: /c/*\n      scopes: []\n\n" + // line 18
		"    - path: /d\n" // line 21, rules[3]
	_, err = Parse("configs/routes.yaml", []byte(bad))
	if err == nil {
		t.Fatal("the mistakes were accepted")
	}
	if got, want := err.Error(), strings.TrimSpace(shown[0]); got != want {
		t.Errorf("reported:\n%s\ndocs/routes.md shows:\n%s", got, want)
	}
}

// codeBlocks returns the fenced code blocks of markdown in language lang
// ("" for blocks without one).
func codeBlocks(markdown, lang string) []string {
	var out []string
	parts := strings.Split(markdown, "```")
	for i := 1; i < len(parts); i += 2 {
		info, body, _ := strings.Cut(parts[i], "\n")
		if info == lang {
			out = append(out, body)
		}
	}
	return out
}
