package orgpolicy

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
)

var now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := now.Add(d); return &t }

func code(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func TestCheckIsTheOneRule(t *testing.T) {
	day := 24 * time.Hour
	hour := time.Hour
	for _, c := range []struct {
		name string
		p    Policy
		t    Terms
		want string
	}{
		{"no policy", Policy{}, Terms{Environment: apikey.EnvLive, Grace: MaxGrace}, ""},
		{"expiry required", Policy{RequireExpiry: true}, Terms{}, CodeExpiryRequired},
		{"expiry given", Policy{RequireExpiry: true}, Terms{ExpiresAt: at(10 * 365 * day)}, ""},
		{"lifetime needs an expiry", Policy{MaxKeyLifetime: 90 * day}, Terms{}, CodeLifetimeExceeded},
		{"within the lifetime", Policy{MaxKeyLifetime: 90 * day}, Terms{ExpiresAt: at(90 * day)}, ""},
		{"beyond the lifetime", Policy{MaxKeyLifetime: 90 * day}, Terms{ExpiresAt: at(90*day + time.Second)}, CodeLifetimeExceeded},
		{"environment refused", Policy{AllowedEnvironments: []apikey.Environment{apikey.EnvTest}}, Terms{Environment: apikey.EnvLive}, CodeEnvironmentNotAllowed},
		{"environment allowed", Policy{AllowedEnvironments: []apikey.Environment{apikey.EnvTest}}, Terms{Environment: apikey.EnvTest}, ""},
		{"environment not judged", Policy{AllowedEnvironments: []apikey.Environment{apikey.EnvTest}}, Terms{}, ""},
		{"grace over the cap", Policy{MaxRotationGrace: &hour}, Terms{Grace: 2 * hour}, CodeGraceExceeded},
		{"grace at the cap", Policy{MaxRotationGrace: &hour}, Terms{Grace: hour}, ""},
		{"grace over the service's cap", Policy{}, Terms{Grace: MaxGrace + 1}, CodeGraceExceeded},
	} {
		if got := code(c.p.Check(c.t, now)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	var pe *Error
	if !errors.As(Policy{MaxKeyLifetime: 90 * day}.Check(Terms{}, now), &pe) || pe.Field != "expires_at" || pe.Setting != SettingMaxKeyLifetime {
		t.Errorf("refusal %+v does not name its field and setting", pe)
	}
}

func TestLoosenedTellsTighteningFromLoosening(t *testing.T) {
	hour, day := time.Hour, 24*time.Hour
	tight := Policy{MaxKeyLifetime: 30 * day, RequireExpiry: true, AllowedEnvironments: []apikey.Environment{apikey.EnvTest},
		MaxRotationGrace: &hour, RotationPeriod: 90 * day, DefaultRateLimit: apikey.RateLimit{Limit: 10, Window: time.Second}}
	allow, err := apikey.ParseIPAllowlist([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	tight.DefaultIPAllowlist = allow
	if got := (Policy{}).Loosened(tight); len(got) != 0 {
		t.Errorf("from nothing to tight: loosens %v", got)
	}
	if got := tight.Loosened(Policy{}); !slices.Equal(got, Settings) {
		t.Errorf("from tight to nothing: loosens %v, want every setting", got)
	}
	narrower, _ := apikey.ParseIPAllowlist([]string{"10.1.0.0/16"})
	wider, _ := apikey.ParseIPAllowlist([]string{"10.1.0.0/16", "192.0.2.0/24"})
	for _, c := range []struct {
		name   string
		change func(p *Policy)
		want   []string
	}{
		{"shorter lifetime", func(p *Policy) { p.MaxKeyLifetime = day }, nil},
		{"longer lifetime", func(p *Policy) { p.MaxKeyLifetime = 31 * day }, []string{SettingMaxKeyLifetime}},
		{"narrower allowlist", func(p *Policy) { p.DefaultIPAllowlist = narrower }, nil},
		{"wider allowlist", func(p *Policy) { p.DefaultIPAllowlist = wider }, []string{SettingDefaultIPAllowlist}},
		{"live allowed", func(p *Policy) { p.AllowedEnvironments = []apikey.Environment{apikey.EnvLive, apikey.EnvTest} }, []string{SettingAllowedEnvironments}},
		{"slower rate", func(p *Policy) { p.DefaultRateLimit = apikey.RateLimit{Limit: 500, Window: time.Minute} }, nil},
		{"faster rate", func(p *Policy) { p.DefaultRateLimit = apikey.RateLimit{Limit: 700, Window: time.Minute} }, []string{SettingDefaultRateLimit}},
		{"no grace", func(p *Policy) { z := time.Duration(0); p.MaxRotationGrace = &z }, nil},
		{"grace uncapped", func(p *Policy) { p.MaxRotationGrace = nil }, []string{SettingMaxRotationGrace}},
		{"shorter period", func(p *Policy) { p.RotationPeriod = 30 * day }, nil},
	} {
		next := tight.Clone()
		c.change(&next)
		if got := tight.Loosened(next); !slices.Equal(got, c.want) {
			t.Errorf("%s: loosens %v, want %v", c.name, got, c.want)
		}
	}
}

func TestChangesAndValidate(t *testing.T) {
	day := 24 * time.Hour
	ch := (Policy{}).Changes(Policy{RotationPeriod: 90 * day, AllowedEnvironments: []apikey.Environment{apikey.EnvLive}})
	if len(ch) != 2 || ch[0].Field != SettingAllowedEnvironments || ch[1].Field != SettingRotationPeriod ||
		ch[1].Before != nil || ch[1].After != "90d" {
		t.Fatalf("changes %+v", ch)
	}
	if ch := (Policy{RequireExpiry: true}).Changes(Policy{RequireExpiry: true}); len(ch) != 0 {
		t.Fatalf("no change: %+v", ch)
	}
	long := MaxGrace + 1
	for _, bad := range []Policy{
		{MaxKeyLifetime: time.Millisecond}, {RotationPeriod: MaxPeriod + 1}, {MaxRotationGrace: &long},
		{AllowedEnvironments: []apikey.Environment{"prod"}}, {DefaultRateLimit: apikey.RateLimit{Limit: -1, Window: time.Second}},
	} {
		var ve *apikey.ValidationError
		if err := bad.Validate(); !errors.As(err, &ve) || ve.Code != "invalid_policy" {
			t.Errorf("%+v: %v, want invalid_policy", bad, err)
		}
	}
	if _, err := ParseEnvironments([]string{"live", "live"}); err == nil {
		t.Error("a repeated environment is accepted")
	}
	k := apikey.Key{CreatedAt: now}
	if (Policy{}).RotationDueAt(k) != nil {
		t.Error("due without a period")
	}
	rot := now.Add(day)
	k.RotatedAt = &rot
	if due := (Policy{RotationPeriod: day}).RotationDueAt(k); due == nil || !due.Equal(now.Add(2*day)) {
		t.Errorf("due at %v, want the last rotation plus the period", due)
	}
}
