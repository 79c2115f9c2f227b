package ratelimit

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentauri/apikeys/core/quota"
)

// What per-key limits do while Redis cannot be reached (BackendConfig.OnRedisError).
const (
	// FailOpen allows every request of a limited key, unthrottled, and says
	// so in the decision (quota.Decision.FailedOpen). The default: an
	// outage of the limiter does not become an outage of the API.
	FailOpen = "fail_open"
	// FailClosed refuses every request of a limited key with
	// quota.ErrUnavailable (503). Keys without a limit are not affected.
	FailClosed = "fail_closed"
	// Local enforces per-key limits in this instance's memory, each
	// instance with its own budget, until Redis answers again.
	Local = "local"
)

// Bounds of the settings.
const (
	// MaxFailedAuthLimit bounds security.failed_auth.limit.
	MaxFailedAuthLimit = 1_000_000
	// MaxManagementRate bounds security.management_limit.rate and burst.
	MaxManagementRate = 1_000_000
	// MaxLeasePercent bounds ratelimit.redis_lease_percent.
	MaxLeasePercent = 10
	// MaxFailedAuthDelay bounds security.failed_auth.delay.
	MaxFailedAuthDelay = 10 * time.Second
	// MaxDelayedAnswers bounds security.failed_auth.max_delayed.
	MaxDelayedAnswers = 1_000_000
)

// Config configures a Limiter. The application gathers it from three
// sections of its settings: ratelimit (Backend), security.failed_auth
// (FailedAuth) and security.management_limit (Management); the koanf tags
// are the keys within each section. Validate names settings by those keys.
type Config struct {
	Backend    BackendConfig
	FailedAuth FailedAuthConfig
	Management ManagementConfig
}

// BackendConfig selects where budgets live. Zero fields take the defaults
// of DefaultConfig.
type BackendConfig struct {
	// RedisURL, when set, keeps every budget in Redis so that all instances
	// share them: redis://[user:password@]host:port/db, rediss:// for TLS,
	// or unix:///path/to/socket?db=N. Empty keeps them in this process's
	// memory.
	RedisURL string `koanf:"redis_url"`
	// RedisPrefix starts every Redis key the limiter writes (after the
	// limiter library's own "rate:"), so that deployments can share a Redis.
	RedisPrefix string `koanf:"redis_prefix"`
	// RedisTimeout bounds each Redis call (dial, write, read): past it the
	// call counts as a Redis failure (default 250ms).
	RedisTimeout time.Duration `koanf:"redis_timeout"`
	// OnRedisError is what per-key limits do while Redis cannot be reached:
	// FailOpen (default), FailClosed or Local. Failed-authentication and
	// management limits always fall back to this instance's memory.
	OnRedisError string `koanf:"on_redis_error"`
	// RedisLeasePercent lets an instance take a busy key's budget from
	// Redis in leases of up to this share of its limit (0 to 10; 0:
	// exact, one round trip per decision), handed out locally: see
	// leases for what it trades. Keys whose share is under 2 units are
	// always exact.
	RedisLeasePercent int `koanf:"redis_lease_percent"`
	// MaxEntries bounds each in-memory table (keys, client addresses,
	// principals): past it the least useful budgets are forgotten, which
	// makes them whole again (default 100000).
	MaxEntries int `koanf:"max_entries"`
	// DefaultKeyLimits are the rate limits new keys get when created
	// without one, as ORGANIZATION=LIMIT/WINDOW entries ("*" for every
	// other organization). The Limiter does not use them: the key use
	// cases do, through KeyDefaults. They sit here so that the ratelimit
	// section of the settings is one type, checked in one place.
	DefaultKeyLimits []string `koanf:"default_key_limits"`
}

// KeyDefaults parses DefaultKeyLimits.
func (b BackendConfig) KeyDefaults() (quota.KeyDefaults, error) {
	return quota.ParseKeyDefaults(b.DefaultKeyLimits)
}

// FailedAuthConfig limits failed authentications per client address (an
// IPv4 address or an IPv6 /64).
type FailedAuthConfig struct {
	// Limit is how many failures a client may have within Window before
	// it is throttled; 0 turns the throttling off.
	Limit int `koanf:"limit"`
	// Window is the period over which Limit failures are allowed
	// (default 1m when zero).
	Window time.Duration `koanf:"window"`
	// Delay holds each 429 answer to a throttled address this long before
	// it is sent (0: at once), so that a client that floods waits instead
	// of spinning: one that sends its next request when the last one is
	// answered is slowed to one request per Delay per connection, and the
	// cores stay with everyone else. The Limiter does not use it: the HTTP
	// adapter does. It sits here so that security.failed_auth is one type.
	Delay time.Duration `koanf:"delay"`
	// MaxDelayed bounds the answers held at once (each is a parked
	// goroutine and its connection); past it, 429s are sent at once (0:
	// none is held).
	MaxDelayed int `koanf:"max_delayed"`
}

// ManagementConfig limits the management calls that cost a hash (create
// and rotate) per principal, as a token bucket.
type ManagementConfig struct {
	// Rate is how many calls a principal may make per Period, sustained;
	// 0 turns the limit off.
	Rate int `koanf:"rate"`
	// Period is the period of Rate (default 1s when zero).
	Period time.Duration `koanf:"period"`
	// Burst is how many calls a principal may make at once (default Rate
	// when zero).
	Burst int `koanf:"burst"`
}

