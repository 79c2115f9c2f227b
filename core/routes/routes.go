// Package routes holds the route policy: which scopes, if any, a request
// needs, decided from its method and path. The forward-auth endpoint, the
// Envoy ext_authz adapter and the gateway mode all ask the same Policy.
//
// A policy is an ordered list of rules; the first rule whose methods and
// path pattern match a request decides. Paths are percent-decoded segment by
// segment before matching, and every path an upstream might read differently
// from the policy (encoded slashes, dot segments, double slashes, double
// encoding, ...) is refused rather than guessed at. docs/routes.md describes
// the syntax and every normalization rule.
package routes

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/agentauri/apikeys/core/apikey"
)

// Rule is one rule of a policy as written in configuration. New validates
// and compiles it.
type Rule struct {
	// Line is the rule's line in its source file, set by the loader so that
	// errors can name it; 0 when unknown.
	Line int
	// Methods lists the HTTP methods the rule applies to; empty or ["*"]
	// means any method. A rule listing GET also matches HEAD.
	Methods []string
	// Path is the path pattern: literal segments, {name} segments matching
	// exactly one non-empty segment, and an optional final /** matching the
	// prefix itself and anything below it.
	Path string
	// Scopes are the scopes a key must hold, all of them; empty means any
	// valid key.
	Scopes []string
	// Environments are the key environments allowed ("test", "live"); empty
	// means any.
	Environments []string
	// Public marks a route that needs no key; it excludes Scopes and
	// Environments.
	Public bool
}

// Default says what a request no rule matches gets.
type Default string

// The defaults. There is deliberately no public default: a request no rule
// matches always needs a key.
const (
	// DefaultDeny refuses a request no rule matches (403 no_route_policy).
	DefaultDeny Default = "deny"
	// DefaultAllowAnyKey lets any valid key, whatever its scopes, through to
	// every route no rule covers, including routes the upstream adds later.
	// It exists to put apikeys in front of an API before its policy is
	// complete; the name says what it gives away.
	DefaultAllowAnyKey Default = "allow_any_key"
)

// ParseDefault returns the default named s; empty means DefaultDeny.
func ParseDefault(s string) (Default, error) {
	switch Default(s) {
	case "", DefaultDeny:
		return DefaultDeny, nil
	case DefaultAllowAnyKey:
		return DefaultAllowAnyKey, nil
	}
	return "", fmt.Errorf("unknown default %q (want %q or %q)", s, DefaultDeny, DefaultAllowAnyKey)
}

// Policy is a validated, ordered set of rules. It is immutable and safe for
// concurrent use.
type Policy struct {
	rules []rule
	def   Default
}

// rule is a compiled Rule.
type rule struct {
	anyMethod bool
	methods   []string // canonical (upper-case), when !anyMethod
	pattern   pattern
	decision  Decision // the answer when this rule matches
}

