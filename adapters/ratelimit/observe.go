package ratelimit

import (
	"sync/atomic"
	"time"
)

// kind is the family of a budget; each has its own memory table and Redis
// key space.
type kind uint8

const (
	kindKey kind = iota
	kindFailedAuth
	kindManagement
	kindCount
)

// String returns the kind's name in observations and Redis keys.
func (k kind) String() string {
	switch k {
	case kindKey:
		return KindKey
	case kindFailedAuth:
		return KindFailedAuth
	}
	return KindManagement
}

// Kinds of budget, as Observation.Kind names them.
const (
	KindKey        = "key"         // a key's own rate limit
	KindFailedAuth = "failed_auth" // failed authentications of a client address
	KindManagement = "management"  // create/rotate calls of a principal
)

// Results of a decision, as Observation.Result names them.
const (
	ResultAllowed      = "allowed"
	ResultRefused      = "refused"
	ResultFailedOpen   = "failed_open"   // Redis failed; a per-key limit let the request through
	ResultFailedClosed = "failed_closed" // Redis failed; a per-key limit refused with quota.ErrUnavailable
)

// Backends, as Observation.Backend and Health.Backend name them.
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
)

// Observation describes one decision, for metrics and traces.
type Observation struct {
	Kind     string // KindKey, KindFailedAuth or KindManagement
	Peek     bool   // true for PeekKey and CheckFailures, which spend nothing
	Result   string // ResultAllowed, ResultRefused, ResultFailedOpen or ResultFailedClosed
	Backend  string // the backend that decided (BackendMemory or BackendRedis); empty when none did
	Duration time.Duration
	// RedisErr is the error of the Redis call when Redis was asked and
	// failed; the decision then came from the fallback.
	RedisErr error
}

// Observer receives an Observation for every decision. It is called
// synchronously on the request path and must be quick; it is how the
// application's telemetry counts decisions by result, Redis errors and
// latency without this package importing OpenTelemetry.
type Observer interface {
	Observe(Observation)
}

// Stats are counters since the Limiter started.
type Stats struct {
	Allowed, Refused map[string]uint64 // decisions by kind (KindKey, ...)
	// RedisErrors counts Redis calls that failed (including the start-up
	// ping); FailedOpen, FailedClosed and LocalFallbacks count what was
	// done instead.
	RedisErrors uint64
	// RedisCalls counts decisions sent to Redis; Leased counts those
	// answered from a key's lease instead (see leases).
	RedisCalls     uint64
	Leased         uint64
	FailedOpen     uint64
	FailedClosed   uint64
	LocalFallbacks uint64
}

// Health is the state of the backend, for a readiness probe's detail.
type Health struct {
	Backend      string // BackendMemory or BackendRedis
	OnRedisError string // the per-key policy while Redis is down
	// RedisUp is false from a failed Redis call until the next successful
	// one (always true for the memory backend).
	RedisUp bool
	// DownSince is when Redis stopped answering (zero while it answers).
	DownSince time.Time
	// LastError is the message of the latest Redis error, and LastErrorAt
	// its time (empty and zero if there has been none).
	LastError   string
	LastErrorAt time.Time
}

// Degraded reports whether the limiter is running on its fallback.
func (h Health) Degraded() bool { return !h.RedisUp }

// counters are the Limiter's Stats, updated atomically.
type counters struct {
	allowed, refused                                      [kindCount]atomic.Uint64
	redisErrors, failedOpen, failedClosed, localFallbacks atomic.Uint64
	leased                                                atomic.Uint64
}

func (c *counters) snapshot() Stats {
	s := Stats{Allowed: map[string]uint64{}, Refused: map[string]uint64{}}
	for k := range kindCount {
		s.Allowed[k.String()] = c.allowed[k].Load()
		s.Refused[k.String()] = c.refused[k].Load()
	}
	s.RedisErrors = c.redisErrors.Load()
	s.FailedOpen = c.failedOpen.Load()
	s.FailedClosed = c.failedClosed.Load()
	s.LocalFallbacks = c.localFallbacks.Load()
	s.Leased = c.leased.Load()
	return s
}
