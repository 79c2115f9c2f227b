package apikey

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Identifier syntax. Every identifier that arrives from outside (a token
// claim, a path, a query parameter, a body field, a cursor) is checked by
// the one function of its kind below before any store sees it, so that no
// database's collation or encoding decides what two identifiers mean: a
// store never has to tell "org_A" from "org_A " or "org_a".
const (
	// MaxOrganizationIDLen bounds an organization id, in bytes.
	MaxOrganizationIDLen = 128
	// MaxKeyIDLen bounds a key id, in bytes, prefix included.
	MaxKeyIDLen = 64
	// MaxSubjectLen bounds the subject of a user principal, in characters.
	MaxSubjectLen = 200
	// MaxActorLen bounds an audit actor ("user:<sub>",
	// "user:<issuer>:<sub>", "key:<id>"), in characters.
	MaxActorLen = 255
	// EventIDPrefix starts every audit event id.
	EventIDPrefix = "evt_"
)

// OrganizationIDPattern is the documented syntax of an organization id:
// printable ASCII without whitespace, 1 to 128 characters, starting with a
// letter or digit.
const OrganizationIDPattern = `^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$`

// ValidOrganizationID reports whether s matches OrganizationIDPattern.
func ValidOrganizationID(s string) bool {
	if len(s) == 0 || len(s) > MaxOrganizationIDLen || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != ':' && c != '@' && c != '-' {
			return false
		}
	}
	return true
}

// InvalidOrganizationID returns the error answered for a value of field
// that is not an organization id.
func InvalidOrganizationID(field string) *ValidationError {
	return &ValidationError{Field: field, Code: "invalid_organization_id",
		Message: fmt.Sprintf("%s must be 1-%d characters of letters, digits and . _ : @ -, starting with a letter or digit", field, MaxOrganizationIDLen)}
}

// ValidKeyID reports whether s has the shape of a key id: IDPrefix
// followed by 1 to MaxKeyIDLen-4 base62 characters.
func ValidKeyID(s string) bool {
	if len(s) <= len(IDPrefix) || len(s) > MaxKeyIDLen || s[:len(IDPrefix)] != IDPrefix {
		return false
	}
	for i := len(IDPrefix); i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// InvalidKeyID returns the error answered for a value of field that is
// not a key id (in a query; a path naming no key is simply not found).
func InvalidKeyID(field string) *ValidationError {
	return &ValidationError{Field: field, Code: "invalid_key_id",
		Message: fmt.Sprintf("%s must be a key id such as key_8fJ2kQ0xLm3Zp9Ab", field)}
}

// ValidEventID reports whether s has the shape of an audit event id:
// EventIDPrefix followed by 1 to MaxKeyIDLen-4 base62 characters.
func ValidEventID(s string) bool {
	if len(s) <= len(EventIDPrefix) || len(s) > MaxKeyIDLen || s[:len(EventIDPrefix)] != EventIDPrefix {
		return false
	}
	for i := len(EventIDPrefix); i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// ValidActor reports whether s can be an audit actor, as searched for:
// what ValidSubject accepts, up to MaxActorLen characters (the actor adds
// "user:" and an issuer's name to a subject).
func ValidActor(s string) bool {
	return printable(s, MaxActorLen)
}

// InvalidActor returns the error answered for a value of field that is
// not an actor.
func InvalidActor(field string) *ValidationError {
	return &ValidationError{Field: field, Code: "invalid_actor",
		Message: fmt.Sprintf("%s must be 1-%d characters of valid UTF-8 without control or invisible characters, e.g. user:alice or key:key_8fJ2kQ0xLm3Zp9Ab", field, MaxActorLen)}
}

// The times every store can hold and compare: MySQL's DATETIME holds years
// 1000 to 9999, and a time outside would make one database refuse a query
// another answers.
var (
	MinTime = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// ValidTime reports whether t, at the microsecond precision every store
// keeps (the drivers truncate), lies within MinTime and MaxTime.
func ValidTime(t time.Time) bool {
	t = t.Truncate(time.Microsecond)
	return !t.Before(MinTime) && !t.After(MaxTime)
}

// ValidSubject reports whether s can name a user: 1 to MaxSubjectLen
// characters of valid UTF-8 with no control characters and no invisible
// formatting characters (bidi overrides, zero-width spaces), so that an
// audit actor reads as what it is and can be searched for.
func ValidSubject(s string) bool {
	return printable(s, MaxSubjectLen)
}

// printable reports whether s is 1 to maxLen characters of valid UTF-8
// without control characters, invisible formatting characters or
// whitespace other than the space.
func printable(s string, maxLen int) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxLen {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) && r != ' ' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}
