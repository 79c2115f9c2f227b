package routes

import (
	"errors"
	"strings"
	"testing"

	"github.com/agentauri/apikeys/core/apikey"
)

// testRules is the policy most matching tests run against.
var testRules = []Rule{
	{Line: 10, Methods: []string{"GET"}, Path: "/api/v1/triggers/**", Scopes: []string{"triggers:read"}},
	{Line: 11, Methods: []string{"POST", "PUT", "PATCH", "DELETE"}, Path: "/api/v1/triggers/**", Scopes: []string{"triggers:write"}},
	{Line: 12, Methods: []string{"GET"}, Path: "/api/v1/events/{id}", Scopes: []string{"events:read"}},
	{Line: 13, Methods: []string{"GET"}, Path: "/health", Public: true},
	{Line: 14, Methods: []string{"*"}, Path: "/api/v1/live/**", Scopes: []string{"organizations:write", "organizations:read"}, Environments: []string{"live"}},
	{Line: 15, Methods: []string{"GET"}, Path: "/", Public: true},
	{Line: 16, Path: "/api/v1/orgs/{org}/members/{member}", Scopes: []string{"organizations:read"}},
}

func mustNew(t testing.TB, rules []Rule, def Default) *Policy {
	t.Helper()
	p, err := New(rules, def)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func TestMatch(t *testing.T) {
	p := mustNew(t, testRules, DefaultDeny)
	const (
		rule = Matched
		none = NoRoute
		bad  = Invalid
	)
	cases := []struct {
		method, target string
		kind           Kind
		rule           int    // for Matched
		reason         string // for Invalid
	}{
		// /** matches the prefix itself and anything below it, never a sibling.
		{"GET", "/api/v1/triggers", rule, 0, ""},
		{"GET", "/api/v1/triggers/", rule, 0, ""},
		{"GET", "/api/v1/triggers/trg_1", rule, 0, ""},
		{"GET", "/api/v1/triggers/trg_1/runs/7", rule, 0, ""},
		{"GET", "/api/v1/triggers/trg_1/", rule, 0, ""},
		{"GET", "/api/v1/triggersX", none, 0, ""},
		{"GET", "/api/v1/triggers.json", none, 0, ""},
		{"GET", "/api/v1/trigger", none, 0, ""},
		{"GET", "/api/v1", none, 0, ""},
		{"GET", "/api", none, 0, ""},
		{"GET", "/api/v2/triggers", none, 0, ""},

		// Queries are not part of matching.
		{"GET", "/api/v1/triggers?limit=10", rule, 0, ""},
		{"GET", "/api/v1/triggersX?/api/v1/triggers", none, 0, ""},
		{"GET", "/api/v1/events/1?next=../../x#frag", rule, 2, ""},
		{"GET", "/?", rule, 5, ""},

		// Methods: first matching rule, HEAD as GET, tokens only.
		{"HEAD", "/api/v1/triggers", rule, 0, ""},
		{"POST", "/api/v1/triggers", rule, 1, ""},
		{"DELETE", "/api/v1/triggers/trg_1", rule, 1, ""},
		{"OPTIONS", "/api/v1/triggers", none, 0, ""},
		{"PURGE", "/api/v1/live/x", rule, 4, ""},
		{"POST", "/health", none, 0, ""},
		{"", "/health", bad, 0, reasonMethod},
		{"GE T", "/health", bad, 0, reasonMethod},
		{"GET\n", "/health", bad, 0, reasonMethod},
		{"GET/", "/health", bad, 0, reasonMethod},

		// Case: a request matching its first rule only case-insensitively
		// is refused, method or path.
		{"get", "/api/v1/triggers", bad, 0, reasonCase},
		{"Get", "/api/v1/triggers", bad, 0, reasonCase},
		{"head", "/api/v1/triggers", bad, 0, reasonCase},
		{"GET", "/API/v1/triggers", bad, 0, reasonCase},
		{"GET", "/api/v1/Triggers/trg_1", bad, 0, reasonCase},
		{"GET", "/HEALTH", bad, 0, reasonCase},
		{"GET", "/api/v1/%54riggers", bad, 0, reasonCase},
		{"GET", "/api/v1/trigger\u017f", bad, 0, reasonCase}, // LATIN SMALL LETTER LONG S folds to s
		{"GET", "/api/v1/triggers/TRG_1", rule, 0, ""},       // below /** anything goes
		{"GET", "/api/v1/events/ABC", rule, 2, ""},           // a parameter takes any case
		{"purge", "/api/v1/live/x", rule, 4, ""},             // * takes every token

		// Percent-encoding: decoded per segment; anything ambiguous refused.
		{"GET", "/api/v1/%74riggers", rule, 0, ""},
		{"GET", "/%61%70%69/v1/triggers/x", rule, 0, ""},
		{"GET", "/api/v1/events/caf%C3%A9", rule, 2, ""},
		{"GET", "/api/v1/events/a%20b", rule, 2, ""},
		{"GET", "/api/v1/events/%23", rule, 2, ""},
		{"GET", "/api/v1/events/%3F", rule, 2, ""},
		{"GET", "/api/v1/events/caf\u00e9", rule, 2, ""},
		{"GET", "/api/v1/triggers%2Ftrg_1", bad, 0, reasonSlash},
		{"GET", "/api/v1/events%2f1", bad, 0, reasonSlash},
		{"GET", "/api/v1/events/..%2Ftriggers", bad, 0, reasonSlash},
		{"GET", "/api/v1/events/a%5Cb", bad, 0, reasonBackslash},
		{"GET", "/api/v1/events/a\\b", bad, 0, reasonBackslash},
		{"GET", "/api/v1/events/%252e%252e", bad, 0, reasonPercent},
		{"GET", "/api/v1/events/%25", bad, 0, reasonPercent},
		{"GET", "/api/v1/events/%00", bad, 0, reasonControl},
		{"GET", "/api/v1/events/a%00b", bad, 0, reasonControl},
		{"GET", "/api/v1/events/a%0Ab", bad, 0, reasonControl},
		{"GET", "/api/v1/events/a%7Fb", bad, 0, reasonControl},
		{"GET", "/api/v1/events/%zz", bad, 0, reasonBadEscape},
		{"GET", "/api/v1/events/%4", bad, 0, reasonBadEscape},
		{"GET", "/api/v1/events/%", bad, 0, reasonBadEscape},
		{"GET", "/api/v1/events/%u002e", bad, 0, reasonBadEscape},
		{"GET", "/api/v1/events/%C0%AF", bad, 0, reasonUTF8}, // overlong "/"
		{"GET", "/api/v1/events/%FF", bad, 0, reasonUTF8},
		{"GET", "/api/v1/events/\xff", bad, 0, reasonUTF8},
		{"GET", "/api/v1/events/a;b", bad, 0, reasonSemicolon},
		{"GET", "/api/v1/triggers;jsessionid=1/x", bad, 0, reasonSemicolon},
		{"GET", "/api/v1/triggers%3B/x", bad, 0, reasonSemicolon},

		// Dot segments, raw or encoded, are refused, never resolved.
		{"GET", "/api/v1/events/../triggers/1", bad, 0, reasonDotSegment},
		{"GET", "/api/v1/events/%2e%2e/triggers", bad, 0, reasonDotSegment},
		{"GET", "/api/v1/events/.%2E/triggers", bad, 0, reasonDotSegment},
		{"GET", "/api/v1/./triggers", bad, 0, reasonDotSegment},
		{"GET", "/api/v1/triggers/%2E", bad, 0, reasonDotSegment},
		{"GET", "/api/v1/triggers/..", bad, 0, reasonDotSegment},
		{"GET", "/..", bad, 0, reasonDotSegment},
		{"GET", "/api/v1/events/...", rule, 2, ""},
		{"GET", "/api/v1/events/.x", rule, 2, ""},

		// Empty segments and trailing slashes.
		{"GET", "/api//v1/triggers", bad, 0, reasonEmptySegment},
		{"GET", "//api/v1/triggers", bad, 0, reasonEmptySegment},
		{"GET", "/api/v1/triggers//", bad, 0, reasonEmptySegment},
		{"GET", "/api/v1/triggers//x", bad, 0, reasonEmptySegment},
		{"GET", "//", bad, 0, reasonEmptySegment},
		{"GET", "/api/v1/events/1/", bad, 0, reasonTrailingSlash},
		{"GET", "/health/", bad, 0, reasonTrailingSlash},
		{"GET", "/", rule, 5, ""},

		// {param} takes exactly one non-empty segment.
		{"GET", "/api/v1/events/1", rule, 2, ""},
		{"GET", "/api/v1/events", none, 0, ""},
		{"GET", "/api/v1/events/1/2", none, 0, ""},
		{"PATCH", "/api/v1/orgs/org_1/members/usr_2", rule, 6, ""},
		{"PATCH", "/api/v1/orgs/org_1/members", none, 0, ""},
		{"PATCH", "/api/v1/orgs/org_1/members/usr_2/x", none, 0, ""},

		// Not an origin-form path.
		{"GET", "", bad, 0, reasonNoSlash},
		{"GET", "*", bad, 0, reasonNoSlash},
		{"GET", "api/v1/triggers", bad, 0, reasonNoSlash},
		{"GET", "http://h/api/v1/triggers", bad, 0, reasonNoSlash},
		{"GET", "?/api/v1/triggers", bad, 0, reasonNoSlash},
		{"GET", "/api/v1/triggers#x", bad, 0, reasonFragment},
		{"GET", "/api/v1/tr iggers", bad, 0, reasonRawSpace},
		{"GET", "/api/v1/triggers/\x00", bad, 0, reasonRawSpace},
		{"GET", "/api/v1/triggers/a\tb", bad, 0, reasonRawSpace},
		{"GET", strings.Repeat("/a", maxSegments+1), bad, 0, reasonTooManySegment},
	}
	for _, c := range cases {
		d := p.Match(c.method, c.target)
		if d.Kind != c.kind {
			t.Errorf("Match(%q, %q) = %v (%s), want %v", c.method, c.target, d.Kind, d.Reason, c.kind)
			continue
		}
		switch c.kind {
		case Matched:
			if d.Rule != c.rule || d.Line != testRules[c.rule].Line {
				t.Errorf("Match(%q, %q) matched rule %d (line %d), want rule %d", c.method, c.target, d.Rule, d.Line, c.rule)
			}
		case Invalid:
			if d.Reason != c.reason || d.Rule != -1 {
				t.Errorf("Match(%q, %q) reason %q (rule %d), want %q", c.method, c.target, d.Reason, d.Rule, c.reason)
			}
		default:
			if d.Rule != -1 || d.Line != 0 {
				t.Errorf("Match(%q, %q) = rule %d line %d, want none", c.method, c.target, d.Rule, d.Line)
			}
		}
	}
}

func TestMatchDecisionCarriesTheRule(t *testing.T) {
	p := mustNew(t, testRules, DefaultDeny)
	d := p.Match("DELETE", "/api/v1/live/thing")
	if d.Kind != Matched || d.Public || d.Line != 14 ||
		d.Scopes.Join(",") != "organizations:write,organizations:read" ||
		len(d.Environments) != 1 || d.Environments[0] != apikey.EnvLive {
		t.Fatalf("decision = %+v", d)
	}
	if d := p.Match("GET", "/health"); !d.Public || d.NeedsKey() || len(d.Scopes) != 0 {
		t.Fatalf("public decision = %+v", d)
	}
	if d := p.Match("GET", "/api/v1/triggers"); !d.NeedsKey() {
		t.Fatal("a scoped route must need a key")
	}
}

func TestDefault(t *testing.T) {
	deny := mustNew(t, testRules, "")
	if deny.Default() != DefaultDeny {
		t.Fatalf("empty default = %q, want deny", deny.Default())
	}
	d := deny.Match("GET", "/elsewhere")
	if d.Kind != NoRoute || d.NeedsKey() || !errors.Is(d.Err(), ErrNoRoute) || !errors.Is(d.Err(), apikey.ErrForbidden) {
		t.Fatalf("deny default: %+v, err %v", d, d.Err())
	}
	open := mustNew(t, testRules, DefaultAllowAnyKey)
	d = open.Match("GET", "/elsewhere")
	if d.Kind != AnyKey || !d.NeedsKey() || d.Err() != nil || d.Authorize(apikey.Verified{Environment: apikey.EnvTest}) != nil {
		t.Fatalf("allow_any_key default: %+v", d)
	}
	// The default never applies to a path it cannot read safely.
	if d := open.Match("GET", "/elsewhere/../api/v1/live"); d.Kind != Invalid {
		t.Fatalf("allow_any_key let a dot segment through: %+v", d)
	}
	if _, err := New(nil, "allow"); err == nil || !strings.Contains(err.Error(), `unknown default "allow"`) {
		t.Fatalf("New with default allow: %v", err)
	}
	if _, err := ParseDefault("public"); err == nil {
		t.Fatal("ParseDefault accepted public")
	}
}

func TestAuthorize(t *testing.T) {
	p := mustNew(t, testRules, DefaultDeny)
	key := func(env apikey.Environment, scopes ...apikey.Scope) apikey.Verified {
		return apikey.Verified{KeyID: "key_1", Environment: env, Scopes: scopes}
	}
	live := p.Match("POST", "/api/v1/live/x")

	if err := live.Authorize(key(apikey.EnvLive, apikey.ScopeOrganizationsRead, apikey.ScopeOrganizationsWrite)); err != nil {
		t.Fatalf("key holding every scope, live: %v", err)
	}
	err := live.Authorize(key(apikey.EnvLive, apikey.ScopeOrganizationsRead))
	var se *apikey.ScopeError
	if !errors.As(err, &se) || len(se.Required) != 1 || se.Required[0] != apikey.ScopeOrganizationsWrite {
		t.Fatalf("missing one scope: %v", err)
	}
	err = live.Authorize(key(apikey.EnvTest, apikey.ScopeOrganizationsRead, apikey.ScopeOrganizationsWrite))
	var ee *EnvironmentError
	if !errors.As(err, &ee) || ee.Got != apikey.EnvTest || !errors.Is(err, apikey.ErrForbidden) {
		t.Fatalf("test key on a live route: %v", err)
	}
	if got := err.Error(); got != "a test key may not call this route (allowed: live)" {
		t.Fatalf("EnvironmentError text %q", got)
	}
	if err := p.Match("GET", "/health").Authorize(key(apikey.EnvTest)); err != nil {
		t.Fatalf("public route: %v", err)
	}
	if err := p.Match("GET", "/nowhere").Authorize(key(apikey.EnvLive, apikey.AllScopes...)); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("no route: %v", err)
	}
	err = p.Match("GET", "/api/v1/events/%2e%2e").Authorize(key(apikey.EnvLive, apikey.AllScopes...))
	var ve *apikey.ValidationError
	if !errors.As(err, &ve) || ve.Code != "invalid_path" || ve.Field != "path" || ve.Message != reasonDotSegment {
		t.Fatalf("invalid path: %v", err)
	}
	err = p.Match("GE T", "/health").Err()
	if !errors.As(err, &ve) || ve.Code != "invalid_method" || ve.Field != "method" {
		t.Fatalf("invalid method: %v", err)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Matched: "matched", NoRoute: "no_route", AnyKey: "any_key", Invalid: "invalid", 0: "Kind(0)"} {
		if k.String() != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), want)
		}
	}
}

func TestMatchAllocations(t *testing.T) {
	p := mustNew(t, testRules, DefaultDeny)
	for _, target := range []string{"/api/v1/triggers/trg_1?limit=5", "/api/v1/orgs/org_1/members/usr_2", "/nowhere"} {
		if n := testing.AllocsPerRun(100, func() { p.Match("GET", target) }); n != 0 {
			t.Errorf("Match(GET, %q) allocates %v times, want 0", target, n)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	p := mustNew(b, testRules, DefaultDeny)
	for _, bc := range []struct{ name, method, target string }{
		{"first", "GET", "/api/v1/triggers/trg_1?limit=5"},
		{"last", "PATCH", "/api/v1/orgs/org_1/members/usr_2"},
		{"encoded", "GET", "/api/v1/events/caf%C3%A9"},
		{"none", "GET", "/nowhere/at/all"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Match(bc.method, bc.target)
			}
		})
	}
}
