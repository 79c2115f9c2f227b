package app

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/adapters/console"
	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

// ConsoleConfig configures the web console served at /console.
type ConsoleConfig struct {
	// Enabled is "auto" (on in development, off in production), "true"
	// or "false".
	Enabled string `koanf:"enabled"`
	// IdleTimeout ends a session unused for so long; AbsoluteTimeout
	// ends any session that old.
	IdleTimeout     time.Duration `koanf:"idle_timeout"`
	AbsoluteTimeout time.Duration `koanf:"absolute_timeout"`
	// MaxSessions bounds the sessions held in memory (the least recently
	// used is dropped first).
	MaxSessions int `koanf:"max_sessions"`
	// SecureCookie marks the session cookie Secure even over plain HTTP
	// (TLS ended by a proxy); over TLS it always is.
	SecureCookie bool `koanf:"secure_cookie"`
	// DevSubject and DevOrganizations are the user the development
	// sign-in signs in as (never offered in production).
	DevSubject       string   `koanf:"dev_subject"`
	DevOrganizations []string `koanf:"dev_organizations"`
}

func defaultConsole() ConsoleConfig {
	return ConsoleConfig{Enabled: "auto", IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 12 * time.Hour,
		MaxSessions: 10_000, DevSubject: "user_1", DevOrganizations: []string{"org_123"}}
}

// ConsoleOn reports whether the service serves the console.
func (c Config) ConsoleOn() bool {
	switch strings.ToLower(c.Console.Enabled) {
	case "true":
		return true
	case "false":
		return false
	}
	return !c.Production()
}

func (c Config) validateConsole(p *problems) {
	cc := c.Console
	switch strings.ToLower(cc.Enabled) {
	case "auto", "true", "false":
	default:
		p.add("console.enabled", "must be auto, true or false, got %q", cc.Enabled)
	}
	p.positive(map[string]time.Duration{"console.idle_timeout": cc.IdleTimeout, "console.absolute_timeout": cc.AbsoluteTimeout})
	if cc.IdleTimeout > 0 && cc.AbsoluteTimeout > 0 && cc.IdleTimeout > cc.AbsoluteTimeout {
		p.add("console.idle_timeout", "must not exceed console.absolute_timeout (%s), got %s", cc.AbsoluteTimeout, cc.IdleTimeout)
	}
	if cc.MaxSessions < 1 || cc.MaxSessions > 1_000_000 {
		p.add("console.max_sessions", "must be between 1 and 1000000, got %d", cc.MaxSessions)
	}
	if !apikey.ValidSubject(cc.DevSubject) {
		p.add("console.dev_subject", "must be a user subject such as user_1, got %q", cc.DevSubject)
	}
	for i, o := range cc.DevOrganizations {
		if !apikey.ValidOrganizationID(o) {
			p.add(fmt.Sprintf("console.dev_organizations[%d]", i), "must match %s, got %q", apikey.OrganizationIDPattern, o)
		}
	}
}

// newConsole builds the console when it is on (nil otherwise), acting
// through the same use cases as the API, its errors in the API's words.
func newConsole(cfg Config, keys ports.KeyService, audit ports.AuditService, tel *instruments, logger *slog.Logger) (*console.Console, error) {
	if !cfg.ConsoleOn() {
		return nil, nil
	}
	o := console.Options{
		Keys: keys, Audit: audit, ErrorAnswer: httpapi.ErrorAnswer,
		IdleTimeout: cfg.Console.IdleTimeout, AbsoluteTimeout: cfg.Console.AbsoluteTimeout, MaxSessions: cfg.Console.MaxSessions,
		SecureCookie: cfg.Console.SecureCookie, Trace: tel.trace(), Logger: logger,
	}
	if !cfg.Production() {
		o.DevSignIn = &console.DevUser{Subject: cfg.Console.DevSubject, Organizations: cfg.Console.DevOrganizations}
	}
	c, err := console.New(o)
	if err != nil {
		return nil, err
	}
	logger.Info("web console served at /console", slog.Bool("development_sign_in", o.DevSignIn != nil))
	return c, nil
}

// withConsole returns extra with the console's routes added, when on.
func withConsole(extra func(*gin.Engine), c *console.Console) func(*gin.Engine) {
	if c == nil {
		return extra
	}
	return func(r *gin.Engine) {
		if extra != nil {
			extra(r)
		}
		c.Mount(r)
	}
}
