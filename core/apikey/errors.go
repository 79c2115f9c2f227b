package apikey

import (
	"errors"
	"fmt"
	"strings"
)

// Domain errors. Adapters translate their own failures into these, and the
// HTTP adapter maps each to one status and code.
var (
	// ErrNotFound means no key with that id exists in a visible organization.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a concurrent change won, or a unique value is taken.
	ErrConflict = errors.New("conflict")
	// ErrRevoked means the key has been revoked.
	ErrRevoked = errors.New("key revoked")
	// ErrExpired means the key is past its expiry time.
	ErrExpired = errors.New("key expired")
	// ErrUnknownKey means no key matches the presented secret.
	ErrUnknownKey = errors.New("unknown key")
	// ErrMalformedKey means the presented secret is not in the key format.
	ErrMalformedKey = errors.New("malformed key")
	// ErrChecksum means the presented secret's checksum does not match.
	ErrChecksum = errors.New("key checksum mismatch")
	// ErrMissingKey means no secret was presented.
	ErrMissingKey = errors.New("missing key")
	// ErrUnauthenticated means the caller did not prove who it is.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden means the caller is known but may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable means a dependency (database, audit queue) cannot serve now.
	ErrUnavailable = errors.New("service unavailable")
)

// ValidationError describes bad input, naming the offending field.
type ValidationError struct {
	Field   string // e.g. "name", "scopes[1]"
	Code    string // stable machine-readable code, e.g. "invalid_scope"
	Message string // public, human-readable message
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Invalid returns a ValidationError with code "invalid_request".
func Invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Code: "invalid_request", Message: fmt.Sprintf(format, args...)}
}

// ScopeError reports that a caller lacks scopes it needs.
type ScopeError struct {
	Required []Scope // the scopes that were needed
	Granted  []Scope // the scopes the caller holds
}

func (e *ScopeError) Error() string {
	names := make([]string, len(e.Required))
	for i, s := range e.Required {
		names[i] = string(s)
	}
	return "missing scope " + strings.Join(names, ", ")
}

// Is makes errors.Is(err, ErrForbidden) true for a ScopeError.
func (e *ScopeError) Is(target error) bool { return target == ErrForbidden }

// DeniedError is a refusal with a stable code and the field whose value the
// caller may not use, e.g. an organization the caller may not act for.
// errors.Is(err, ErrForbidden) holds for it.
type DeniedError struct {
	Field   string
	Code    string
	Message string
}

func (e *DeniedError) Error() string { return e.Field + ": " + e.Message }

// Is makes errors.Is(err, ErrForbidden) true for a DeniedError.
func (e *DeniedError) Is(target error) bool { return target == ErrForbidden }

// ForbiddenOrganization returns the refusal to act for organization org,
// named by field: the organization exists or not, but it is not one of the
// caller's.
func ForbiddenOrganization(field, org string) *DeniedError {
	return &DeniedError{Field: field, Code: "forbidden_organization",
		Message: fmt.Sprintf("you may not act for organization %q", org)}
}
