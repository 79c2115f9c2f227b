// Package orgpolicy holds an organization's key policy: the limits every
// key of the organization must keep (expiry, environments, rotation grace)
// and the defaults new keys get (IP allowlist, rate limit), with the one
// rule that judges a key against them (Check) and the one that tells a
// tightening from a loosening (Loosened).
package orgpolicy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
)

// Limits of the settings.
const (
	// MaxGrace is the longest grace period a rotation may give the
	// replaced secret, and so the largest max_rotation_grace.
	MaxGrace = 7 * 24 * time.Hour
	// MinPeriod and MaxPeriod bound max_key_lifetime and rotation_period.
	MinPeriod = time.Second
	MaxPeriod = 3650 * 24 * time.Hour
)

// The settings, as the API names them.
const (
	SettingMaxKeyLifetime      = "max_key_lifetime"
	SettingRequireExpiry       = "require_expiry"
	SettingAllowedEnvironments = "allowed_environments"
	SettingDefaultIPAllowlist  = "default_ip_allowlist"
	SettingMaxRotationGrace    = "max_rotation_grace"
	SettingRotationPeriod      = "rotation_period"
	SettingDefaultRateLimit    = "default_rate_limit"
)

// The codes of the refusals by a policy (Error), one per rule.
const (
	CodeExpiryRequired        = codeExpiryRequired
	CodeLifetimeExceeded      = codeLifetimeExceeded
	CodeEnvironmentNotAllowed = codeEnvironmentNotAllowed
	CodeGraceExceeded         = codeGraceExceeded
)

// The codes written out where the README's error-table check finds them.
const (
	codeExpiryRequired        = "policy_expiry_required"
	codeLifetimeExceeded      = "policy_lifetime_exceeded"
	codeEnvironmentNotAllowed = "policy_environment_not_allowed"
	codeGraceExceeded         = "policy_grace_exceeded"
)

// Policy is an organization's key policy. The zero value is the policy of
// an organization that set none: every key allowed, no defaults.
type Policy struct {
	// MaxKeyLifetime, when positive, is how far from the time of its
	// creation, rotation or new expiry a key may expire at the latest
	// (so it must have an expiry).
	MaxKeyLifetime time.Duration
	// RequireExpiry refuses keys without an expiry.
	RequireExpiry bool
	// AllowedEnvironments, when not empty, are the only environments a
	// key may be created or rotated in.
	AllowedEnvironments []apikey.Environment
	// DefaultIPAllowlist is given to a key created without an allowlist.
	DefaultIPAllowlist apikey.IPAllowlist
	// MaxRotationGrace, when set, caps a rotation's grace period (else
	// MaxGrace does).
	MaxRotationGrace *time.Duration
	// RotationPeriod, when positive, is how long after its creation or
	// last rotation a key falls due for rotation.
	RotationPeriod time.Duration
	// DefaultRateLimit, when set, is given to a key created without a
	// rate limit, before the service's configured default.
	DefaultRateLimit apikey.RateLimit
}

// Error is a refusal by an organization's policy: Field names the request
// field the policy refuses, Setting the setting that refuses it.
type Error struct {
	Field   string
	Code    string
	Setting string
	Message string
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

// invalid is a ValidationError of a setting.
func invalid(setting, format string, args ...any) *apikey.ValidationError {
	return &apikey.ValidationError{Field: setting, Code: "invalid_policy", Message: setting + " " + fmt.Sprintf(format, args...)}
}

// Validate checks every setting of p: periods between MinPeriod and
// MaxPeriod, a grace cap between 0 and MaxGrace, known environments each
// once, a valid rate limit. The error is a ValidationError with code
// invalid_policy naming the setting.
func (p Policy) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{SettingMaxKeyLifetime, p.MaxKeyLifetime}, {SettingRotationPeriod, p.RotationPeriod}} {
		if d.v != 0 && (d.v < MinPeriod || d.v > MaxPeriod) {
			return invalid(d.name, "must be between %s and %s", FormatDuration(MinPeriod), FormatDuration(MaxPeriod))
		}
	}
	if g := p.MaxRotationGrace; g != nil && (*g < 0 || *g > MaxGrace) {
		return invalid(SettingMaxRotationGrace, "must be between 0 and %s", FormatDuration(MaxGrace))
	}
	for i, e := range p.AllowedEnvironments {
		if _, err := apikey.ParseEnvironment(string(e)); err != nil {
			return invalid(SettingAllowedEnvironments, `may name only "test" and "live"`)
		}
		if slices.Contains(p.AllowedEnvironments[:i], e) {
			return invalid(SettingAllowedEnvironments, "names %q twice", e)
		}
	}
	if !p.DefaultRateLimit.IsZero() {
		if err := p.DefaultRateLimit.Validate(); err != nil {
			return invalid(SettingDefaultRateLimit, "is not a valid rate limit: %v", err)
		}
	}
	return nil
}

