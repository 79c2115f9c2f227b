// Package dbtest gives tests throwaway databases for every driver the
// store supports: sqlite, postgres and mysql.
//
// Each call to Open or DSN creates a fresh database and drops it when the
// test ends, whether it passed or not:
//
//   - sqlite: a file in t.TempDir(); always available.
//   - postgres: CREATE DATABASE apikeys_test_<random> on the server named by
//     APIKEYS_TEST_POSTGRES_DSN, e.g.
//     postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//   - mysql: the same on the server named by APIKEYS_TEST_MYSQL_DSN, e.g.
//     root@tcp(127.0.0.1:3306)/test
//
// The DSN variables name an administrative connection (any existing
// database, with the right to create and drop databases). When one is
// unset, tests for that driver are skipped, unless CI is set to a non-empty
// value: then they fail, so that a CI job cannot pass without having run
// them.
package dbtest
