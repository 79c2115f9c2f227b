package routes

import (
	"github.com/agentauri/apikeys/core/apikey"
	"strings"
	"testing"
)

// TestParamNames: a {name} segment's name is letters, digits and _, not
// starting with a digit; the edges of each range count.
func TestParamNames(t *testing.T) {
	for _, name := range []string{"a", "z", "A", "Z", "_", "a0", "a9", "aZ", "x_1"} {
		if !validParamName(name) {
			t.Errorf("validParamName(%q) = false", name)
		}
	}
	for _, name := range []string{"", "0", "9", "0a", "9z", "a-b", "a{", "a`", "a@", "a[", "a/", "a:", "é"} {
		if validParamName(name) {
			t.Errorf("validParamName(%q) = true", name)
		}
	}
}

// TestRuleErrorsInRuleOrder: the errors of several bad rules are reported
// in the order of the rules, whatever order they were found in.
func TestRuleErrorsInRuleOrder(t *testing.T) {
	rules := []Rule{
		{Line: 10, Path: "/ok/{id}", Scopes: []string{"triggers:read"}},
		{Line: 11, Path: "/bad/{0x}", Scopes: []string{"triggers:read"}},
		{Line: 12, Path: "/ok2", Scopes: []string{"triggers:read"}},
		{Line: 13, Path: "no-slash", Scopes: []string{"triggers:read"}},
		{Line: 14, Path: "/bad2/{9}", Scopes: []string{"triggers:read"}},
	}
	_, err := New(rules, DefaultDeny)
	if err == nil {
		t.Fatal("bad rules accepted")
	}
	msg := err.Error()
	i11, i13, i14 := strings.Index(msg, "line 11"), strings.Index(msg, "line 13"), strings.Index(msg, "line 14")
	if i11 < 0 || i13 < 0 || i14 < 0 || !(i11 < i13 && i13 < i14) {
		t.Fatalf("errors not in rule order:\n%s", msg)
	}
}

// TestAuthorizeAnyEnvironment: a rule that names no environments admits
// keys of every environment holding its scopes.
func TestAuthorizeAnyEnvironment(t *testing.T) {
	p, err := New([]Rule{{Methods: []string{"GET"}, Path: "/api/v1/triggers/**", Scopes: []string{"triggers:read"}}}, DefaultDeny)
	if err != nil {
		t.Fatal(err)
	}
	d := p.Match("GET", "/api/v1/triggers/t1")
	for _, env := range []apikey.Environment{apikey.EnvTest, apikey.EnvLive} {
		if err := d.Authorize(apikey.Verified{KeyID: "key_1", Environment: env, Scopes: apikey.Scopes{apikey.ScopeTriggersRead}}); err != nil {
			t.Errorf("a %s key holding the scope on a rule without environments: %v", env, err)
		}
	}
}
