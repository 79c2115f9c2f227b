package ratelimit

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	d := DefaultConfig()
	if d.FailedAuth.Limit != 100 || d.FailedAuth.Window != time.Minute {
		t.Errorf("failed-auth default = %+v, want 100 per 1m", d.FailedAuth)
	}
	if d.Management.Rate != 10 || d.Management.Period != time.Second || d.Management.Burst != 20 {
		t.Errorf("management default = %+v, want 10/s burst 20", d.Management)
	}
	if d.Backend.OnRedisError != FailOpen || d.Backend.RedisURL != "" {
		t.Errorf("backend default = %+v, want memory, fail_open", d.Backend)
	}
}

func TestConfigZeroFieldsTakeDefaults(t *testing.T) {
	var c Config // limits off, everything else defaulted
	if err := c.Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	got := c.withDefaults()
	if got.Backend.RedisTimeout != 250*time.Millisecond || got.Backend.OnRedisError != FailOpen || got.Backend.MaxEntries != 100_000 || got.Backend.RedisPrefix != "apikeys:" {
		t.Errorf("zero backend with defaults = %+v", got.Backend)
	}
	if got.FailedAuth.Limit != 0 || got.Management.Rate != 0 {
		t.Errorf("zero limits became %+v / %+v; 0 must stay off", got.FailedAuth, got.Management)
	}
	c.Management.Rate = 50
	if b := c.withDefaults().Management; b.Burst != 50 || b.Period != time.Second {
		t.Errorf("management rate 50 without burst or period = %+v, want burst 50 per 1s", b)
	}
}

func TestConfigValidateNamesTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"scheme", func(c *Config) { c.Backend.RedisURL = "http://127.0.0.1:6379" }, "ratelimit.redis_url"},
		{"not a url", func(c *Config) { c.Backend.RedisURL = "redis://[::1" }, "ratelimit.redis_url"},
		{"bad query", func(c *Config) { c.Backend.RedisURL = "redis://127.0.0.1:6379/0?bogus=1" }, "ratelimit.redis_url"},
		{"bad db", func(c *Config) { c.Backend.RedisURL = "redis://127.0.0.1:6379/x" }, "ratelimit.redis_url"},
		{"prefix space", func(c *Config) { c.Backend.RedisPrefix = "a b" }, "ratelimit.redis_prefix"},
		{"prefix long", func(c *Config) { c.Backend.RedisPrefix = strings.Repeat("p", 65) }, "ratelimit.redis_prefix"},
		{"timeout small", func(c *Config) { c.Backend.RedisTimeout = time.Microsecond }, "ratelimit.redis_timeout"},
		{"timeout large", func(c *Config) { c.Backend.RedisTimeout = time.Minute }, "ratelimit.redis_timeout"},
		{"policy", func(c *Config) { c.Backend.OnRedisError = "open" }, "ratelimit.on_redis_error"},
		{"entries", func(c *Config) { c.Backend.MaxEntries = -1 }, "ratelimit.max_entries"},
		{"key defaults", func(c *Config) { c.Backend.DefaultKeyLimits = []string{"org_1=5/1d"} }, "ratelimit.default_key_limits"},
		{"failed limit", func(c *Config) { c.FailedAuth.Limit = -1 }, "security.failed_auth.limit"},
		{"failed limit big", func(c *Config) { c.FailedAuth.Limit = MaxFailedAuthLimit + 1 }, "security.failed_auth.limit"},
		{"failed window", func(c *Config) { c.FailedAuth.Window = time.Millisecond }, "security.failed_auth.window"},
		{"failed window long", func(c *Config) { c.FailedAuth.Window = 25 * time.Hour }, "security.failed_auth.window"},
		{"failed delay negative", func(c *Config) { c.FailedAuth.Delay = -time.Second }, "security.failed_auth.delay"},
		{"failed delay long", func(c *Config) { c.FailedAuth.Delay = 11 * time.Second }, "security.failed_auth.delay"},
		{"max delayed negative", func(c *Config) { c.FailedAuth.MaxDelayed = -1 }, "security.failed_auth.max_delayed"},
		{"mgmt rate", func(c *Config) { c.Management.Rate = -5 }, "security.management_limit.rate"},
		{"mgmt period", func(c *Config) { c.Management.Period = 2 * time.Hour }, "security.management_limit.period"},
		{"mgmt burst", func(c *Config) { c.Management.Burst = -1 }, "security.management_limit.burst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want+": ") {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.want)
			}
			if _, nerr := New(c, slog.New(slog.NewTextHandler(io.Discard, nil))); nerr == nil {
				t.Fatal("New accepted the bad config")
			}
		})
	}
}

func TestConfigKeyDefaults(t *testing.T) {
	c := DefaultConfig()
	c.Backend.DefaultKeyLimits = []string{"org_1=5/1s", "*=100/1m"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := c.Backend.KeyDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := d.For("org_2"); !ok || r.String() != "100/1m" {
		t.Errorf("default for org_2 = %v, %v; want 100/1m", r, ok)
	}
}

func TestConfigReportsEveryBadSetting(t *testing.T) {
	c := DefaultConfig()
	c.FailedAuth.Limit = -1
	c.Management.Rate = -1
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "security.failed_auth.limit") || !strings.Contains(err.Error(), "security.management_limit.rate") {
		t.Fatalf("Validate() = %v, want both bad settings named", err)
	}
}

func TestConfigNeverEchoesRedisPassword(t *testing.T) {
	for _, u := range []string{
		"redis://user:s3cr3t-pass@127.0.0.1:6379/0?bogus=1",
		"redis://:s3cr3t-pass@127.0.0.1:6379/zero",
		"redis://:s3cr3t-pass@[::1/0",
	} {
		c := DefaultConfig()
		c.Backend.RedisURL = u
		err := c.Validate()
		if err == nil {
			t.Fatalf("Validate accepted %s", u)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Validate error repeats the password: %v", err)
		}
	}
	c := DefaultConfig()
	c.Backend.RedisURL = "rediss://user:s3cr3t-pass@cache.example.com:6380/2"
	if err := c.Validate(); err != nil {
		t.Errorf("TLS URL with credentials: %v", err)
	}
	c.Backend.RedisURL = "unix:///run/redis/redis.sock?db=3"
	if err := c.Validate(); err != nil {
		t.Errorf("unix socket URL: %v", err)
	}
}