// DefaultConfig returns the documented defaults: budgets in memory, 100
// failed authentications per client per minute (the 429s held 500ms, at
// most 1024 at a time), 10 management calls per
// second per principal with bursts of 20.
func DefaultConfig() Config {
	return Config{
		Backend: BackendConfig{
			RedisPrefix:       "apikeys:",
			RedisTimeout:      250 * time.Millisecond,
			OnRedisError:      FailOpen,
			RedisLeasePercent: 1,
			MaxEntries:        100_000,
		},
		FailedAuth: FailedAuthConfig{Limit: 100, Window: time.Minute, Delay: 500 * time.Millisecond, MaxDelayed: 1024},
		Management: ManagementConfig{Rate: 10, Period: time.Second, Burst: 20},
	}
}

// withDefaults fills the zero fields that have a default. Limit and Rate
// are not among them: 0 means off.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	b := &c.Backend
	if b.RedisPrefix == "" {
		b.RedisPrefix = d.Backend.RedisPrefix
	}
	if b.RedisTimeout == 0 {
		b.RedisTimeout = d.Backend.RedisTimeout
	}
	if b.OnRedisError == "" {
		b.OnRedisError = d.Backend.OnRedisError
	}
	if b.MaxEntries == 0 {
		b.MaxEntries = d.Backend.MaxEntries
	}
	if c.FailedAuth.Window == 0 {
		c.FailedAuth.Window = d.FailedAuth.Window
	}
	if c.Management.Period == 0 {
		c.Management.Period = d.Management.Period
	}
	if c.Management.Burst == 0 {
		c.Management.Burst = c.Management.Rate
	}
	return c
}

// Validate checks every field after defaults are applied and names each
// bad one by its setting.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	b := c.Backend
	if b.RedisURL != "" {
		if err := checkRedisURL(b.RedisURL); err != nil {
			bad("ratelimit.redis_url", "%v", err)
		}
	}
	if len(b.RedisPrefix) > 64 || strings.ContainsFunc(b.RedisPrefix, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		bad("ratelimit.redis_prefix", "must be at most 64 characters without spaces or control characters, got %q", b.RedisPrefix)
	}
	if b.RedisTimeout < time.Millisecond || b.RedisTimeout > 10*time.Second {
		bad("ratelimit.redis_timeout", "must be between 1ms and 10s, got %s", b.RedisTimeout)
	}
	switch b.OnRedisError {
	case FailOpen, FailClosed, Local:
	default:
		bad("ratelimit.on_redis_error", "must be %s, %s or %s, got %q", FailOpen, FailClosed, Local, b.OnRedisError)
	}
	if b.RedisLeasePercent < 0 || b.RedisLeasePercent > MaxLeasePercent {
		bad("ratelimit.redis_lease_percent", "must be between 0 (exact) and %d, got %d", MaxLeasePercent, b.RedisLeasePercent)
	}
	if b.MaxEntries < 1 {
		bad("ratelimit.max_entries", "must be at least 1, got %d", b.MaxEntries)
	}
	if _, err := b.KeyDefaults(); err != nil {
		bad("ratelimit.default_key_limits", "%v", err)
	}
	c.validateAbuse(bad)
	return errors.Join(errs...)
}

// validateAbuse checks the abuse limits: failed authentications per
// address and management calls per principal.
func (c Config) validateAbuse(bad func(key, format string, args ...any)) {
	f := c.FailedAuth
	if f.Limit < 0 || f.Limit > MaxFailedAuthLimit {
		bad("security.failed_auth.limit", "must be between 0 (off) and %d, got %d", MaxFailedAuthLimit, f.Limit)
	}
	if f.Window < time.Second || f.Window > 24*time.Hour {
		bad("security.failed_auth.window", "must be between 1s and 24h, got %s", f.Window)
	}
	if f.Delay < 0 || f.Delay > MaxFailedAuthDelay {
		bad("security.failed_auth.delay", "must be between 0 (answer at once) and %s, got %s", MaxFailedAuthDelay, f.Delay)
	}
	if f.MaxDelayed < 0 || f.MaxDelayed > MaxDelayedAnswers {
		bad("security.failed_auth.max_delayed", "must be between 0 and %d, got %d", MaxDelayedAnswers, f.MaxDelayed)
	}
	m := c.Management
	if m.Rate < 0 || m.Rate > MaxManagementRate {
		bad("security.management_limit.rate", "must be between 0 (off) and %d, got %d", MaxManagementRate, m.Rate)
	}
	if m.Period < time.Second || m.Period > time.Hour {
		bad("security.management_limit.period", "must be between 1s and 1h, got %s", m.Period)
	}
	if m.Rate > 0 && (m.Burst < 1 || m.Burst > MaxManagementRate) {
		bad("security.management_limit.burst", "must be between 1 and %d, got %d", MaxManagementRate, m.Burst)
	}
}

// checkRedisURL reports whether u is a Redis URL go-redis accepts, without
// repeating the URL (it may hold a password) in the error.
func checkRedisURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	switch p.Scheme {
	case "redis", "rediss", "unix":
	default:
		return fmt.Errorf("must start with redis://, rediss:// or unix://, got scheme %q", p.Scheme)
	}
	if _, err := redis.ParseURL(u); err != nil {
		return fmt.Errorf("is not a usable Redis URL: %s", redactURLError(err, p))
	}
	return nil
}

// redactURLError returns err's message with the URL's password, if any,
// replaced.
func redactURLError(err error, p *url.URL) string {
	msg := err.Error()
	if pw, ok := p.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}
