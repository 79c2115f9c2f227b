package apikey

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxRateLimit is the largest number of requests a key's rate limit may
// allow per window.
const MaxRateLimit = 1_000_000

// Rate-limit windows a key may use. No other window is accepted: the HTTP
// API writes them as "1s", "1m" and "1h".
const (
	WindowSecond = time.Second
	WindowMinute = time.Minute
	WindowHour   = time.Hour
)

// RateLimit is the request budget of a key: at most Limit verifications
// per Window. The budget refills continuously (Limit units per Window), so
// Limit requests are allowed at once and, after that, one more every
// Window/Limit; a budget left unused for a whole Window is whole again.
type RateLimit struct {
	Limit  int
	Window time.Duration
}

// IsZero reports whether r is the zero value, which means "no limit".
func (r RateLimit) IsZero() bool { return r == RateLimit{} }

// WindowName returns the window as the API writes it: "1s", "1m" or "1h",
// or the Go duration for a window that is not one of these.
func (r RateLimit) WindowName() string {
	switch r.Window {
	case WindowSecond:
		return "1s"
	case WindowMinute:
		return "1m"
	case WindowHour:
		return "1h"
	}
	return r.Window.String()
}

// String returns r in the form ParseRateLimit reads, e.g. "100/1m".
func (r RateLimit) String() string {
	return strconv.Itoa(r.Limit) + "/" + r.WindowName()
}

// Validate reports whether r is a usable limit: Limit between 1 and
// MaxRateLimit and Window one of WindowSecond, WindowMinute, WindowHour.
// The error is a *ValidationError with code "invalid_rate_limit" naming
// rate_limit.limit or rate_limit.window.
func (r RateLimit) Validate() error {
	if r.Limit < 1 || r.Limit > MaxRateLimit {
		return invalidRateLimit("rate_limit.limit", fmt.Sprintf("rate_limit.limit must be between 1 and %d, got %d", MaxRateLimit, r.Limit))
	}
	if _, ok := windowNames[r.WindowName()]; !ok {
		return invalidRateLimit("rate_limit.window", fmt.Sprintf("rate_limit.window must be 1s, 1m or 1h, got %s", r.Window))
	}
	return nil
}

// windowNames maps the API's window names to durations.
var windowNames = map[string]time.Duration{"1s": WindowSecond, "1m": WindowMinute, "1h": WindowHour}

// ParseWindow returns the duration of a window name: "1s", "1m" or "1h".
func ParseWindow(name string) (time.Duration, bool) {
	d, ok := windowNames[name]
	return d, ok
}

// NewRateLimit returns the validated limit of the API's
// {"limit": N, "window": "1s"|"1m"|"1h"}.
func NewRateLimit(limit int, window string) (RateLimit, error) {
	d, ok := ParseWindow(window)
	if !ok {
		return RateLimit{}, invalidRateLimit("rate_limit.window", fmt.Sprintf("rate_limit.window must be \"1s\", \"1m\" or \"1h\", got %q", window))
	}
	r := RateLimit{Limit: limit, Window: d}
	if err := r.Validate(); err != nil {
		return RateLimit{}, err
	}
	return r, nil
}

// ParseRateLimit reads the textual form of a limit used in settings,
// LIMIT/WINDOW, e.g. "100/1m" (100 requests per minute).
func ParseRateLimit(s string) (RateLimit, error) {
	n, w, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return RateLimit{}, invalidRateLimit("rate_limit", fmt.Sprintf("rate limit %q must be LIMIT/WINDOW, e.g. 100/1m", s))
	}
	limit, err := strconv.Atoi(n)
	if err != nil {
		return RateLimit{}, invalidRateLimit("rate_limit.limit", fmt.Sprintf("rate limit %q: %q is not a whole number", s, n))
	}
	return NewRateLimit(limit, w)
}

func invalidRateLimit(field, msg string) *ValidationError {
	return &ValidationError{Field: field, Code: "invalid_rate_limit", Message: msg}
}
