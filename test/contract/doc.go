// Package contract holds the contract suites of the storage ports: one
// function per port returning a func(*testing.T) that checks, subtest by
// subtest, everything the core relies on. Each implementation runs the same
// suites (see the tests of this package, which run them on the in-memory
// store of adapters/memstore and on SQLite, Postgres and MySQL), so that
// the fakes tests use cannot drift from the real stores.
//
// A suite calls its newStore once per subtest and runs subtests in
// parallel. The stores must implement both ports.KeyStore and
// ports.AuditStore: the key suite reads the audit events its operations
// record, and the audit suite creates the keys whose use it records.
package contract
