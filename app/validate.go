package app

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/agentauri/apikeys/adapters/argon2id"
	"github.com/agentauri/apikeys/adapters/auditqueue"
)

// problems collects the bad settings of a configuration, each naming its
// key.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// positive adds a problem for every duration of durations (by key) that is
// not positive.
func (p *problems) positive(durations map[string]time.Duration) {
	for key, d := range durations {
		if d <= 0 {
			p.add(key, "must be a positive duration such as 5s, got %s", d)
		}
	}
}

// Validate checks every setting and reports every bad one, each naming its
// key. Each section checks its own settings; the limits of a setting an
// adapter takes are the adapter's own (argon2id, auditqueue, telemetry).
func (c Config) Validate() error {
	var p problems
	if c.Env != "development" && c.Env != "production" {
		p.add("env", "must be development or production, got %q", c.Env)
	}
	if c.DataDir == "" {
		p.add("data_dir", "must not be empty")
	}
	c.HTTP.validate(&p)
	c.Storage.validate(&p)
	c.validateAuth(&p)
	c.Security.validate(&p)
	c.Audit.validate(&p)
	if err := c.limiterConfig().Validate(); err != nil {
		p = append(p, err)
	}
	c.Log.validate(&p)
	c.Debug.validate(&p, c.HTTP.Addr)
	c.validateEdge(&p)
	c.validateConsole(&p)
	c.validateSecrets(&p)
	c.validateProductionSecrets(&p)
	p = append(p, c.Telemetry.validate()...)
	return errors.Join(p...)
}

// validateSecrets requires an explicit pepper and audit chain key where
// generated ones would be wrong: in production, and when instances share a
// database (the JWT secret's rules are validateAuth's). The chain key is
// a secret of its own, never one of the others.
func (c Config) validateSecrets(p *problems) {
	if c.Audit.ChainKey != "" && (c.Audit.ChainKey == c.Security.Pepper || c.Audit.ChainKey == c.JWT.Secret) {
		p.add("audit.chain_key", "must differ from security.pepper and jwt.secret")
	}
	if !c.Production() && c.Storage.Driver == "sqlite" {
		return
	}
	why := "in production (env=production)"
	if !c.Production() {
		why = "with storage.driver=" + c.Storage.Driver + " (instances sharing a database must share it)"
	}
	if c.Security.Pepper == "" {
		p.add("security.pepper", "is required %s (%s)", why, generateHint)
	}
	if c.Audit.ChainKey == "" {
		p.add("audit.chain_key", "is required %s", why)
	}
}

func (h HTTPConfig) validate(p *problems) {
	if _, _, err := net.SplitHostPort(h.Addr); err != nil {
		p.add("http.addr", "must be host:port, got %q", h.Addr)
	}
	for _, proxy := range h.TrustedProxies {
		if _, err := netip.ParsePrefix(proxy); err != nil {
			if _, err := netip.ParseAddr(proxy); err != nil {
				p.add("http.trusted_proxies", "%q is neither an IP address nor a CIDR", proxy)
			}
		}
	}
	if h.MaxBodyBytes < 1024 || h.MaxBodyBytes > 10<<20 {
		p.add("http.max_body_bytes", "must be between 1024 and 10485760, got %d", h.MaxBodyBytes)
	}
	p.positive(map[string]time.Duration{
		"http.read_timeout": h.ReadTimeout, "http.write_timeout": h.WriteTimeout,
		"http.idle_timeout": h.IdleTimeout, "http.shutdown_timeout": h.ShutdownTimeout,
	})
}

func (s StorageConfig) validate(p *problems) {
	switch s.Driver {
	case "sqlite":
	case "postgres", "mysql":
		if s.DSN == "" {
			p.add("storage.dsn", "is required with storage.driver=%s", s.Driver)
		}
	default:
		p.add("storage.driver", "must be sqlite, postgres or mysql, got %q", s.Driver)
	}
	switch strings.ToLower(s.AutoMigrate) {
	case "auto", "true", "false", "1", "0", "yes", "no", "on", "off":
	default:
		p.add("storage.auto_migrate", "must be auto, true or false, got %q", s.AutoMigrate)
	}
	if s.MaxOpenConns < 1 {
		p.add("storage.max_open_conns", "must be at least 1, got %d", s.MaxOpenConns)
	}
	if s.MaxIdleConns < 0 || s.MaxIdleConns > s.MaxOpenConns {
		p.add("storage.max_idle_conns", "must be between 0 and storage.max_open_conns, got %d", s.MaxIdleConns)
	}
	p.positive(map[string]time.Duration{"storage.query_timeout": s.QueryTimeout})
}

// argon2Keys names the setting of each argon2id parameter.
var argon2Keys = map[string]string{
	"Memory": "security.argon2.memory_kib", "Time": "security.argon2.iterations", "Threads": "security.argon2.parallelism",
}

