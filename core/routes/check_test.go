package routes

import (
	"errors"
	"strings"
	"testing"
)

// ruleErrors returns the RuleErrors joined in err.
func ruleErrors(t *testing.T, err error) []*RuleError {
	t.Helper()
	if err == nil {
		return nil
	}
	var out []*RuleError
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("New returned %T (%v), want errors joined", err, err)
	}
	for _, e := range joined.Unwrap() {
		var re *RuleError
		if !errors.As(e, &re) {
			t.Fatalf("New returned %T (%v) among its errors, want *RuleError", e, e)
		}
		out = append(out, re)
	}
	return out
}

// get, post, any build rules tersely: line, path, and scope triggers:read.
func get(line int, path string) Rule {
	return Rule{Line: line, Methods: []string{"GET"}, Path: path, Scopes: []string{"triggers:read"}}
}

func TestNewReportsBadRules(t *testing.T) {
	cases := []struct {
		name  string
		rule  Rule
		field string
		msg   string // a part of the message
	}{
		{"method not a token", Rule{Methods: []string{"GE T"}, Path: "/a"}, "methods[0]", `"GE T" is not an HTTP method token`},
		{"empty method", Rule{Methods: []string{"GET", ""}, Path: "/a"}, "methods[1]", `"" is not an HTTP method token`},
		{"star with others", Rule{Methods: []string{"GET", "*"}, Path: "/a"}, "methods[1]", "* already means every method"},
		{"no path", Rule{Methods: []string{"GET"}}, "path", "is required"},
		{"relative path", Rule{Path: "api/v1"}, "path", "must start with /"},
		{"trailing slash", Rule{Path: "/api/v1/"}, "path", "must not end with /"},
		{"empty segment", Rule{Path: "/api//v1"}, "path", "empty segment"},
		{"inner **", Rule{Path: "/api/**/v1"}, "path", "** only as its last segment"},
		{"star", Rule{Path: "/api/*"}, "path", "* is no wildcard"},
		{"partial star", Rule{Path: "/api/v*"}, "path", "* is no wildcard"},
		{"partial param", Rule{Path: "/api/v{n}"}, "path", "a parameter must be a whole segment"},
		{"unclosed param", Rule{Path: "/api/{id"}, "path", "a parameter is a whole segment"},
		{"bad param name", Rule{Path: "/api/{1d}"}, "path", "a parameter is a whole segment"},
		{"empty param name", Rule{Path: "/api/{}"}, "path", "a parameter is a whole segment"},
		{"repeated param", Rule{Path: "/a/{id}/b/{id}"}, "path", "names parameter {id} twice"},
		{"dot segment", Rule{Path: "/a/./b"}, "path", "must not hold . or .. segments"},
		{"dot-dot segment", Rule{Path: "/a/.."}, "path", "must not hold . or .. segments"},
		{"encoded", Rule{Path: "/a/b%20c"}, "path", "write characters decoded"},
		{"semicolon", Rule{Path: "/a;b"}, "path", "must not hold ;"},
		{"query", Rule{Path: "/a?b=1"}, "path", "must not hold a query"},
		{"fragment", Rule{Path: "/a#b"}, "path", "must not hold a query or fragment"},
		{"non-ASCII", Rule{Path: "/caf\u00e9"}, "path", `character 'é' is not allowed`},
		{"backslash", Rule{Path: `/a\b`}, "path", `character '\\' is not allowed`},
		{"unknown scope", Rule{Path: "/a", Scopes: []string{"triggers:read", "triggers:admin"}}, "scopes[1]", `unknown scope "triggers:admin"`},
		{"unknown environment", Rule{Path: "/a", Scopes: []string{"events:read"}, Environments: []string{"prod"}}, "environments[0]", `unknown environment "prod"`},
		{"public with scopes", Rule{Path: "/a", Public: true, Scopes: []string{"events:read"}}, "public", "takes no scopes or environments"},
		{"public with environments", Rule{Path: "/a", Public: true, Environments: []string{"live"}}, "public", "takes no scopes or environments"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.rule.Line = 42
			_, err := New([]Rule{get(7, "/ok"), c.rule}, DefaultDeny)
			errs := ruleErrors(t, err)
			if len(errs) != 1 {
				t.Fatalf("New reported %d problems (%v), want 1", len(errs), err)
			}
			e := errs[0]
			if e.Line != 42 || e.Index != 1 || e.Field != c.field || !strings.Contains(e.Message, c.msg) {
				t.Fatalf("got line %d index %d field %q message %q; want line 42 index 1 field %q message containing %q",
					e.Line, e.Index, e.Field, e.Message, c.field, c.msg)
			}
			if !strings.HasPrefix(e.Error(), "line 42: "+c.field+": ") {
				t.Fatalf("Error() = %q", e.Error())
			}
		})
	}
}

