package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
)

// DefaultConfigPath is read when --config is not given (and skipped if absent).
const DefaultConfigPath = "configs/default.yaml"

// EnvPrefix starts every environment override: APIKEYS_HTTP_ADDR sets http.addr.
const EnvPrefix = "APIKEYS_"

// testEnvPrefix starts the test suites' variables (APIKEYS_TEST_POSTGRES_DSN,
// ...), which Load ignores rather than refusing as unknown settings, so a
// developer who exports them can still run the service.
const testEnvPrefix = "APIKEYS_TEST_"

// Config is the whole configuration of the service, loaded once by Load.
type Config struct {
	// Env is "development" (default) or "production"; production refuses to
	// start without explicit secrets.
	Env      string         `koanf:"env"`
	DataDir  string         `koanf:"data_dir"`
	HTTP     HTTPConfig     `koanf:"http"`
	Storage  StorageConfig  `koanf:"storage"`
	JWT      JWTConfig      `koanf:"jwt"`
	Security SecurityConfig `koanf:"security"`
	Audit    AuditConfig    `koanf:"audit"`
	Log      LogConfig      `koanf:"log"`
	Debug    DebugConfig    `koanf:"debug"`

	// Telemetry configures OpenTelemetry; OTEL_* variables win over it.
	Telemetry TelemetryConfig `koanf:"telemetry"`
}

// HTTPConfig configures the HTTP server.
type HTTPConfig struct {
	Addr            string        `koanf:"addr"`
	TrustedProxies  []string      `koanf:"trusted_proxies"`
	MaxBodyBytes    int64         `koanf:"max_body_bytes"`
	ReadTimeout     time.Duration `koanf:"read_timeout"`
	WriteTimeout    time.Duration `koanf:"write_timeout"`
	IdleTimeout     time.Duration `koanf:"idle_timeout"`
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
}

// StorageConfig selects and tunes the database.
type StorageConfig struct {
	Driver string `koanf:"driver"`
	DSN    string `koanf:"dsn"`
	// AutoMigrate applies migrations when serve starts: "auto" (on for
	// sqlite only), "true" or "false".
	AutoMigrate     string        `koanf:"auto_migrate"`
	MaxOpenConns    int           `koanf:"max_open_conns"`
	MaxIdleConns    int           `koanf:"max_idle_conns"`
	ConnMaxLifetime time.Duration `koanf:"conn_max_lifetime"`
	ConnMaxIdleTime time.Duration `koanf:"conn_max_idle_time"`
	// QueryTimeout bounds every database call on the request path (and the
	// usage writer's and invalidation poll's), so an unreachable database
	// answers 503 promptly instead of holding requests. Migrations, audit
	// verification and purges are not bounded by it.
	QueryTimeout time.Duration `koanf:"query_timeout"`
}

// JWTConfig configures bearer-token checks for the management API.
type JWTConfig struct {
	Secret   string        `koanf:"secret"`
	Issuer   string        `koanf:"issuer"`
	Audience string        `koanf:"audience"`
	Leeway   time.Duration `koanf:"leeway"`
}

// SecurityConfig holds the pepper, Argon2id parameters and the
// verification cache.
type SecurityConfig struct {
	Pepper string       `koanf:"pepper"`
	Argon2 Argon2Config `koanf:"argon2"`
	// CacheSize bounds how many proven keys each process remembers.
	CacheSize int `koanf:"cache_size"`
	// CacheTTL makes a remembered key be proven again after this long (0: never).
	CacheTTL time.Duration `koanf:"cache_ttl"`
	// InvalidationPoll is how often an instance looks for keys rotated or
	// revoked by other instances sharing the database.
	InvalidationPoll time.Duration `koanf:"invalidation_poll"`
}

// Argon2Config holds the Argon2id parameters of new hashes; hashes made
// with other parameters still verify.
type Argon2Config struct {
	MemoryKiB     uint32 `koanf:"memory_kib"`
	Iterations    uint32 `koanf:"iterations"`
	Parallelism   uint8  `koanf:"parallelism"`
	MaxConcurrent int    `koanf:"max_concurrent"`
}