// ParseEnvironments reads the names of allowed_environments; nil or empty:
// any environment.
func ParseEnvironments(names []string) ([]apikey.Environment, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out := make([]apikey.Environment, 0, len(names))
	for _, n := range names {
		e, err := apikey.ParseEnvironment(n)
		if err != nil {
			return nil, invalid(SettingAllowedEnvironments, `may name only "test" and "live", got %q`, n)
		}
		if slices.Contains(out, e) {
			return nil, invalid(SettingAllowedEnvironments, "names %q twice", n)
		}
		out = append(out, e)
	}
	slices.Sort(out)
	return out, nil
}

// GraceCap is the longest grace period a rotation may give under p.
func (p Policy) GraceCap() time.Duration {
	if p.MaxRotationGrace != nil {
		return *p.MaxRotationGrace
	}
	return MaxGrace
}

// Terms are what a policy judges of a key being created, rotated or
// given a new expiry.
type Terms struct {
	// Environment is the key's; "" is not judged (an update, which never
	// changes it).
	Environment apikey.Environment
	// ExpiresAt is the key's expiry after the operation; nil: none.
	ExpiresAt *time.Time
	// Grace is a rotation's grace period.
	Grace time.Duration
}

// Check is the one rule of a key policy, applied to every key created,
// rotated or given a new expiry at now: its environment must be allowed,
// it must expire when require_expiry or max_key_lifetime say so, and
// within max_key_lifetime of now, and a rotation's grace period must be
// within max_rotation_grace. The refusal is an *Error naming the setting.
func (p Policy) Check(t Terms, now time.Time) error {
	if t.Environment != "" && len(p.AllowedEnvironments) > 0 && !slices.Contains(p.AllowedEnvironments, t.Environment) {
		return &Error{Field: "environment", Code: CodeEnvironmentNotAllowed, Setting: SettingAllowedEnvironments,
			Message: fmt.Sprintf("the organization's policy allows only %s keys (allowed_environments)", envNames(p.AllowedEnvironments))}
	}
	switch {
	case t.ExpiresAt == nil && p.RequireExpiry:
		return &Error{Field: "expires_at", Code: CodeExpiryRequired, Setting: SettingRequireExpiry,
			Message: "the organization's policy requires every key to have an expires_at (require_expiry)"}
	case t.ExpiresAt == nil && p.MaxKeyLifetime > 0:
		return &Error{Field: "expires_at", Code: CodeLifetimeExceeded, Setting: SettingMaxKeyLifetime,
			Message: fmt.Sprintf("the organization's policy requires an expires_at within %s (max_key_lifetime)", FormatDuration(p.MaxKeyLifetime))}
	case t.ExpiresAt != nil && p.MaxKeyLifetime > 0 && t.ExpiresAt.After(now.Add(p.MaxKeyLifetime)):
		return &Error{Field: "expires_at", Code: CodeLifetimeExceeded, Setting: SettingMaxKeyLifetime,
			Message: fmt.Sprintf("expires_at must be within %s from now (max_key_lifetime), at the latest %s",
				FormatDuration(p.MaxKeyLifetime), now.Add(p.MaxKeyLifetime).UTC().Format(time.RFC3339))}
	}
	if t.Grace > p.GraceCap() {
		return &Error{Field: "grace_period", Code: CodeGraceExceeded, Setting: SettingMaxRotationGrace,
			Message: fmt.Sprintf("the organization's policy allows a grace_period of at most %s (max_rotation_grace)", FormatDuration(p.GraceCap()))}
	}
	return nil
}

func envNames(envs []apikey.Environment) string {
	names := make([]string, len(envs))
	for i, e := range envs {
		names[i] = string(e)
	}
	return strings.Join(names, " and ")
}

// RotationDueAt is when k falls due for rotation under p: its last
// rotation (or its creation) plus RotationPeriod; nil without a period.
func (p Policy) RotationDueAt(k apikey.Key) *time.Time {
	if p.RotationPeriod <= 0 {
		return nil
	}
	last := k.CreatedAt
	if k.RotatedAt != nil {
		last = *k.RotatedAt
	}
	due := last.Add(p.RotationPeriod)
	return &due
}

// RotationCutoff is the time at or before which a key last rotated (or
// created) is due for rotation at now; false without a period.
func (p Policy) RotationCutoff(now time.Time) (time.Time, bool) {
	if p.RotationPeriod <= 0 {
		return time.Time{}, false
	}
	return now.Add(-p.RotationPeriod), true
}