func TestNewAcceptsGoodRules(t *testing.T) {
	p, err := New([]Rule{
		{Methods: []string{"get", "GET", "head"}, Path: "/a/{id}", Scopes: []string{"events:read", "events:read"}, Environments: []string{"live", "live"}},
		{Methods: []string{"M-SEARCH", "x.y~z"}, Path: "/b/-._~!$&'()+,=:@/{Name_2}/**"},
		{Methods: nil, Path: "/**", Environments: []string{"test"}},
	}, DefaultDeny)
	if err != nil {
		t.Fatal(err)
	}
	d := p.Match("GET", "/a/1")
	if d.Kind != Matched || len(d.Scopes) != 1 || len(d.Environments) != 1 {
		t.Fatalf("duplicates kept: %+v", d)
	}
	if d := p.Match("M-SEARCH", "/b/-._~!$&'()+,=:@/x/y"); d.Kind != Matched || d.Rule != 1 {
		t.Fatalf("literal punctuation or extension method: %+v", d)
	}
	if d := p.Match("X.Y~Z", "/b/-._~!$&'()+,=:@/x"); d.Kind != Matched || d.Rule != 1 {
		t.Fatalf("methods are upper-cased when read: %+v", d)
	}
	if d := p.Match("DELETE", "/"); d.Kind != Matched || d.Rule != 2 {
		t.Fatalf("/** matches the root: %+v", d)
	}
	if p.Len() != 3 {
		t.Fatalf("Len = %d", p.Len())
	}
}