// New validates rules and returns the policy applying them in order, with
// def for requests no rule matches. Every problem is reported, each as a
// *RuleError naming the rule's line, joined with errors.Join: bad methods,
// patterns, scopes or environments, public rules with scopes, rules no
// request can reach, and overlapping rules whose order silently decides.
func New(rules []Rule, def Default) (*Policy, error) {
	def, err := ParseDefault(string(def))
	if err != nil {
		return nil, err
	}
	p := &Policy{rules: make([]rule, len(rules)), def: def}
	var errs []error
	ok := make([]bool, len(rules))
	for i, r := range rules {
		c, rerrs := compile(i, r)
		p.rules[i], ok[i] = c, len(rerrs) == 0
		errs = append(errs, rerrs...)
	}
	errs = append(errs, checkOrder(rules, p.rules, ok)...)
	if len(errs) > 0 {
		// Report rule by rule, in the order of the source.
		slices.SortStableFunc(errs, func(a, b error) int {
			var ra, rb *RuleError
			errors.As(a, &ra)
			errors.As(b, &rb)
			return ra.Index - rb.Index
		})
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Default returns what a request no rule matches gets.
func (p *Policy) Default() Default { return p.def }

// Len returns the number of rules.
func (p *Policy) Len() int { return len(p.rules) }

// Match decides the route of a request from its method and its request
// target as received: the raw, still percent-encoded path, optionally
// followed by a query string, which is ignored. The first matching rule
// decides; a request that matches a rule only when compared
// case-insensitively, or that ends with a slash its rule does not cover, is
// Invalid, because an upstream might route it elsewhere.
func (p *Policy) Match(method, target string) Decision {
	if !validToken(method) {
		return invalid("method", reasonMethod)
	}
	var buf [16]string
	segs, trailing, reason := splitTarget(target, buf[:0])
	if reason != "" {
		return invalid("path", reason)
	}
	for i := range p.rules {
		r := &p.rules[i]
		mok, mexact := r.matchMethod(method)
		if !mok {
			continue
		}
		pok, pexact := r.pattern.match(segs)
		if !pok {
			continue
		}
		switch {
		case !mexact || !pexact:
			return invalid("path", reasonCase)
		case trailing && !r.pattern.rest:
			return invalid("path", reasonTrailingSlash)
		}
		return r.decision
	}
	if p.def == DefaultAllowAnyKey {
		return Decision{Kind: AnyKey, Rule: -1}
	}
	return Decision{Kind: NoRoute, Rule: -1}
}

// matchMethod reports whether the rule applies to method, and whether it
// does so exactly or only case-insensitively. HEAD matches GET rules.
func (r *rule) matchMethod(method string) (ok, exact bool) {
	if r.anyMethod {
		return true, true
	}
	for _, m := range r.methods {
		if m == method || m == "GET" && method == "HEAD" {
			return true, true
		}
	}
	for _, m := range r.methods {
		if strings.EqualFold(m, method) || m == "GET" && strings.EqualFold(method, "HEAD") {
			return true, false
		}
	}
	return false, false
}

// Kind says which way a route decision went.
type Kind uint8

// The kinds of decision.
const (
	// Matched means a rule matched: see Decision.Public, Scopes and
	// Environments.
	Matched Kind = iota + 1
	// NoRoute means no rule matched and the default is deny: answer 403
	// with code no_route_policy, without looking at the key.
	NoRoute
	// AnyKey means no rule matched and the default is allow_any_key: any
	// valid key passes, whatever its scopes and environment.
	AnyKey
	// Invalid means the method or path is malformed or ambiguous and no
	// rule can safely be chosen: answer 400 with Decision.Reason.
	Invalid
)

// String returns the kind's name as used in logs and audit details.
func (k Kind) String() string {
	switch k {
	case Matched:
		return "matched"
	case NoRoute:
		return "no_route"
	case AnyKey:
		return "any_key"
	case Invalid:
		return "invalid"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Decision is the outcome of matching one request. Its slices are shared
// with the policy and must not be modified.
type Decision struct {
	Kind Kind
	// Rule is the index of the matching rule, -1 when none matched.
	Rule int
	// Line is the matching rule's source line (0 when none matched or the
	// line is unknown).
	Line int
	// Public means the route needs no key.
	Public bool
	// Scopes are the scopes the key must hold, all of them.
	Scopes apikey.Scopes
	// Environments are the key environments allowed; empty means any.
	Environments []apikey.Environment
	// Field is "method" or "path" for an Invalid decision.
	Field string
	// Reason says, for an Invalid decision, what is wrong with the request;
	// it is meant for the client and never reveals the policy.
	Reason string
}

func invalid(field, reason string) Decision {
	return Decision{Kind: Invalid, Rule: -1, Field: field, Reason: reason}
}

// NeedsKey reports whether the request must present a key: true for a
// non-public rule and for AnyKey, false for public routes and for
// decisions that refuse the request whatever the key (NoRoute, Invalid).
func (d Decision) NeedsKey() bool {
	return d.Kind == Matched && !d.Public || d.Kind == AnyKey
}

// ErrNoRoute is the error of a NoRoute decision. It wraps
// apikey.ErrForbidden; callers answer it with 403 and code no_route_policy.
var ErrNoRoute = fmt.Errorf("no route policy covers this request: %w", apikey.ErrForbidden)

// Err returns the error that refuses the request before any key is looked
// at: ErrNoRoute for NoRoute, a *apikey.ValidationError with code
// invalid_method or invalid_path for Invalid, and nil otherwise.
func (d Decision) Err() error {
	switch d.Kind {
	case Matched, AnyKey:
		return nil
	case NoRoute:
		return ErrNoRoute
	case Invalid:
		code := "invalid_path"
		if d.Field == "method" {
			code = "invalid_method"
		}
		return &apikey.ValidationError{Field: d.Field, Code: code, Message: d.Reason}
	}
	return fmt.Errorf("route decision of kind %v", d.Kind)
}

// Authorize checks a verified key against the decision: d.Err() first, then
// the scopes (a *apikey.ScopeError naming the missing ones) and the
// environment (an *EnvironmentError). A public route accepts any key.
func (d Decision) Authorize(v apikey.Verified) error {
	if err := d.Err(); err != nil || d.Kind != Matched || d.Public {
		return err
	}
	if missing := v.Scopes.Missing(d.Scopes); len(missing) > 0 {
		return &apikey.ScopeError{Required: missing, Granted: v.Scopes}
	}
	if len(d.Environments) > 0 && !slices.Contains(d.Environments, v.Environment) {
		return &EnvironmentError{Allowed: d.Environments, Got: v.Environment}
	}
	return nil
}

// EnvironmentError reports a key whose environment the route does not
// allow, e.g. a test key on a route for live keys only.
type EnvironmentError struct {
	Allowed []apikey.Environment
	Got     apikey.Environment
}

// Error names the key's environment and the ones allowed.
func (e *EnvironmentError) Error() string {
	names := make([]string, len(e.Allowed))
	for i, env := range e.Allowed {
		names[i] = string(env)
	}
	return fmt.Sprintf("a %s key may not call this route (allowed: %s)", e.Got, strings.Join(names, ", "))
}

// Is makes errors.Is(err, apikey.ErrForbidden) true for an EnvironmentError.
func (e *EnvironmentError) Is(target error) bool { return target == apikey.ErrForbidden }
