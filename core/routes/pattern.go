package routes

import (
	"errors"
	"fmt"
	"strings"
)

// pattern is a compiled path pattern: literal and {param} segments,
// optionally followed by /** (the prefix itself and anything below it).
type pattern struct {
	segs []patSeg
	rest bool
}

// patSeg is one segment of a pattern: a literal, or a parameter matching
// exactly one non-empty segment.
type patSeg struct {
	lit   string // the literal; empty for a parameter
	param string // the parameter's name; empty for a literal
}

// literalChars are the characters a literal segment may hold: RFC 3986's
// unreserved and sub-delims characters, ':' and '@', less '*' (kept for
// wildcards) and ';' (requests holding one are refused).
const literalChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()+,=:@"

// parsePattern compiles a path pattern such as /api/v1/triggers/{id} or
// /api/v1/events/**.
func parsePattern(s string) (pattern, error) {
	switch {
	case s == "":
		return pattern{}, errors.New("is required")
	case s[0] != '/':
		return pattern{}, errors.New("must start with /")
	case strings.ContainsAny(s, "?#"):
		return pattern{}, errors.New("must not hold a query or fragment: queries are not part of matching")
	case s == "/":
		return pattern{}, nil
	case s[len(s)-1] == '/':
		return pattern{}, errors.New("must not end with / (write /a/b for that path, /a/b/** for it and everything below it)")
	}
	var p pattern
	params := map[string]bool{}
	parts := strings.Split(s[1:], "/")
	for i, seg := range parts {
		switch {
		case seg == "**":
			if i != len(parts)-1 {
				return pattern{}, errors.New("may hold ** only as its last segment")
			}
			p.rest = true
		case seg == "":
			return pattern{}, errors.New("must not hold an empty segment (//)")
		case seg == "." || seg == "..":
			return pattern{}, errors.New("must not hold . or .. segments: requests holding them are refused")
		case seg[0] == '{':
			name, ok := strings.CutSuffix(seg[1:], "}")
			if !ok || !validParamName(name) {
				return pattern{}, fmt.Errorf("segment %q: a parameter is a whole segment {name}, name made of letters, digits and _", seg)
			}
			if params[name] {
				return pattern{}, fmt.Errorf("names parameter {%s} twice", name)
			}
			params[name] = true
			p.segs = append(p.segs, patSeg{param: name})
		default:
			if err := checkLiteral(seg); err != nil {
				return pattern{}, fmt.Errorf("segment %q: %w", seg, err)
			}
			p.segs = append(p.segs, patSeg{lit: seg})
		}
	}
	return p, nil
}

func checkLiteral(seg string) error {
	for _, c := range seg {
		switch {
		case c < 0x80 && strings.IndexByte(literalChars, byte(c)) >= 0:
		case c == '*':
			return errors.New("* is no wildcard: use {name} for one segment, or end the pattern with /** for everything below")
		case c == '{' || c == '}':
			return errors.New("a parameter must be a whole segment, e.g. /triggers/{id}")
		case c == '%':
			return errors.New("write characters decoded, not percent-encoded: requests are matched after decoding")
		case c == ';':
			return errors.New("must not hold ;: requests holding one are refused")
		default:
			return fmt.Errorf("character %q is not allowed (letters, digits and -._~!$&'()+,=:@ are)", c)
		}
	}
	return nil
}

func validParamName(s string) bool {
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// match reports whether the decoded segments segs match p, and whether they
// do so exactly or only when literals are compared case-insensitively.
func (p *pattern) match(segs []string) (ok, exact bool) {
	if len(segs) < len(p.segs) || !p.rest && len(segs) != len(p.segs) {
		return false, false
	}
	exact = true
	for i := range p.segs {
		lit := p.segs[i].lit
		if lit == "" || segs[i] == lit {
			continue // a parameter matches any segment; segments are never empty
		}
		if !strings.EqualFold(segs[i], lit) {
			return false, false
		}
		exact = false
	}
	return true, exact
}

// contains reports whether p matches every path q matches (literals
// compared case-insensitively, as requests are).
func (p *pattern) contains(q *pattern) bool {
	if len(p.segs) > len(q.segs) || !p.rest && (q.rest || len(p.segs) != len(q.segs)) {
		return false
	}
	for i, s := range p.segs {
		if s.param != "" {
			continue
		}
		if t := q.segs[i]; t.param != "" || !strings.EqualFold(s.lit, t.lit) {
			return false
		}
	}
	return true
}

// intersect returns the pattern of the paths both p and q match, and false
// when there are none.
func (p *pattern) intersect(q *pattern) (pattern, bool) {
	n := max(len(p.segs), len(q.segs))
	switch {
	case !p.rest && !q.rest && len(p.segs) != len(q.segs),
		!p.rest && len(p.segs) < n,
		!q.rest && len(q.segs) < n:
		return pattern{}, false
	}
	out := pattern{segs: make([]patSeg, n), rest: p.rest && q.rest}
	for i := range n {
		a, b := segAt(p, i), segAt(q, i)
		switch {
		case a.lit != "" && b.lit != "":
			if !strings.EqualFold(a.lit, b.lit) {
				return pattern{}, false
			}
			out.segs[i] = a
		case b.lit != "":
			out.segs[i] = b
		default:
			out.segs[i] = a
		}
	}
	return out, true
}

// segAt returns segment i of p; beyond a /** prefix, any segment, shown as
// a parameter.
func segAt(p *pattern, i int) patSeg {
	if i < len(p.segs) {
		return p.segs[i]
	}
	return patSeg{param: "any"}
}

// String returns the pattern in the syntax parsePattern reads.
func (p *pattern) String() string {
	var b strings.Builder
	for _, s := range p.segs {
		b.WriteByte('/')
		if s.param != "" {
			b.WriteString("{" + s.param + "}")
		} else {
			b.WriteString(s.lit)
		}
	}
	if p.rest {
		b.WriteString("/**")
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}
