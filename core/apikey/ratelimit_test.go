package apikey

import (
	"errors"
	"testing"
	"time"
)

func TestNewRateLimit(t *testing.T) {
	for _, tc := range []struct {
		limit  int
		window string
		want   RateLimit
	}{
		{1, "1s", RateLimit{1, time.Second}},
		{5, "1s", RateLimit{5, time.Second}},
		{100, "1m", RateLimit{100, time.Minute}},
		{MaxRateLimit, "1h", RateLimit{MaxRateLimit, time.Hour}},
	} {
		got, err := NewRateLimit(tc.limit, tc.window)
		if err != nil || got != tc.want {
			t.Errorf("NewRateLimit(%d, %q) = %+v, %v; want %+v", tc.limit, tc.window, got, err, tc.want)
		}
		if got.WindowName() != tc.window {
			t.Errorf("%+v.WindowName() = %q, want %q", got, got.WindowName(), tc.window)
		}
	}
}

func TestNewRateLimitRefuses(t *testing.T) {
	for _, tc := range []struct {
		limit  int
		window string
		field  string
	}{
		{0, "1s", "rate_limit.limit"},
		{-1, "1m", "rate_limit.limit"},
		{MaxRateLimit + 1, "1h", "rate_limit.limit"},
		{5, "", "rate_limit.window"},
		{5, "2s", "rate_limit.window"},
		{5, "60s", "rate_limit.window"},
		{5, "1d", "rate_limit.window"},
		{5, "1M", "rate_limit.window"},
		{5, " 1s", "rate_limit.window"},
	} {
		_, err := NewRateLimit(tc.limit, tc.window)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || ve.Code != "invalid_rate_limit" || ve.Message == "" {
			t.Errorf("NewRateLimit(%d, %q) error = %#v; want invalid_rate_limit on %s", tc.limit, tc.window, err, tc.field)
		}
	}
}

func TestRateLimitValidate(t *testing.T) {
	if err := (RateLimit{Limit: 10, Window: time.Minute}).Validate(); err != nil {
		t.Errorf("10/1m: %v", err)
	}
	for _, r := range []RateLimit{{}, {Limit: 10}, {Limit: 10, Window: 2 * time.Second}, {Limit: 0, Window: time.Second}, {Limit: 10, Window: 24 * time.Hour}} {
		if err := r.Validate(); err == nil {
			t.Errorf("%+v.Validate() = nil, want an error", r)
		}
	}
}

func TestParseRateLimit(t *testing.T) {
	for in, want := range map[string]RateLimit{
		"100/1m":     {100, time.Minute},
		" 5/1s ":     {5, time.Second},
		"1000000/1h": {MaxRateLimit, time.Hour},
	} {
		got, err := ParseRateLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseRateLimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, err := ParseRateLimit(got.String()); err != nil || back != got {
			t.Errorf("ParseRateLimit(%q) = %+v, %v; does not read back String()", got.String(), back, err)
		}
	}
	for _, in := range []string{"", "100", "100/", "/1m", "x/1m", "1.5/1s", "0/1s", "100/1d", "100/60s", "100/1m/1h"} {
		if got, err := ParseRateLimit(in); err == nil {
			t.Errorf("ParseRateLimit(%q) = %+v, want an error", in, got)
		}
	}
}

func TestRateLimitIsZero(t *testing.T) {
	if !(RateLimit{}).IsZero() || (RateLimit{Limit: 1, Window: time.Second}).IsZero() {
		t.Error("IsZero is true only for the zero value")
	}
}
