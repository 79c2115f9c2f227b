package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"

	"github.com/agentauri/apikeys/adapters/argon2id"
	"github.com/agentauri/apikeys/adapters/auditqueue"
	"github.com/agentauri/apikeys/adapters/jwtauth"
	"github.com/agentauri/apikeys/adapters/ratelimit"
	"github.com/agentauri/apikeys/adapters/routefile"
	"github.com/agentauri/apikeys/core/keys"
	"github.com/agentauri/apikeys/core/routes"
)

// DefaultConfigPath is read when --config is not given (and skipped if absent).
const DefaultConfigPath = "configs/default.yaml"

// EnvPrefix starts every environment override: APIKEYS_HTTP_ADDR sets http.addr.
const EnvPrefix = "APIKEYS_"

// testEnvPrefix starts the test suites' variables (APIKEYS_TEST_POSTGRES_DSN,
// ...), which Load ignores rather than refusing as unknown settings, so a
// developer who exports them can still run the service.
const testEnvPrefix = "APIKEYS_TEST_"

// clientEnv are the variables of the commands that talk to a running
// server (apikeys keys, apikeys audit logs): not settings, so Load ignores
// them.
var clientEnv = map[string]bool{"APIKEYS_TOKEN": true, "APIKEYS_SERVER": true}

// Config is the whole configuration of the service, loaded once by Load.
type Config struct {
	// Env is "development" (default) or "production"; production refuses to
	// start without explicit secrets.
	Env      string         `koanf:"env"`
	DataDir  string         `koanf:"data_dir"`
	HTTP     HTTPConfig     `koanf:"http"`
	Storage  StorageConfig  `koanf:"storage"`
	JWT      JWTConfig      `koanf:"jwt"`
	Auth     AuthConfig     `koanf:"auth"`
	Security SecurityConfig `koanf:"security"`
	Audit    AuditConfig    `koanf:"audit"`
	// RateLimit selects where request budgets live (memory, or Redis to
	// share them across instances) and the default limits of new keys.
	RateLimit ratelimit.BackendConfig `koanf:"ratelimit"`
	Log       LogConfig               `koanf:"log"`
	Debug     DebugConfig             `koanf:"debug"`

	// Telemetry configures OpenTelemetry; OTEL_* variables win over it.
	Telemetry TelemetryConfig `koanf:"telemetry"`

	// RoutesFile names a YAML file holding the route policy (a routes
	// section), instead of the routes section of the configuration file.
	RoutesFile string `koanf:"routes_file"`
	// Routes is the route policy (docs/routes.md), read by Load from the
	// routes section of the configuration file or from RoutesFile; nil
	// when neither has one. koanf never sees it: the section is read from
	// the YAML text itself, so that problems name their line.
	Routes *routes.Policy `koanf:"-"`
	// Edge configures what the forward-auth endpoint, the gateway and the
	// ext_authz listener share.
	Edge EdgeConfig `koanf:"edge"`
	// Gateway configures the gateway mode: apikeys in front of the API.
	Gateway GatewayConfig `koanf:"gateway"`
	// GRPC configures the Envoy external-authorization listener.
	GRPC GRPCConfig `koanf:"grpc"`
	// Console configures the web console served at /console.
	Console ConsoleConfig `koanf:"console"`
}

// EdgeConfig configures key enforcement at the edge (forward auth,
// gateway mode, Envoy ext_authz).
type EdgeConfig struct {
	// AcceptBearer also takes the key from Authorization: Bearer sk_...
	// when X-API-Key is absent (off: Authorization is left to the API).
	AcceptBearer bool `koanf:"accept_bearer"`
	// ForwardPrefix is what /api/v1/auth/forward/... strips from its own
	// request target to find the original one (Envoy's HTTP mode appends
	// the original path to its path_prefix).
	ForwardPrefix string `koanf:"forward_prefix"`
}

