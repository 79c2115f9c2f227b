package jwtauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
)

// profile is the RFC 8725 claim checks every issuer applies to a claims
// set whose origin is proven.
type profile struct {
	issuer    string   // required iss; empty: iss is not checked
	issOpt    bool     // iss may be absent (RFC 7662 answers), but if present must be issuer
	audiences []string // aud must name one of them; empty: aud is not checked
	leeway    time.Duration
	maxTTL    time.Duration // exp - iat must not exceed it; 0: no maximum, iat optional
}

// check applies the profile at now and returns the token's expiry.
func (p profile) check(c claims, now time.Time) (time.Time, string) {
	exp, ok, err := c.date("exp")
	switch {
	case err != nil:
		return exp, ReasonDateType
	case !ok:
		return exp, ReasonNoExp
	case !now.Before(exp.Add(p.leeway)):
		return exp, ReasonExpired
	}
	nbf, ok, err := c.date("nbf")
	switch {
	case err != nil:
		return exp, ReasonDateType
	case ok && now.Add(p.leeway).Before(nbf):
		return exp, ReasonNotYetValid
	}
	iat, hasIat, err := c.date("iat")
	switch {
	case err != nil:
		return exp, ReasonDateType
	case hasIat && now.Add(p.leeway).Before(iat):
		return exp, ReasonIssuedInFuture
	case p.maxTTL > 0 && !hasIat:
		return exp, ReasonNoIssuedAt
	case p.maxTTL > 0 && exp.Sub(iat) > p.maxTTL:
		return exp, ReasonLifetime
	}
	iss, ok, err := c.str("iss")
	switch {
	case err != nil:
		return exp, ReasonIssuer
	case p.issuer != "" && !ok && !p.issOpt:
		return exp, ReasonNoIssuer
	case p.issuer != "" && ok && iss != p.issuer:
		return exp, ReasonIssuer
	}
	aud, ok, err := c.strings("aud")
	switch {
	case err != nil:
		return exp, ReasonAudience
	case len(p.audiences) > 0 && (!ok || len(aud) == 0):
		return exp, ReasonNoAudience
	case len(p.audiences) > 0 && !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(p.audiences, a) }):
		return exp, ReasonAudience
	}
	return exp, ""
}

// mapping turns a proven claims set into a principal.
type mapping struct {
	name          string // issuer name prefixing subjects; empty: the bare subject (HS256)
	subjectClaim  string
	orgsClaim     string
	orgsArrayOnly bool // the HS256 format: orgs is an array
	required      []requirement
	reserved      []string // prefixes a bare subject must not take (other issuers' names)
}

// requirement is a RequiredClaim ready to test.
type requirement struct {
	claim    string
	contains string
	equals   any // canonical JSON value; nil: use contains
}

func newRequirements(rcs []RequiredClaim) ([]requirement, error) {
	out := make([]requirement, 0, len(rcs))
	for _, rc := range rcs {
		r := requirement{claim: rc.Claim, contains: rc.Contains}
		if rc.Equals != nil {
			v, err := canonicalValue(rc.Equals)
			if err != nil {
				return nil, err
			}
			r.equals = v
		}
		out = append(out, r)
	}
	return out, nil
}

// canonicalValue returns v as encoding/json decodes its JSON form, so that
// a configured 1 equals a claim's 1.0; only scalars are accepted.
func canonicalValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	switch out.(type) {
	case string, float64, bool:
		return out, nil
	}
	return nil, fmt.Errorf("%v is not a string, number or boolean", v)
}

// holds reports whether the claims satisfy r.
func (r requirement) holds(c claims) bool {
	raw, ok := c.lookup(r.claim)
	if !ok {
		return false
	}
	if r.equals != nil {
		var v any
		return json.Unmarshal(raw, &v) == nil && reflect.DeepEqual(v, r.equals)
	}
	switch raw[0] {
	case '"':
		s, _, _ := rawString(raw)
		return slices.Contains(strings.Fields(s), r.contains)
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return false
		}
		for _, it := range items {
			if s, ok, _ := rawString(it); ok && s == r.contains {
				return true
			}
		}
	case '{':
		var obj claims
		if json.Unmarshal(raw, &obj) != nil {
			return false
		}
		_, ok := obj[r.contains]
		return ok
	}
	return false
}

// principal returns who the claims name: the subject (prefixed with the
// issuer's name and SubjectSeparator) and the organizations.
func (m mapping) principal(c claims) (apikey.Principal, string) {
	for _, r := range m.required {
		if !r.holds(c) {
			return apikey.Principal{}, ReasonRequiredClaim
		}
	}
	raw, ok := c.lookup(m.subjectClaim)
	if !ok {
		return apikey.Principal{}, ReasonNoSubject
	}
	sub, _, err := rawString(raw)
	switch {
	case err != nil:
		return apikey.Principal{}, ReasonSubject
	case sub == "":
		return apikey.Principal{}, ReasonNoSubject
	}
	if m.name != "" {
		sub = m.name + SubjectSeparator + sub
	} else if pre, _, found := strings.Cut(sub, SubjectSeparator); found && slices.Contains(m.reserved, pre) {
		return apikey.Principal{}, ReasonSubjectReserved
	}
	if !apikey.ValidSubject(sub) {
		return apikey.Principal{}, ReasonSubject
	}
	orgs, reason := m.organizations(c)
	if reason != "" {
		return apikey.Principal{}, reason
	}
	return apikey.Principal{Subject: sub, Organizations: orgs}, ""
}

// organizations reads the organizations claim: an array of ids, one id, or
// an object whose member names are the ids (only an array for HS256).
// Every id must be an organization id; an absent claim names none.
func (m mapping) organizations(c claims) ([]string, string) {
	orgs := []string{}
	raw, ok := c.lookup(m.orgsClaim)
	if !ok {
		return orgs, ""
	}
	switch {
	case raw[0] == '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil, ReasonOrgsType
		}
		for _, it := range items {
			s, _, err := rawString(it)
			if err != nil {
				return nil, ReasonOrgsType
			}
			orgs = append(orgs, s)
		}
	case m.orgsArrayOnly:
		return nil, ReasonOrgsType
	case raw[0] == '"':
		s, _, err := rawString(raw)
		if err != nil {
			return nil, ReasonOrgsType
		}
		orgs = append(orgs, s)
	case raw[0] == '{':
		// Member names in document order, for a stable principal.
		dec := json.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.Token(); err != nil {
			return nil, ReasonOrgsType
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, ReasonOrgsType
			}
			orgs = append(orgs, k.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, ReasonOrgsType
			}
		}
	default:
		return nil, ReasonOrgsType
	}
	for _, o := range orgs {
		if !apikey.ValidOrganizationID(o) {
			return nil, ReasonOrganization
		}
	}
	return orgs, ""
}