func TestNewReportsRuleOrder(t *testing.T) {
	post := func(line int, path string) Rule {
		return Rule{Line: line, Methods: []string{"POST"}, Path: path, Scopes: []string{"triggers:write"}}
	}
	anyMethod := func(line int, path string, scope string) Rule {
		return Rule{Line: line, Path: path, Scopes: []string{scope}}
	}
	cases := []struct {
		name  string
		rules []Rule
		want  []string // the errors, in order; none for a good order
	}{
		{"duplicate", []Rule{get(1, "/a/**"), get(2, "/a/**")},
			[]string{"line 2: duplicates the rule at line 1"}},
		{"shadowed by a wider pattern", []Rule{get(1, "/a/**"), get(2, "/a/b/{id}")},
			[]string{"line 2: is unreachable: every request it would match goes to the rule at line 1 first"}},
		{"shadowed by a parameter", []Rule{get(1, "/a/{x}"), get(2, "/a/b")},
			[]string{"line 2: is unreachable"}},
		{"shadowed by the prefix itself", []Rule{get(1, "/a/**"), get(2, "/a")},
			[]string{"line 2: is unreachable"}},
		{"shadowed by two rules", []Rule{get(1, "/a/**"), post(2, "/a/**"), {Line: 3, Methods: []string{"POST", "GET"}, Path: "/a/b"}},
			[]string{"line 3: is unreachable: every request it would match goes to the rules at line 1, line 2 first"}},
		{"shadowed only by case", []Rule{get(1, "/a/B"), get(2, "/a/b")},
			[]string{"line 2: is unreachable"}},
		{"HEAD after GET", []Rule{get(1, "/a/**"), {Line: 2, Methods: []string{"HEAD"}, Path: "/a/x", Public: true}},
			[]string{"line 2: is unreachable"}},
		{"any method after any method", []Rule{anyMethod(1, "/**", "events:read"), get(2, "/a")},
			[]string{"line 2: is unreachable"}},
		{"some methods shadowed", []Rule{get(1, "/a/**"), {Line: 2, Methods: []string{"GET", "POST"}, Path: "/a/b"}},
			[]string{"line 2: never sees GET requests: they go to the rule at line 1 first"}},
		{"any method partly shadowed", []Rule{get(1, "/a/**"), anyMethod(2, "/a/admin", "organizations:write")},
			[]string{"line 2: never sees GET, HEAD requests: they go to the rule at line 1 first"}},
		{"overlap", []Rule{get(1, "/a/{x}/b"), {Line: 2, Methods: []string{"GET"}, Path: "/a/c/{y}", Scopes: []string{"events:read"}}},
			[]string{"line 2: overlaps the rule at line 1: requests such as GET /a/c/b match both and line 1 decides them"}},
		{"overlap through **", []Rule{get(1, "/a/{x}/b"), anyMethod(2, "/a/c/**", "events:read")},
			[]string{"line 2: overlaps the rule at line 1: requests such as GET /a/c/b match both"}},
		{"overlap through HEAD", []Rule{{Line: 1, Methods: []string{"HEAD"}, Path: "/a/{x}", Public: true}, get(2, "/{y}/b")},
			[]string{"line 2: overlaps the rule at line 1: requests such as HEAD /a/b match both"}},
		{"several problems", []Rule{get(1, "/a/**"), {Line: 2, Methods: []string{"no pe"}, Path: "x"}, get(3, "/a/**")},
			[]string{`line 2: methods[0]: "no pe" is not an HTTP method token`, "line 2: path: must start with /", "line 3: duplicates the rule at line 1"}},
		{"no line known", []Rule{get(0, "/a/**"), get(0, "/a/b")},
			[]string{"rule 2: is unreachable: every request it would match goes to the rule at rule 1 first"}},

		// Orders that are fine.
		{"exception first", []Rule{{Line: 1, Methods: []string{"GET"}, Path: "/a/status", Public: true}, get(2, "/a/**")}, nil},
		{"methods split", []Rule{get(1, "/a/**"), post(2, "/a/**")}, nil},
		{"disjoint lengths", []Rule{get(1, "/a/{x}"), get(2, "/a/{x}/{y}")}, nil},
		{"sibling prefixes", []Rule{get(1, "/a/**"), get(2, "/ab/**")}, nil},
		{"overlap asking the same", []Rule{get(1, "/a/{x}/b"), get(2, "/a/c/{y}")}, nil},
		{"overlap settled above", []Rule{
			{Line: 1, Methods: []string{"GET"}, Path: "/a/c/b", Public: true},
			get(2, "/a/{x}/b"),
			{Line: 3, Methods: []string{"GET"}, Path: "/a/c/{y}", Scopes: []string{"events:read"}},
		}, nil},
		{"GET after HEAD", []Rule{{Line: 1, Methods: []string{"HEAD"}, Path: "/a/**", Public: true}, get(2, "/a/x")}, nil},
		{"different methods, same path", []Rule{get(1, "/a"), post(2, "/a"), anyMethod(3, "/a", "organizations:write")}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.rules, DefaultDeny)
			errs := ruleErrors(t, err)
			if len(errs) != len(c.want) {
				t.Fatalf("New reported %v, want %d problems %q", err, len(c.want), c.want)
			}
			for i, e := range errs {
				if !strings.HasPrefix(e.Error(), c.want[i]) {
					t.Errorf("problem %d = %q, want it to start with %q", i, e.Error(), c.want[i])
				}
			}
		})
	}
}
