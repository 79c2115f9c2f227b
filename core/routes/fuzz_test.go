package routes

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"
)

// fuzzRules use short literals, so that the fuzzer reaches every rule.
var fuzzRules = []Rule{
	{Line: 1, Methods: []string{"GET"}, Path: "/a/**", Scopes: []string{"triggers:read"}},
	{Line: 2, Methods: []string{"POST", "DELETE"}, Path: "/a/**", Scopes: []string{"triggers:write"}},
	{Line: 3, Methods: []string{"GET"}, Path: "/b/{id}/c", Scopes: []string{"events:read"}},
	{Line: 4, Methods: []string{"GET"}, Path: "/p", Public: true},
	{Line: 5, Methods: []string{"*"}, Path: "/q/{x}/**", Scopes: []string{"organizations:read"}},
	{Line: 6, Methods: []string{"GET"}, Path: "/", Public: true},
}

// FuzzMatch checks, for any method and target, that Match never panics,
// that whatever it does not refuse is a clean path, that the rule it picks
// is the first rule an independent matcher picks for the decoded path (so
// no path outside a rule's prefix ever matches it), and that readings an
// upstream may treat alike (percent-encoded or not, other letter case,
// with or without a trailing slash) never get different rules.
// The seed corpus is in testdata/fuzz/FuzzMatch.
func FuzzMatch(f *testing.F) {
	p := mustNew(f, fuzzRules, DefaultDeny)
	f.Add("GET", "/a/b")
	f.Add("HEAD", "/a/%2e%2e/p")
	f.Fuzz(func(t *testing.T, method, target string) {
		d := p.Match(method, target)
		switch d.Kind {
		case Invalid:
			if d.Reason == "" || d.Rule != -1 || d.Field != "method" && d.Field != "path" {
				t.Fatalf("Match(%q, %q) = %+v: an Invalid decision names the field and the reason", method, target, d)
			}
			return
		case Matched:
			if d.Rule < 0 || d.Rule >= len(fuzzRules) || d.Line != fuzzRules[d.Rule].Line {
				t.Fatalf("Match(%q, %q) = %+v: no such rule", method, target, d)
			}
		case NoRoute:
			if d.Rule != -1 {
				t.Fatalf("Match(%q, %q) = %+v", method, target, d)
			}
		default:
			t.Fatalf("Match(%q, %q) = kind %v with a deny default", method, target, d.Kind)
		}

		raw, query, hasQuery := strings.Cut(target, "?")
		decoded := cleanPath(t, raw)
		if want := oracle(method, decoded); d.Rule != want {
			t.Fatalf("Match(%q, %q) chose rule %d; the first rule matching %s %q is %d", method, target, d.Rule, method, decoded, want)
		}
		// The property that matters most, stated on its own: a rule for
		// /x/** never matches a path whose clean, decoded form is not /x
		// or below it.
		if d.Kind == Matched {
			if prefix, rest := strings.CutSuffix(fuzzRules[d.Rule].Path, "/**"); rest {
				literal, _, param := strings.Cut(prefix, "{")
				if !param {
					literal += "/"
				}
				if !strings.HasPrefix(path.Clean(decoded)+"/", literal) {
					t.Fatalf("Match(%q, %q) chose %s for %q", method, target, fuzzRules[d.Rule].Path, decoded)
				}
			}
		}

		variants := []struct{ method, target string }{
			{method, encodeAll(decoded)},
			{asciiCase(method, true), asciiCase(raw, true)},
			{asciiCase(method, false), asciiCase(raw, false)},
		}
		if raw != "/" && strings.HasSuffix(raw, "/") {
			variants = append(variants, struct{ method, target string }{method, strings.TrimSuffix(raw, "/")})
		} else if raw != "/" {
			variants = append(variants, struct{ method, target string }{method, raw + "/"})
		}
		for _, v := range variants {
			if hasQuery {
				v.target += "?" + query
			}
			e := p.Match(v.method, v.target)
			if e.Kind != Invalid && (e.Kind != d.Kind || e.Rule != d.Rule) {
				t.Fatalf("Match(%q, %q) chose rule %d (%v) but Match(%q, %q) chose rule %d (%v): an upstream may read both alike",
					method, target, d.Rule, d.Kind, v.method, v.target, e.Rule, e.Kind)
			}
		}
	})
}

