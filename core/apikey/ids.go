package apikey

import (
	"fmt"
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

// ValidSubject reports whether s can name a user: 1 to MaxSubjectLen
// characters of valid UTF-8 with no control characters and no invisible
// formatting characters (bidi overrides, zero-width spaces), so that an
// audit actor reads as what it is and can be searched for.
func ValidSubject(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxSubjectLen {
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