// GatewayConfig configures the gateway mode. Off while Upstream is empty.
type GatewayConfig struct {
	// Upstream is the base URL requests are proxied to (http://host:port).
	Upstream string `koanf:"upstream"`
	// DialTimeout bounds connecting to the upstream (past it: 502).
	DialTimeout time.Duration `koanf:"dial_timeout"`
	// ResponseTimeout bounds the wait for the upstream's response headers
	// (past it: 504).
	ResponseTimeout time.Duration `koanf:"response_timeout"`
	// MaxIdleConns is the size of the keep-alive pool to the upstream.
	MaxIdleConns int `koanf:"max_idle_conns"`
	// IdleConnTimeout closes pooled connections idle this long.
	IdleConnTimeout time.Duration `koanf:"idle_conn_timeout"`
}

// GRPCConfig configures the gRPC listener of Envoy/Istio external
// authorization.
type GRPCConfig struct {
	// Addr is the listen address; empty turns the listener off.
	Addr string `koanf:"addr"`
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

// JWTConfig configures the HS256 development issuer of management tokens,
// and the leeway and maximum lifetime every issuer applies.
type JWTConfig struct {
	Secret   string        `koanf:"secret"`
	Issuer   string        `koanf:"issuer"`
	Audience string        `koanf:"audience"`
	Leeway   time.Duration `koanf:"leeway"`
	// MaxTTL bounds exp - iat of every token (and then iat is required);
	// 0 sets no bound.
	MaxTTL time.Duration `koanf:"max_ttl"`
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
	// MaxStaleness is how long after its last successful invalidation
	// poll an instance still answers verifications from its cache.
	MaxStaleness time.Duration `koanf:"max_staleness"`
	// FailedAuth throttles client addresses that fail to authenticate
	// too often.
	FailedAuth ratelimit.FailedAuthConfig `koanf:"failed_auth"`
	// ManagementLimit limits the calls that cost an Argon2id hash
	// (create, rotate) per principal.
	ManagementLimit ratelimit.ManagementConfig `koanf:"management_limit"`
	// OnStale is what an instance does past MaxStaleness: fail_closed
	// (verifications the cache would answer get 503 until a poll
	// succeeds: a key revoked elsewhere is never honoured longer) or
	// serve_stale (keep answering from the cache: available, but a
	// partitioned instance honours revoked keys until the link returns
	// or the cache TTL passes).
	OnStale string `koanf:"on_stale"`
}

// The values of security.on_stale.
const (
	OnStaleFailClosed = "fail_closed"
	OnStaleServeStale = "serve_stale"
)

// keyOptions returns the key service's options: the staleness bound when
// failing closed (none when serving stale) and the default rate limits of
// new keys (validated).
func (c Config) keyOptions() keys.Options {
	var o keys.Options
	if c.Security.OnStale != OnStaleServeStale {
		o.MaxStaleness = c.Security.MaxStaleness
	}
	o.KeyDefaults, _ = c.RateLimit.KeyDefaults()
	return o
}

// limiterConfig gathers the rate-limit settings for the limiter.
func (c Config) limiterConfig() ratelimit.Config {
	return ratelimit.Config{Backend: c.RateLimit, FailedAuth: c.Security.FailedAuth, Management: c.Security.ManagementLimit}
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
	// FailureSummaryInterval is how long failed verifications that name
	// no key are counted into one key.auth_failed summary event per client
	// address and outcome before the summary is recorded.
	FailureSummaryInterval time.Duration `koanf:"failure_summary_interval"`
	// Operators are the actors (user:<sub>, user:<issuer>:<sub>,
	// key:<id>) who may read the events that belong to no organization
	// through GET /api/v1/audit-logs?unattributed=true.
	Operators []string `koanf:"operators"`
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
	// AllowPublicAddr lets Addr be other than a loopback address (e.g. a
	// pod address scraped from a private network). Off, a non-loopback
	// Addr is refused: profiles and counters would be served to anyone
	// who can reach it.
	AllowPublicAddr bool `koanf:"allow_public_addr"`
}

// Defaults returns the configuration used where neither file nor
// environment says otherwise.
func Defaults() Config {
	argon, queue, limits := argon2id.DefaultParams(), auditqueue.DefaultConfig(), ratelimit.DefaultConfig()
	limits.Backend.DefaultKeyLimits = []string{}
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
		JWT:  JWTConfig{Leeway: 30 * time.Second, MaxTTL: 24 * time.Hour},
		Auth: jwtauth.DefaultProviders(),
		Security: SecurityConfig{
			Argon2:    Argon2Config{MemoryKiB: argon.Memory, Iterations: argon.Time, Parallelism: argon.Threads, MaxConcurrent: 0},
			CacheSize: 100_000, CacheTTL: time.Hour, InvalidationPoll: 250 * time.Millisecond,
			MaxStaleness: time.Second, OnStale: OnStaleFailClosed,
			FailedAuth: limits.FailedAuth, ManagementLimit: limits.Management,
		},
		Audit: AuditConfig{QueueCapacity: queue.Capacity, BatchSize: queue.BatchSize, FlushInterval: queue.FlushInterval,
			OnFull: queue.OnFull, BlockTimeout: queue.BlockTimeout, PurgeInterval: time.Hour, PreviousChainKeys: []string{},
			FailureSummaryInterval: 10 * time.Second, Operators: []string{}},
		RateLimit: limits.Backend,
		Log:       LogConfig{Level: "info", Format: "json", VerifyLevel: "debug"},

		Telemetry: defaultTelemetry(),
		Edge:      EdgeConfig{ForwardPrefix: "/api/v1/auth/forward"},
		Gateway: GatewayConfig{DialTimeout: 5 * time.Second, ResponseTimeout: 30 * time.Second,
			MaxIdleConns: 512, IdleConnTimeout: 90 * time.Second},
		Console: defaultConsole(),
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
	routesFrom := "" // the configuration file read, for its routes section
	if !explicit {
		path = DefaultConfigPath
	}
	if _, err := os.Stat(path); err == nil {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		// The route policy is read from the YAML text by loadRoutes, with
		// its lines; koanf would flatten it into unknown settings.
		k.Delete(routefile.Section)
		routesFrom = path
		for _, key := range k.Keys() {
			if _, ok := known[strings.ToUpper(strings.ReplaceAll(key, ".", "_"))]; !ok {
				return Config{}, fmt.Errorf("config file %s: unknown setting %q", path, key)
			}
		}
	} else if explicit {
		return Config{}, fmt.Errorf("config file %s: %w", path, err)
	}
	var unknownEnv []string
	var envErrs []error
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			if strings.HasPrefix(name, testEnvPrefix) || clientEnv[name] {
				return "", nil // the test suites' and the CLI's variables, not settings
			}
			key, ok := known[strings.TrimPrefix(name, EnvPrefix)]
			if !ok {
				unknownEnv = append(unknownEnv, name)
				return "", nil
			}
			if listSettings[key] {
				return key, splitList(value)
			}
			if key == issuersKey {
				list, err := parseIssuersEnv(value)
				if err != nil {
					envErrs = append(envErrs, err)
					return "", nil
				}
				return key, list
			}
			return key, value
		},
	}), nil)
	if err != nil {
		return Config{}, fmt.Errorf("environment: %w", err)
	}
	if len(envErrs) > 0 {
		return Config{}, errors.Join(envErrs...)
	}
	if err := checkIssuerKeys(k.Get(issuersKey)); err != nil {
		return Config{}, err
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
	if cfg.Routes, err = loadRoutes(routesFrom, cfg.RoutesFile); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// listSettings are the list settings an environment variable gives as a
// comma-separated list.
var listSettings = map[string]bool{
	"http.trusted_proxies":         true,
	"ratelimit.default_key_limits": true,
	"audit.previous_chain_keys":    true,
	"audit.operators":              true,
	"console.dev_organizations":    true,
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