// AuditConfig tunes the usage-event queue and the retention of the audit
// log.
type AuditConfig struct {
	QueueCapacity int           `koanf:"queue_capacity"`
	BatchSize     int           `koanf:"batch_size"`
	FlushInterval time.Duration `koanf:"flush_interval"`
	OnFull        string        `koanf:"on_full"`
	BlockTimeout  time.Duration `koanf:"block_timeout"`
	// Retention is how long audit events are kept; older ones are deleted
	// by `apikeys audit purge` and the purge job (0: keep forever).
	Retention time.Duration `koanf:"retention"`
	// PurgeInterval is how often serve deletes the events older than
	// Retention (0: never; run `apikeys audit purge` instead).
	PurgeInterval time.Duration `koanf:"purge_interval"`
	// ChainKey keys the audit hash chains (docs/audit.md): a secret kept
	// out of the database, generated in development.
	ChainKey string `koanf:"chain_key"`
	// PreviousChainKeys are the chain keys ChainKey replaced: they still
	// verify (and anchor purges of) the chains written with them.
	PreviousChainKeys []string `koanf:"previous_chain_keys"`
}

// LogConfig configures the structured log.
type LogConfig struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
	// VerifyLevel is the level of the access-log line of each
	// GET /api/v1/auth/verify: "debug" (default) or "info". The audit trail
	// records every verification (request id, client IP, path, status), so
	// the hot path is spared a log write unless asked.
	VerifyLevel string `koanf:"verify_level"`
}

// verifyLogLevel returns the slog level of the access-log line of a
// verification.
func verifyLogLevel(c LogConfig) slog.Level {
	if c.VerifyLevel == "info" {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// DebugConfig configures the diagnostics listener.
type DebugConfig struct {
	// Addr, when set (e.g. 127.0.0.1:6060), serves net/http/pprof profiles
	// and expvar counters (Argon2id computations, database statements,
	// cache and audit queue figures) on a listener of their own; empty
	// turns it off. Profiles reveal internals: keep it on a loopback or
	// otherwise private address.
	Addr string `koanf:"addr"`
}

// Defaults returns the configuration used where neither file nor
// environment says otherwise.
func Defaults() Config {
	return Config{
		Env:     "development",
		DataDir: "./data",
		HTTP: HTTPConfig{
			Addr: "127.0.0.1:8080", TrustedProxies: []string{}, MaxBodyBytes: 64 << 10,
			ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
			ShutdownTimeout: 20 * time.Second,
		},
		Storage: StorageConfig{
			Driver: "sqlite", DSN: "", AutoMigrate: "auto",
			MaxOpenConns: 20, MaxIdleConns: 10, ConnMaxLifetime: 30 * time.Minute, ConnMaxIdleTime: 5 * time.Minute,
			QueryTimeout: 5 * time.Second,
		},
		JWT: JWTConfig{Leeway: 30 * time.Second},
		Security: SecurityConfig{
			Argon2:    Argon2Config{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, MaxConcurrent: 0},
			CacheSize: 100_000, CacheTTL: time.Hour, InvalidationPoll: 250 * time.Millisecond,
		},
		Audit: AuditConfig{QueueCapacity: 10_000, BatchSize: 2000, FlushInterval: 200 * time.Millisecond, OnFull: "block", BlockTimeout: 2 * time.Second, PurgeInterval: time.Hour, PreviousChainKeys: []string{}},
		Log:   LogConfig{Level: "info", Format: "json", VerifyLevel: "debug"},

		Telemetry: defaultTelemetry(),
	}
}

// Load reads defaults, then the YAML file at path (the default path may be
// absent; an explicit one must exist), then APIKEYS_* environment variables,
// and validates the result.
func Load(path string, environ []string) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(structs.Provider(Defaults(), "koanf"), nil); err != nil {
		return Config{}, fmt.Errorf("load defaults: %w", err)
	}
	known := map[string]string{}
	for _, key := range k.Keys() {
		known[strings.ToUpper(strings.ReplaceAll(key, ".", "_"))] = key
	}
	explicit := path != ""
	if !explicit {
		path = DefaultConfigPath
	}
	if _, err := os.Stat(path); err == nil {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		for _, key := range k.Keys() {
			if _, ok := known[strings.ToUpper(strings.ReplaceAll(key, ".", "_"))]; !ok {
				return Config{}, fmt.Errorf("config file %s: unknown setting %q", path, key)
			}
		}
	} else if explicit {
		return Config{}, fmt.Errorf("config file %s: %w", path, err)
	}
	var unknownEnv []string
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			if strings.HasPrefix(name, testEnvPrefix) {
				return "", nil // the test suites' variables, not settings
			}
			key, ok := known[strings.TrimPrefix(name, EnvPrefix)]
			if !ok {
				unknownEnv = append(unknownEnv, name)
				return "", nil
			}
			if key == "http.trusted_proxies" || key == "audit.previous_chain_keys" {
				return key, splitList(value)
			}
			return key, value
		},
	}), nil)
	if err != nil {
		return Config{}, fmt.Errorf("environment: %w", err)
	}
	if len(unknownEnv) > 0 {
		sort.Strings(unknownEnv)
		return Config{}, fmt.Errorf("unknown environment variable %s (settings are %s + the upper-cased key path, e.g. APIKEYS_HTTP_ADDR)", strings.Join(unknownEnv, ", "), EnvPrefix)
	}
	var cfg Config
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := applyOTelEnv(&cfg.Telemetry, environ); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

