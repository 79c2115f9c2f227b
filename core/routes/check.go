package routes

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/agentauri/apikeys/core/apikey"
)

// RuleError reports one problem with one rule of a policy.
type RuleError struct {
	// Line is the rule's source line; 0 when unknown.
	Line int
	// Index is the rule's position in the policy, from 0.
	Index int
	// Field names the offending setting, e.g. "methods[1]", "path",
	// "scopes[0]", "environments[0]" or "public"; empty for the rule as a
	// whole (unreachable or overlapping rules).
	Field string
	// Message says what is wrong.
	Message string
}

// Error returns "line N: field: message" ("rule N" when the line is unknown).
func (e *RuleError) Error() string {
	where := ruleRef(e.Line, e.Index)
	if e.Field != "" {
		return where + ": " + e.Field + ": " + e.Message
	}
	return where + ": " + e.Message
}

// ruleRef names a rule by its line, or by its position when the line is
// unknown.
func ruleRef(line, index int) string {
	if line > 0 {
		return fmt.Sprintf("line %d", line)
	}
	return fmt.Sprintf("rule %d", index+1)
}

// compile validates one rule and compiles it; it returns every problem found.
func compile(i int, r Rule) (rule, []error) {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &RuleError{Line: r.Line, Index: i, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	c := rule{anyMethod: len(r.Methods) == 0}
	for j, m := range r.Methods {
		switch {
		case m == "*":
			if len(r.Methods) > 1 {
				fail(fmt.Sprintf("methods[%d]", j), "* already means every method; list it alone")
			}
			c.anyMethod = true
		case !validToken(m):
			fail(fmt.Sprintf("methods[%d]", j), "%q is not an HTTP method token", m)
		default:
			if m = strings.ToUpper(m); !slices.Contains(c.methods, m) {
				c.methods = append(c.methods, m)
			}
		}
	}
	var err error
	if c.pattern, err = parsePattern(r.Path); err != nil {
		fail("path", "%v", err)
	}
	if r.Public && (len(r.Scopes) > 0 || len(r.Environments) > 0) {
		fail("public", "a public route needs no key, so it takes no scopes or environments")
	}
	scopes, err := apikey.ParseScopes(r.Scopes)
	if ve := (*apikey.ValidationError)(nil); errors.As(err, &ve) {
		fail(ve.Field, "%s", ve.Message)
	} else if err != nil {
		fail("scopes", "%v", err)
	}
	var envs []apikey.Environment
	for j, name := range r.Environments {
		env, err := apikey.ParseEnvironment(name)
		if err != nil {
			fail(fmt.Sprintf("environments[%d]", j), "%v", err)
		} else if !slices.Contains(envs, env) {
			envs = append(envs, env)
		}
	}
	c.decision = Decision{Kind: Matched, Rule: i, Line: r.Line, Public: r.Public, Scopes: scopes, Environments: envs}
	return c, errs
}

// checkOrder reports the rules whose place in the order makes them wrong:
// rules (or some of their methods) that an earlier rule always takes first,
// and rules overlapping an earlier one where neither contains the other and
// they ask for different things, so that the order silently decides.
// Rules that are not ok (invalid) are left out.
func checkOrder(src []Rule, rules []rule, ok []bool) []error {
	var errs []error
	for i := range rules {
		b := &rules[i]
		if !ok[i] {
			continue
		}
		fail := func(format string, args ...any) {
			errs = append(errs, &RuleError{Line: src[i].Line, Index: i, Message: fmt.Sprintf(format, args...)})
		}
		// The methods b lists that earlier rules containing b's pattern
		// take first.
		own := b.listedSet()
		var takers []int
		var taken methodSet
		for j := range i {
			a := &rules[j]
			if !ok[j] {
				continue
			}
			// A rule for every method after rules for some methods of
			// the same path is the way to say "any other method".
			if b.anyMethod && !a.anyMethod && b.pattern.contains(&a.pattern) {
				continue
			}
			if a.pattern.contains(&b.pattern) && own.meets(a.methodSet()) {
				takers = append(takers, j)
				taken = taken.union(a.methodSet())
			}
		}
		switch {
		case len(takers) == 0:
		case len(takers) == 1 && own.equal(rules[takers[0]].listedSet()) && b.pattern.String() == rules[takers[0]].pattern.String():
			fail("duplicates the rule at %s", ruleRef(src[takers[0]].Line, takers[0]))
			continue
		case taken.coversAll(own):
			fail("is unreachable: every request it would match goes to %s first", refs(src, takers))
			continue
		default:
			fail("never sees %s requests: they go to %s first (move this rule above, or drop those methods)",
				own.listed(taken), refs(src, takers))
		}
		for j := range i {
			a := &rules[j]
			if !ok[j] {
				continue
			}
			ms, meet := a.methodSet().intersect(b.methodSet())
			if !meet || a.pattern.contains(&b.pattern) || b.pattern.contains(&a.pattern) || sameNeeds(a.decision, b.decision) {
				continue
			}
			both, meet := a.pattern.intersect(&b.pattern)
			if !meet || coveredBefore(rules[:j], ok[:j], ms, &both) {
				continue
			}
			fail("overlaps the rule at %s: requests such as %s %s match both and %s decides them; put a rule for the overlap above both, or make one pattern contain the other",
				ruleRef(src[j].Line, j), ms.example(), both.String(), ruleRef(src[j].Line, j))
		}
	}
	return errs
}

// coveredBefore reports whether one of rules takes every request with a
// method of ms and a path matching p.
func coveredBefore(rules []rule, ok []bool, ms methodSet, p *pattern) bool {
	for k := range rules {
		if c := &rules[k]; ok[k] && c.pattern.contains(p) && c.methodSet().coversAll(ms) {
			return true
		}
	}
	return false
}

// refs names the rules at positions idx for a message.
func refs(src []Rule, idx []int) string {
	names := make([]string, len(idx))
	for k, j := range idx {
		names[k] = ruleRef(src[j].Line, j)
	}
	if len(names) == 1 {
		return "the rule at " + names[0]
	}
	return "the rules at " + strings.Join(names, ", ")
}

// sameNeeds reports whether two decisions ask the same of a request.
func sameNeeds(a, b Decision) bool {
	return a.Public == b.Public &&
		len(a.Scopes) == len(b.Scopes) && a.Scopes.Covers(b.Scopes) &&
		len(a.Environments) == len(b.Environments) && !slices.ContainsFunc(a.Environments, func(e apikey.Environment) bool {
		return !slices.Contains(b.Environments, e)
	})
}

// methodSet is the set of methods a rule applies to: every method, or a
// list, which holds HEAD whenever it holds GET.
type methodSet struct {
	any bool
	ms  []string
}

// listedSet returns the methods the rule lists, without the HEAD implied
// by GET.
func (r *rule) listedSet() methodSet {
	return methodSet{any: r.anyMethod, ms: r.methods}
}

// methodSet returns every method the rule applies to.
func (r *rule) methodSet() methodSet {
	if r.anyMethod {
		return methodSet{any: true}
	}
	ms := slices.Clone(r.methods)
	if slices.Contains(ms, "GET") && !slices.Contains(ms, "HEAD") {
		ms = append(ms, "HEAD")
	}
	return methodSet{ms: ms}
}

func (s methodSet) has(m string) bool { return s.any || slices.Contains(s.ms, m) }

func (s methodSet) meets(t methodSet) bool {
	_, ok := s.intersect(t)
	return ok
}

func (s methodSet) intersect(t methodSet) (methodSet, bool) {
	switch {
	case s.any:
		return t, true
	case t.any:
		return s, true
	}
	var out methodSet
	for _, m := range s.ms {
		if t.has(m) {
			out.ms = append(out.ms, m)
		}
	}
	return out, len(out.ms) > 0
}

func (s methodSet) union(t methodSet) methodSet {
	if s.any || t.any {
		return methodSet{any: true}
	}
	out := methodSet{ms: slices.Clone(s.ms)}
	for _, m := range t.ms {
		if !slices.Contains(out.ms, m) {
			out.ms = append(out.ms, m)
		}
	}
	return out
}

// coversAll reports whether s holds every method of t.
func (s methodSet) coversAll(t methodSet) bool {
	if s.any {
		return true
	}
	if t.any {
		return false
	}
	for _, m := range t.ms {
		if !s.has(m) {
			return false
		}
	}
	return true
}

func (s methodSet) equal(t methodSet) bool { return s.coversAll(t) && t.coversAll(s) }

// listed returns the methods of s that t holds, joined for a message.
func (s methodSet) listed(t methodSet) string {
	if s.any {
		return strings.Join(t.ms, ", ")
	}
	var out []string
	for _, m := range s.ms {
		if t.has(m) {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

// example returns one method of s for a message.
func (s methodSet) example() string {
	if s.any || len(s.ms) == 0 {
		return "any-method"
	}
	return s.ms[0]
}
