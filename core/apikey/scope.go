package apikey

import (
	"fmt"
	"strings"
)

// Scope is one permission a key can hold.
type Scope string

// The six scopes the documentation defines.
const (
	ScopeTriggersRead       Scope = "triggers:read"
	ScopeTriggersWrite      Scope = "triggers:write"
	ScopeEventsRead         Scope = "events:read"
	ScopeOrganizationsRead  Scope = "organizations:read"
	ScopeOrganizationsWrite Scope = "organizations:write"
	ScopeAPIKeysManage      Scope = "api-keys:manage"
)

// AllScopes lists every known scope in the documented order.
var AllScopes = []Scope{
	ScopeTriggersRead,
	ScopeTriggersWrite,
	ScopeEventsRead,
	ScopeOrganizationsRead,
	ScopeOrganizationsWrite,
	ScopeAPIKeysManage,
}

// ParseScope returns the scope named s, or an error if s names none.
func ParseScope(s string) (Scope, error) {
	for _, sc := range AllScopes {
		if string(sc) == s {
			return sc, nil
		}
	}
	return "", fmt.Errorf("unknown scope %q", s)
}

// ParseScopes validates a list of scope names, removes duplicates while
// keeping the first occurrence's order, and names the offending element
// (as field "scopes[i]") when one is unknown.
func ParseScopes(names []string) (Scopes, error) {
	out := make(Scopes, 0, len(names))
	seen := make(map[Scope]bool, len(names))
	for i, n := range names {
		sc, err := ParseScope(n)
		if err != nil {
			return nil, &ValidationError{Field: fmt.Sprintf("scopes[%d]", i), Code: "invalid_scope", Message: err.Error()}
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out, nil
}

// Scopes is a set of scopes in a stable order.
type Scopes []Scope

// Has reports whether the set holds s.
func (ss Scopes) Has(s Scope) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Covers reports whether every scope of other is also in ss.
func (ss Scopes) Covers(other []Scope) bool {
	for _, o := range other {
		if !ss.Has(o) {
			return false
		}
	}
	return true
}

// Missing returns the scopes of other that ss lacks.
func (ss Scopes) Missing(other []Scope) []Scope {
	var out []Scope
	for _, o := range other {
		if !ss.Has(o) {
			out = append(out, o)
		}
	}
	return out
}

// Strings returns the scope names.
func (ss Scopes) Strings() []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// Join returns the scope names separated by sep.
func (ss Scopes) Join(sep string) string {
	return strings.Join(ss.Strings(), sep)
}