func splitList(v string) []string {
	out := []string{}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Production reports whether the service runs with production safeguards.
func (c Config) Production() bool { return c.Env == "production" }

// AutoMigrateOn reports whether serve applies migrations at start.
func (c Config) AutoMigrateOn() bool {
	switch strings.ToLower(c.Storage.AutoMigrate) {
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	}
	return c.Storage.Driver == "sqlite"
}

// Validate checks every setting and names the first bad one.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Env != "development" && c.Env != "production" {
		bad("env", "must be development or production, got %q", c.Env)
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		bad("http.addr", "must be host:port, got %q", c.HTTP.Addr)
	}
	for _, p := range c.HTTP.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				bad("http.trusted_proxies", "%q is neither an IP address nor a CIDR", p)
			}
		}
	}
	if c.HTTP.MaxBodyBytes < 1024 || c.HTTP.MaxBodyBytes > 10<<20 {
		bad("http.max_body_bytes", "must be between 1024 and 10485760, got %d", c.HTTP.MaxBodyBytes)
	}
	for key, d := range map[string]time.Duration{
		"http.read_timeout": c.HTTP.ReadTimeout, "http.write_timeout": c.HTTP.WriteTimeout,
		"http.idle_timeout": c.HTTP.IdleTimeout, "http.shutdown_timeout": c.HTTP.ShutdownTimeout,
		"audit.flush_interval": c.Audit.FlushInterval, "audit.block_timeout": c.Audit.BlockTimeout,
		"security.invalidation_poll": c.Security.InvalidationPoll, "storage.query_timeout": c.Storage.QueryTimeout,
	} {
		if d <= 0 {
			bad(key, "must be a positive duration such as 5s, got %s", d)
		}
	}
	if c.Security.InvalidationPoll > time.Second {
		bad("security.invalidation_poll", "must be at most 1s so revocations reach every instance within a second, got %s", c.Security.InvalidationPoll)
	}
	switch c.Storage.Driver {
	case "sqlite":
	case "postgres", "mysql":
		if c.Storage.DSN == "" {
			bad("storage.dsn", "is required with storage.driver=%s", c.Storage.Driver)
		}
	default:
		bad("storage.driver", "must be sqlite, postgres or mysql, got %q", c.Storage.Driver)
	}
	switch strings.ToLower(c.Storage.AutoMigrate) {
	case "auto", "true", "false", "1", "0", "yes", "no", "on", "off":
	default:
		bad("storage.auto_migrate", "must be auto, true or false, got %q", c.Storage.AutoMigrate)
	}
	if c.Storage.MaxOpenConns < 1 {
		bad("storage.max_open_conns", "must be at least 1, got %d", c.Storage.MaxOpenConns)
	}
	if c.Storage.MaxIdleConns < 0 || c.Storage.MaxIdleConns > c.Storage.MaxOpenConns {
		bad("storage.max_idle_conns", "must be between 0 and storage.max_open_conns, got %d", c.Storage.MaxIdleConns)
	}
	if c.JWT.Secret != "" && len(c.JWT.Secret) < 32 {
		bad("jwt.secret", "must be at least 32 bytes")
	}
	if c.Security.Pepper != "" && len(c.Security.Pepper) < 32 {
		bad("security.pepper", "must be at least 32 bytes")
	}
	if c.Production() || c.Storage.Driver != "sqlite" {
		why := "in production (env=production)"
		if !c.Production() {
			why = "with storage.driver=" + c.Storage.Driver + " (instances sharing a database must share it)"
		}
		if c.JWT.Secret == "" {
			bad("jwt.secret", "is required %s", why)
		}
		if c.Security.Pepper == "" {
			bad("security.pepper", "is required %s", why)
		}
		if c.Audit.ChainKey == "" {
			bad("audit.chain_key", "is required %s", why)
		}
	}
	if c.Audit.ChainKey != "" || len(c.Audit.PreviousChainKeys) > 0 {
		if _, err := c.Audit.chainKeys(); err != nil {
			errs = append(errs, err)
		} else if c.Audit.ChainKey == c.Security.Pepper || c.Audit.ChainKey == c.JWT.Secret {
			bad("audit.chain_key", "must differ from security.pepper and jwt.secret")
		}
	}
	a := c.Security.Argon2
	if a.MemoryKiB < 8192 || a.MemoryKiB > 4<<20 {
		bad("security.argon2.memory_kib", "must be between 8192 and 4194304, got %d", a.MemoryKiB)
	}
	if a.Iterations < 1 || a.Iterations > 20 {
		bad("security.argon2.iterations", "must be between 1 and 20, got %d", a.Iterations)
	}
	if a.Parallelism < 1 {
		bad("security.argon2.parallelism", "must be at least 1, got %d", a.Parallelism)
	}
	if a.MaxConcurrent < 0 {
		bad("security.argon2.max_concurrent", "must be 0 (number of CPUs) or more, got %d", a.MaxConcurrent)
	}
	if c.Security.CacheSize < 1 {
		bad("security.cache_size", "must be at least 1, got %d", c.Security.CacheSize)
	}
	if c.Security.CacheTTL < 0 {
		bad("security.cache_ttl", "must not be negative")
	}
	if c.Audit.QueueCapacity < 1 {
		bad("audit.queue_capacity", "must be at least 1, got %d", c.Audit.QueueCapacity)
	}
	if c.Audit.BatchSize < 1 || c.Audit.BatchSize > c.Audit.QueueCapacity {
		bad("audit.batch_size", "must be between 1 and audit.queue_capacity, got %d", c.Audit.BatchSize)
	}
	if c.Audit.OnFull != "block" && c.Audit.OnFull != "drop" {
		bad("audit.on_full", "must be block or drop, got %q", c.Audit.OnFull)
	}
	if c.Audit.Retention < 0 {
		bad("audit.retention", "must be 0 (keep forever) or a positive duration such as 2160h, got %s", c.Audit.Retention)
	}
	if c.Audit.PurgeInterval < 0 {
		bad("audit.purge_interval", "must be 0 (no purge job) or a positive duration such as 1h, got %s", c.Audit.PurgeInterval)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "must be json or text, got %q", c.Log.Format)
	}
	if c.Log.VerifyLevel != "debug" && c.Log.VerifyLevel != "info" {
		bad("log.verify_level", "must be debug or info, got %q", c.Log.VerifyLevel)
	}
	if c.Debug.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Debug.Addr); err != nil {
			bad("debug.addr", "must be empty (off) or host:port, got %q", c.Debug.Addr)
		} else if c.Debug.Addr == c.HTTP.Addr {
			bad("debug.addr", "must differ from http.addr (%s)", c.HTTP.Addr)
		}
	}
	errs = append(errs, c.Telemetry.validate()...)
	return errors.Join(errs...)
}
