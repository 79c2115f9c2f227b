// Package routefile reads route policies from YAML, keeping the line of
// every rule so that each problem is reported where it is written.
//
// The policy is the top-level routes section of a document, either of the
// service's configuration file or of a file of its own:
//
//	routes:
//	  default: deny            # or allow_any_key
//	  rules:
//	    - methods: [GET]
//	      path: /api/v1/triggers/**
//	      scopes: [triggers:read]
//
// docs/routes.md describes every setting and the matching rules.
package routefile

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/agentauri/apikeys/core/routes"
)

// Section is the top-level key that holds a route policy.
const Section = "routes"

// Parse reads the routes section of the YAML document data and returns its
// policy, or nil and no error when the document has no routes section.
// name (the file's path) starts every error message, and every problem is
// reported, joined with errors.Join; those found by routes.New wrap its
// *routes.RuleError.
func Parse(name string, data []byte) (*routes.Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		if strings.Contains(err.Error(), "did not find expected alphabetic or numeric character") {
			// What YAML says of an unquoted * (an alias without a name).
			return nil, fmt.Errorf("%s: %w (a bare * starts a YAML alias: write \"*\" for any method)", name, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty document
	}
	top := deref(doc.Content[0])
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: line %d: expected a mapping of settings", name, top.Line)
	}
	var section *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		if k := top.Content[i]; k.Value == Section {
			if section != nil {
				return nil, fmt.Errorf("%s: line %d: %s is given twice", name, k.Line, Section)
			}
			section = deref(top.Content[i+1])
		}
	}
	if section == nil {
		return nil, nil
	}
	// The well-formed rules are checked even when others are not, so
	// that every problem is reported at once, in the order of the file.
	r := reader{name: name}
	rules, def := r.section(section)
	p, err := routes.New(rules, def)
	if err != nil {
		r.add(err)
	}
	if len(r.errs) > 0 {
		slices.SortStableFunc(r.errs, func(a, b lineError) int { return a.line - b.line })
		errs := make([]error, len(r.errs))
		for i, e := range r.errs {
			errs[i] = e.err
		}
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Load reads the routes file at path, which must hold a routes section.
func Load(path string) (*routes.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("routes file: %w", err)
	}
	p, err := Parse(path, data)
	if err == nil && p == nil {
		err = fmt.Errorf("%s: no %s section", path, Section)
	}
	return p, err
}

// reader walks a document, collecting every problem.
type reader struct {
	name string
	errs []lineError
}

// lineError is a problem and the line it is on, for sorting.
type lineError struct {
	line int
	err  error
}

func (r *reader) failf(n *yaml.Node, field, format string, args ...any) {
	err := fmt.Errorf("%s: line %d: %s: %s", r.name, n.Line, field, fmt.Sprintf(format, args...))
	r.errs = append(r.errs, lineError{n.Line, err})
}

// add records the problems routes.New reported, each prefixed with the
// file's name.
func (r *reader) add(err error) {
	all := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		all = joined.Unwrap()
	}
	for _, e := range all {
		line := 0
		if re := (*routes.RuleError)(nil); errors.As(e, &re) {
			line = re.Line
		}
		r.errs = append(r.errs, lineError{line, fmt.Errorf("%s: %w", r.name, e)})
	}
}

// fields returns the values of mapping n by key, refusing keys not in
// known and keys given twice.
func (r *reader) fields(n *yaml.Node, field string, known ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		r.failf(n, field, "expected a mapping with %s", strings.Join(known, ", "))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		switch {
		case !slices.Contains(known, k.Value):
			r.failf(k, field, "unknown setting %q (known: %s)", k.Value, strings.Join(known, ", "))
		case out[k.Value] != nil:
			r.failf(k, field, "%s is given twice", k.Value)
		default:
			out[k.Value] = v
		}
	}
	return out
}

// section reads the routes mapping: default and rules. It returns the
// well-formed rules only, and DefaultDeny for a default it reported.
func (r *reader) section(n *yaml.Node) ([]routes.Rule, routes.Default) {
	def := routes.DefaultDeny
	f := r.fields(n, Section, "default", "rules")
	if f == nil {
		return nil, def
	}
	if v := f["default"]; v != nil {
		var err error
		if def, err = routes.ParseDefault(r.str(v, Section+".default")); err != nil {
			r.failf(v, Section+".default", "%v", err)
			def = routes.DefaultDeny
		}
	}
	list := f["rules"]
	if list == nil {
		r.failf(n, Section, "rules is missing (rules: [] with default deny refuses every request)")
		return nil, def
	}
	if list.Kind != yaml.SequenceNode {
		r.failf(list, Section+".rules", "expected a list of rules")
		return nil, def
	}
	rules := make([]routes.Rule, 0, len(list.Content))
	for i, item := range list.Content {
		before := len(r.errs)
		rule := r.rule(deref(item), fmt.Sprintf("%s.rules[%d]", Section, i))
		if len(r.errs) == before {
			rules = append(rules, rule)
		}
	}
	return rules, def
}

// rule reads one rule. A rule that is not public must say which scopes it
// needs, scopes: [] meaning any valid key, so that none is left open by
// forgetting the line.
func (r *reader) rule(n *yaml.Node, field string) routes.Rule {
	rule := routes.Rule{Line: n.Line}
	f := r.fields(n, field, "methods", "path", "scopes", "environments", "public")
	if f == nil {
		return rule
	}
	if v := f["methods"]; v != nil {
		if v.Kind == yaml.ScalarNode {
			rule.Methods = []string{r.str(v, field+".methods")}
		} else {
			rule.Methods = r.strs(v, field+".methods")
		}
	}
	if v := f["path"]; v != nil {
		rule.Path = r.str(v, field+".path")
	} else {
		r.failf(n, field, "path is missing")
	}
	if v := f["scopes"]; v != nil {
		rule.Scopes = r.strs(v, field+".scopes")
	}
	if v := f["environments"]; v != nil {
		rule.Environments = r.strs(v, field+".environments")
	}
	if v := f["public"]; v != nil {
		if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
			r.failf(v, field+".public", "expected true or false")
		} else {
			rule.Public = v.Value == "true"
		}
	}
	if !rule.Public && f["scopes"] == nil {
		r.failf(n, field, "scopes is missing: list the scopes required, write scopes: [] to admit any valid key, or public: true for no key")
	}
	return rule
}

// str returns the string scalar n.
func (r *reader) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		r.failf(n, field, "expected a string")
		return ""
	}
	return n.Value
}

// strs returns the list of string scalars n.
func (r *reader) strs(n *yaml.Node, field string) []string {
	if n.Kind != yaml.SequenceNode {
		r.failf(n, field, "expected a list")
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		out = append(out, r.str(deref(item), fmt.Sprintf("%s[%d]", field, i)))
	}
	return out
}

// deref follows YAML aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