func (s SecurityConfig) validate(p *problems) {
	if s.Pepper != "" && len(s.Pepper) < 32 {
		p.add("security.pepper", "must be at least 32 bytes (%s)", generateHint)
	}
	var pe *argon2id.ParamError
	if err := s.Argon2.params().Validate(); errors.As(err, &pe) {
		p.add(argon2Keys[pe.Param], "%s", pe.Reason)
	} else if err != nil {
		p.add("security.argon2", "%v", err)
	}
	if s.Argon2.MaxConcurrent < 0 {
		p.add("security.argon2.max_concurrent", "must be 0 (number of CPUs) or more, got %d", s.Argon2.MaxConcurrent)
	}
	if s.CacheSize < 1 {
		p.add("security.cache_size", "must be at least 1, got %d", s.CacheSize)
	}
	if s.CacheTTL < 0 {
		p.add("security.cache_ttl", "must not be negative")
	}
	p.positive(map[string]time.Duration{"security.invalidation_poll": s.InvalidationPoll})
	if s.InvalidationPoll > time.Second {
		p.add("security.invalidation_poll", "must be at most 1s so revocations reach every instance within a second, got %s", s.InvalidationPoll)
	}
	if s.MaxStaleness < s.InvalidationPoll {
		p.add("security.max_staleness", "must be at least security.invalidation_poll (%s), got %s: every poll would count as late", s.InvalidationPoll, s.MaxStaleness)
	}
	if s.OnStale != OnStaleFailClosed && s.OnStale != OnStaleServeStale {
		p.add("security.on_stale", "must be %s or %s, got %q", OnStaleFailClosed, OnStaleServeStale, s.OnStale)
	}
}

// params returns the Argon2id parameters of new hashes.
func (a Argon2Config) params() argon2id.Params {
	d := argon2id.DefaultParams()
	return argon2id.Params{Memory: a.MemoryKiB, Time: a.Iterations, Threads: a.Parallelism, SaltLen: d.SaltLen, KeyLen: d.KeyLen}
}

// auditKeys names the setting of each audit queue field.
var auditKeys = map[string]string{
	"Capacity": "audit.queue_capacity", "BatchSize": "audit.batch_size", "FlushInterval": "audit.flush_interval",
	"OnFull": "audit.on_full", "BlockTimeout": "audit.block_timeout",
}

func (a AuditConfig) validate(p *problems) {
	p.positive(map[string]time.Duration{"audit.flush_interval": a.FlushInterval, "audit.block_timeout": a.BlockTimeout,
		"audit.failure_summary_interval": a.FailureSummaryInterval})
	for _, op := range a.Operators {
		if op != strings.TrimSpace(op) || !strings.HasPrefix(op, "user:") && !strings.HasPrefix(op, "key:") {
			p.add("audit.operators", "%q is not an actor: write user:<sub>, user:<issuer>:<sub> or key:<id>, as the audit trail names them", op)
		}
	}
	var ce *auditqueue.ConfigError
	if err := a.queue().Validate(); errors.As(err, &ce) {
		if key, ok := auditKeys[ce.Field]; ok {
			p.add(key, "%s", ce.Reason)
		} else {
			p.add("audit", "%v", err)
		}
	} else if err != nil {
		p.add("audit", "%v", err)
	}
	// Zero means "the default" to the queue, but a setting of 0 is a
	// mistake.
	if a.QueueCapacity == 0 {
		p.add("audit.queue_capacity", "must be at least 1, got 0")
	}
	if a.BatchSize == 0 {
		p.add("audit.batch_size", "must be at least 1, got 0")
	}
	if a.Retention < 0 {
		p.add("audit.retention", "must be 0 (keep forever) or a positive duration such as 2160h, got %s", a.Retention)
	}
	if a.PurgeInterval < 0 {
		p.add("audit.purge_interval", "must be 0 (no purge job) or a positive duration such as 1h, got %s", a.PurgeInterval)
	}
	if a.ChainKey != "" || len(a.PreviousChainKeys) > 0 {
		if _, err := a.chainKeys(); err != nil {
			*p = append(*p, err)
		}
	}
}

// queue returns the audit queue's configuration.
func (a AuditConfig) queue() auditqueue.Config {
	return auditqueue.Config{
		Capacity: a.QueueCapacity, BatchSize: a.BatchSize, FlushInterval: a.FlushInterval,
		OnFull: a.OnFull, BlockTimeout: a.BlockTimeout,
	}
}

func (l LogConfig) validate(p *problems) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "must be debug, info, warn or error, got %q", l.Level)
	}
	if l.Format != "json" && l.Format != "text" {
		p.add("log.format", "must be json or text, got %q", l.Format)
	}
	if l.VerifyLevel != "debug" && l.VerifyLevel != "info" {
		p.add("log.verify_level", "must be debug or info, got %q", l.VerifyLevel)
	}
}

func (d DebugConfig) validate(p *problems, httpAddr string) {
	if d.Addr == "" {
		return
	}
	if _, _, err := net.SplitHostPort(d.Addr); err != nil {
		p.add("debug.addr", "must be empty (off) or host:port, got %q", d.Addr)
	} else if d.Addr == httpAddr {
		p.add("debug.addr", "must differ from http.addr (%s)", httpAddr)
	} else if !loopback(d.Addr) && !d.AllowPublicAddr {
		p.add("debug.addr", "%q is not a loopback address: pprof profiles and expvar counters would be served to anyone who can reach it; "+
			"use 127.0.0.1:6060, or set debug.allow_public_addr: true if only trusted hosts can reach that address", d.Addr)
	}
}
