package jwtauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// b64 decodes JWS segments: unpadded base64url with the unused bits of the
// last character zero, so that one token has one encoding.
var b64 = base64.RawURLEncoding.Strict()

// jws is a compact JWS split and decoded, its signature not yet checked.
type jws struct {
	signingInput string // header.payload, as signed
	signature    []byte
	alg          string
	kid          string
	hasKid       bool
	claims       claims
}

// parseJWS decodes a compact JWS strictly: three segments, strict base64url,
// header and payload JSON objects of valid UTF-8 without a repeated member
// name at any depth. The header must name an alg, must not carry crit (no
// extension is understood here), and its typ, when present, must say JWT.
// jku, x5u, jwk and x5c are never read: keys come from configuration only.
func parseJWS(token string) (*jws, string) {
	h, rest, ok1 := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, ReasonMalformed
	}
	hb, err1 := b64.DecodeString(h)
	pb, err2 := b64.DecodeString(p)
	sig, err3 := b64.DecodeString(s)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, ReasonMalformed
	}
	header, err := decodeObject(hb)
	if err != nil {
		return nil, ReasonMalformed
	}
	c, err := decodeObject(pb)
	if err != nil {
		return nil, ReasonMalformed
	}
	t := &jws{signingInput: token[:len(h)+1+len(p)], signature: sig, claims: c}
	alg, ok, err := header.str("alg")
	if err != nil || !ok || alg == "" {
		return nil, ReasonMethod
	}
	t.alg = alg
	if _, crit := header["crit"]; crit {
		return nil, ReasonCrit
	}
	if typ, ok, err := header.str("typ"); err != nil || ok && !acceptedType(typ) {
		return nil, ReasonType
	}
	if t.kid, t.hasKid, err = header.str("kid"); err != nil {
		return nil, ReasonMalformed
	}
	return t, ""
}

// acceptedType reports whether typ names a JWT (RFC 7519) or a JWT access
// token (RFC 9068), with or without the "application/" prefix that RFC 7515
// lets senders omit, in any case.
func acceptedType(typ string) bool {
	t := strings.ToLower(typ)
	t = strings.TrimPrefix(t, "application/")
	return t == "jwt" || t == "at+jwt"
}

// claims is a JSON object's members by their exact names: a claims set, a
// JWS header or an introspection answer. Lookups never fold case.
type claims map[string]json.RawMessage

// errClaimType says a claim is present with the wrong JSON type.
var errClaimType = errors.New("claim has the wrong type")

// decodeObject decodes a JSON object of valid UTF-8 in which no object, at
// any depth, repeats a member name.
func decodeObject(b []byte) (claims, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("invalid UTF-8")
	}
	if err := checkDuplicates(b); err != nil {
		return nil, err
	}
	var c claims
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("not an object")
	}
	return c, nil
}

// checkDuplicates walks the JSON text b and fails on a repeated member name
// in any object, or on trailing data after the value.
func checkDuplicates(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := walkValue(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

const maxDepth = 32

func walkValue(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]struct{}{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := k.(string)
			if _, dup := seen[name]; dup {
				return errors.New("duplicate member " + strconv.Quote(name))
			}
			seen[name] = struct{}{}
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		for dec.More() {
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

// absent reports whether a member is missing or JSON null.
func absent(raw json.RawMessage, ok bool) bool {
	return !ok || string(raw) == "null"
}

// str returns the string member name; a member of another type is
// errClaimType.
func (c claims) str(name string) (string, bool, error) {
	raw, ok := c[name]
	if absent(raw, ok) {
		return "", false, nil
	}
	return rawString(raw)
}

func rawString(raw json.RawMessage) (string, bool, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false, errClaimType
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, errClaimType
	}
	return s, true, nil
}

// Bounds of a NumericDate: from the epoch to the end of year 9999.
const maxNumericDate = 253402300799

// date returns the NumericDate member name (RFC 7519: seconds since the
// epoch as a JSON number, possibly with a fraction). A string, a negative
// number or a date past year 9999 is errClaimType.
func (c claims) date(name string) (time.Time, bool, error) {
	raw, ok := c[name]
	if absent(raw, ok) {
		return time.Time{}, false, nil
	}
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return time.Time{}, false, errClaimType
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, false, errClaimType
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true, nil
}

// strings returns the member name as a list: a string is a list of one,
// an array must hold strings only (RFC 7519's aud).
func (c claims) strings(name string) ([]string, bool, error) {
	raw, ok := c[name]
	if absent(raw, ok) {
		return nil, false, nil
	}
	if raw[0] == '"' {
		s, _, err := rawString(raw)
		return []string{s}, true, err
	}
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, false, errClaimType
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, _, err := rawString(it)
		if err != nil {
			return nil, false, errClaimType
		}
		out = append(out, s)
	}
	return out, true, nil
}

// lookup resolves a claim path. A member whose whole name is the path wins
// (so "urn:zitadel:iam:org:id" and "https://acme.example/orgs" name
// themselves); otherwise the path's dot-separated names lead through nested
// objects ("realm_access.roles").
func (c claims) lookup(path string) (json.RawMessage, bool) {
	if raw, ok := c[path]; ok {
		return raw, !absent(raw, ok)
	}
	if !strings.Contains(path, ".") {
		return nil, false
	}
	cur := c
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		raw, ok := cur[seg]
		if absent(raw, ok) {
			return nil, false
		}
		if i == len(segs)-1 {
			return raw, true
		}
		if raw[0] != '{' {
			return nil, false
		}
		var next claims
		if err := json.Unmarshal(raw, &next); err != nil {
			return nil, false
		}
		cur = next
	}
	return nil, false
}
