package routes

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// Public reasons for refusing a request target. They reach clients in 400
// answers, so they describe the request, never the policy.
const (
	reasonMethod         = "the method is not an HTTP method token"
	reasonNoSlash        = "the path must start with /"
	reasonFragment       = "the path contains a fragment (#)"
	reasonEmptySegment   = "the path contains an empty segment (//)"
	reasonRawSpace       = "the path contains an unencoded space or control character"
	reasonBadEscape      = "the path contains an invalid percent-encoding"
	reasonSlash          = "the path contains an encoded slash (%2F)"
	reasonBackslash      = "the path contains a backslash"
	reasonPercent        = "the path contains an encoded percent sign (%25)"
	reasonSemicolon      = "the path contains a semicolon"
	reasonControl        = "the path contains an encoded control character"
	reasonUTF8           = "the path does not decode to valid UTF-8"
	reasonDotSegment     = "the path contains a . or .. segment"
	reasonCase           = "the method or path matches a route only when compared case-insensitively; use the documented casing"
	reasonTrailingSlash  = "the path ends with / but its route does not; send it without the trailing slash"
	reasonTooManySegment = "the path has too many segments"
)

// maxSegments bounds how many segments a request path may have; no API
// needs more, and the bound keeps matching cheap on hostile input.
const maxSegments = 128

// splitTarget parses a request target into its decoded path segments,
// appended to segs. The query string is dropped. trailing reports a single
// trailing slash, which is not a segment. A non-empty reason means the
// target is refused.
func splitTarget(target string, segs []string) (_ []string, trailing bool, reason string) {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	if target == "" || target[0] != '/' {
		return nil, false, reasonNoSlash
	}
	if strings.IndexByte(target, '#') >= 0 {
		return nil, false, reasonFragment
	}
	rest := target[1:]
	if rest == "" {
		return segs, false, ""
	}
	if rest[len(rest)-1] == '/' {
		trailing = true
		rest = rest[:len(rest)-1]
	}
	for {
		raw, after, more := strings.Cut(rest, "/")
		seg, reason := decodeSegment(raw)
		if reason != "" {
			return nil, false, reason
		}
		if len(segs) == maxSegments {
			return nil, false, reasonTooManySegment
		}
		segs = append(segs, seg)
		if !more {
			return segs, trailing, ""
		}
		rest = after
	}
}

// decodeSegment percent-decodes one raw path segment and refuses every
// segment an upstream might read differently from us (see docs/routes.md).
func decodeSegment(raw string) (string, string) {
	if raw == "" {
		return "", reasonEmptySegment
	}
	escaped, ascii := false, true
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c <= ' ' || c == 0x7f:
			// A raw space cannot be in a request line: whoever sent it
			// decoded the path already, and %2F may have become / unseen.
			return "", reasonRawSpace
		case c == '\\':
			return "", reasonBackslash
		case c == ';':
			return "", reasonSemicolon
		case c == '%':
			escaped = true
		case c >= 0x80:
			ascii = false
		}
	}
	seg := raw
	if escaped {
		var err error
		if seg, err = url.PathUnescape(raw); err != nil {
			return "", reasonBadEscape
		}
		if reason := checkDecoded(seg); reason != "" {
			return "", reason
		}
		ascii = false
	}
	if !ascii && !utf8.ValidString(seg) {
		return "", reasonUTF8
	}
	if seg == "." || seg == ".." {
		return "", reasonDotSegment
	}
	return seg, ""
}

// checkDecoded refuses the characters a percent-encoding may have brought
// into a segment.
func checkDecoded(seg string) string {
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case c == '/':
			return reasonSlash
		case c == '\\':
			return reasonBackslash
		case c == '%':
			return reasonPercent
		case c == ';':
			return reasonSemicolon
		case c < ' ' || c == 0x7f:
			return reasonControl
		}
	}
	return ""
}

// validToken reports whether s is an HTTP token (RFC 9110, section 5.6.2),
// the grammar of methods.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