// Loosened names the settings that next loosens compared with p, in the
// order of the API: a longer or no max_key_lifetime or rotation_period,
// require_expiry turned off, an environment allowed that was not, a
// default IP allowlist admitting an address the old one did not, a larger
// grace cap, a default rate limit allowing more requests (or none).
func (p Policy) Loosened(next Policy) []string {
	var out []string
	longer := func(old, nw time.Duration) bool { return old > 0 && (nw == 0 || nw > old) }
	if longer(p.MaxKeyLifetime, next.MaxKeyLifetime) {
		out = append(out, SettingMaxKeyLifetime)
	}
	if p.RequireExpiry && !next.RequireExpiry {
		out = append(out, SettingRequireExpiry)
	}
	if allowsMore(p.AllowedEnvironments, next.AllowedEnvironments) {
		out = append(out, SettingAllowedEnvironments)
	}
	if admitsMore(p.DefaultIPAllowlist, next.DefaultIPAllowlist) {
		out = append(out, SettingDefaultIPAllowlist)
	}
	if next.GraceCap() > p.GraceCap() {
		out = append(out, SettingMaxRotationGrace)
	}
	if longer(p.RotationPeriod, next.RotationPeriod) {
		out = append(out, SettingRotationPeriod)
	}
	if allowsMoreRequests(p.DefaultRateLimit, next.DefaultRateLimit) {
		out = append(out, SettingDefaultRateLimit)
	}
	return out
}

// allowsMore reports whether next allows an environment old does not
// (empty: every environment).
func allowsMore(old, next []apikey.Environment) bool {
	if len(old) == 0 {
		return false
	}
	if len(next) == 0 {
		return true
	}
	for _, e := range next {
		if !slices.Contains(old, e) {
			return true
		}
	}
	return false
}

// admitsMore reports whether allowlist next admits an address old does
// not (empty: any address).
func admitsMore(old, next apikey.IPAllowlist) bool {
	if len(old) == 0 {
		return false
	}
	if len(next) == 0 {
		return true
	}
	for _, n := range next {
		if !slices.ContainsFunc(old, func(o netip.Prefix) bool { return covers(o, n) }) {
			return true
		}
	}
	return false
}

// covers reports whether network o holds every address of network n.
func covers(o, n netip.Prefix) bool { return o.Bits() <= n.Bits() && o.Contains(n.Addr()) }

// allowsMoreRequests reports whether rate limit next allows more requests
// over time than old (zero: no limit of the policy's own).
func allowsMoreRequests(old, next apikey.RateLimit) bool {
	if old.IsZero() {
		return false
	}
	if next.IsZero() {
		return true
	}
	// next.Limit/next.Window > old.Limit/old.Window, in integers: limits
	// are at most a million and windows at most an hour, so no overflow.
	return int64(next.Limit)*int64(old.Window) > int64(old.Limit)*int64(next.Window)
}

// Changes lists the settings next changes from p, each with its value
// before and after as the audit trail shows them (durations as "90d" or
// "36h0m0s", rate limits as "100/1m", null for unset).
func (p Policy) Changes(next Policy) []audit.FieldChange {
	before, after := p.values(), next.values()
	var out []audit.FieldChange
	for _, name := range Settings {
		if !equal(before[name], after[name]) {
			out = append(out, audit.FieldChange{Field: name, Before: before[name], After: after[name]})
		}
	}
	return out
}

// Settings lists the settings in the order of the API.
var Settings = []string{SettingMaxKeyLifetime, SettingRequireExpiry, SettingAllowedEnvironments, SettingDefaultIPAllowlist,
	SettingMaxRotationGrace, SettingRotationPeriod, SettingDefaultRateLimit}

func equal(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok || bok {
		return aok == bok && slices.Equal(as, bs)
	}
	return a == b
}

// values is p as the audit trail shows it, by setting.
func (p Policy) values() map[string]any {
	dur := func(d time.Duration) any {
		if d <= 0 {
			return nil
		}
		return FormatDuration(d)
	}
	v := map[string]any{
		SettingMaxKeyLifetime:      dur(p.MaxKeyLifetime),
		SettingRequireExpiry:       p.RequireExpiry,
		SettingAllowedEnvironments: nil,
		SettingDefaultIPAllowlist:  nil,
		SettingMaxRotationGrace:    nil,
		SettingRotationPeriod:      dur(p.RotationPeriod),
		SettingDefaultRateLimit:    nil,
	}
	if len(p.AllowedEnvironments) > 0 {
		names := make([]string, len(p.AllowedEnvironments))
		for i, e := range p.AllowedEnvironments {
			names[i] = string(e)
		}
		v[SettingAllowedEnvironments] = names
	}
	if len(p.DefaultIPAllowlist) > 0 {
		v[SettingDefaultIPAllowlist] = p.DefaultIPAllowlist.Strings()
	}
	if p.MaxRotationGrace != nil {
		v[SettingMaxRotationGrace] = FormatDuration(*p.MaxRotationGrace)
	}
	if !p.DefaultRateLimit.IsZero() {
		v[SettingDefaultRateLimit] = p.DefaultRateLimit.String()
	}
	return v
}

// FormatDuration writes d as the API reads it: whole days as "7d", else
// Go's form ("36h0m0s"), "0s" for zero.
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// Clone returns a copy of p sharing no memory with it.
func (p Policy) Clone() Policy {
	q := p
	q.AllowedEnvironments = slices.Clone(p.AllowedEnvironments)
	q.DefaultIPAllowlist = slices.Clone(p.DefaultIPAllowlist)
	if p.MaxRotationGrace != nil {
		g := *p.MaxRotationGrace
		q.MaxRotationGrace = &g
	}
	return q
}
