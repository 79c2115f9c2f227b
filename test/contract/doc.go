// Package contract holds the contract suites of the storage and limiter
// ports: one function per port returning a func(*testing.T) that checks,
// subtest by subtest, everything the core relies on. Each implementation
// runs the same suites (see the tests of this package, which run the store
// suites on the in-memory store of adapters/memstore and on SQLite,
// Postgres and MySQL, and the limiter suite in memory and on Redis), so
// that the fakes tests use cannot drift from the real things.
//
// A suite calls its newStore once per subtest and runs subtests in
// parallel. The stores must implement both ports.KeyStore and
// ports.AuditStore: the key suite reads the audit events its operations
// record, and the audit suite creates the keys whose use it records. The
// limiter suite (RateLimiter) asks for one or two limiter instances per
// subtest, two of one "namespace" standing for instances of one deployment.
package contract