// cleanPath decodes a path Match did not refuse with net/url, as a whole,
// and fails unless the result is a clean path: no dot segments, no empty
// segments (but a trailing slash), as many segments as before decoding, no
// backslash, semicolon, percent sign or control character.
func cleanPath(t *testing.T, raw string) string {
	t.Helper()
	decoded, err := url.PathUnescape(raw)
	if err != nil {
		t.Fatalf("Match accepted %q, which net/url cannot decode: %v", raw, err)
	}
	if strings.Count(decoded, "/") != strings.Count(raw, "/") {
		t.Fatalf("Match accepted %q, whose decoding %q has other segments", raw, decoded)
	}
	trimmed := decoded
	if decoded != "/" {
		trimmed = strings.TrimSuffix(decoded, "/")
	}
	if path.Clean(trimmed) != trimmed || !strings.HasPrefix(trimmed, "/") {
		t.Fatalf("Match accepted %q, which is not clean once decoded: %q", raw, decoded)
	}
	if strings.ContainsFunc(decoded, func(r rune) bool { return r < ' ' || r == 0x7f || strings.ContainsRune(`\;%`, r) }) {
		t.Fatalf("Match accepted %q, which decodes to %q", raw, decoded)
	}
	return decoded
}

// oracle returns the first of fuzzRules matching method and the clean,
// decoded path, or -1, compared case-sensitively segment by segment; -2
// when that rule has no /** but the path a trailing slash (Match refuses
// those).
func oracle(method, decoded string) int {
	trimmed := strings.TrimSuffix(decoded, "/")
	trailing := decoded != "/" && trimmed != decoded
	var segs []string
	if trimmed != "" {
		segs = strings.Split(trimmed[1:], "/")
	}
	for i, r := range fuzzRules {
		methodOK := r.Methods[0] == "*"
		for _, m := range r.Methods {
			methodOK = methodOK || m == method || m == "GET" && method == "HEAD"
		}
		prefix, rest := strings.CutSuffix(r.Path, "/**")
		var pat []string
		if prefix != "" && prefix != "/" {
			pat = strings.Split(prefix[1:], "/")
		}
		if !methodOK || len(segs) < len(pat) || !rest && len(segs) != len(pat) {
			continue
		}
		if !slices.EqualFunc(pat, segs[:len(pat)], func(p, s string) bool { return p == s || strings.HasPrefix(p, "{") }) {
			continue
		}
		if !rest && trailing {
			return -2
		}
		return i
	}
	return -1
}

// encodeAll percent-encodes every byte of a decoded path but its slashes.
func encodeAll(decoded string) string {
	var b strings.Builder
	for i := 0; i < len(decoded); i++ {
		if decoded[i] == '/' {
			b.WriteByte('/')
		} else {
			fmt.Fprintf(&b, "%%%02X", decoded[i])
		}
	}
	return b.String()
}

// asciiCase changes the case of the ASCII letters of s.
func asciiCase(s string, upper bool) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// FuzzPatterns checks the pattern algebra the start-up checks rely on,
// against matching itself: when p contains q, every path q matches p
// matches too; and a path matches both p and q exactly when it matches
// their intersection.
func FuzzPatterns(f *testing.F) {
	f.Add("/a/**", "/a/{x}/b", "/a/c/b")
	f.Add("/a/{x}/b", "/a/c/{y}", "/a/c/b")
	f.Add("/**", "/", "/")
	f.Add("/a/B", "/a/b", "/a/b")
	f.Add("/a/{x}/**", "/{y}/b/**", "/a/b/c/d")
	f.Fuzz(func(t *testing.T, ps, qs, target string) {
		p, err := parsePattern(ps)
		if err != nil {
			return
		}
		q, err := parsePattern(qs)
		if err != nil {
			return
		}
		segs, _, reason := splitTarget(target, nil)
		if reason != "" {
			return
		}
		pm, _ := p.match(segs)
		qm, _ := q.match(segs)
		if p.contains(&q) && qm && !pm {
			t.Fatalf("%s contains %s, yet %q matches only the latter", ps, qs, target)
		}
		both, ok := p.intersect(&q)
		bm := false
		if ok {
			bm, _ = both.match(segs)
		}
		if bm != (pm && qm) {
			t.Fatalf("%q: matches %s %v, %s %v, their intersection %s (%v) %v", target, ps, pm, qs, qm, both.String(), ok, bm)
		}
		if again, err := parsePattern(p.String()); err != nil || again.String() != p.String() {
			t.Fatalf("%s prints as %s, which reads back as %v (%v)", ps, p.String(), again.String(), err)
		}
	})
}
