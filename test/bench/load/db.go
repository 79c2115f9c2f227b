package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/test/dbtest"
)

// database is one database the benchmarks run on.
type database struct {
	driver  string
	dsn     string // "" for sqlite until a file is chosen
	version string // server version, for the report
	drop    func() error
}

// adminDSN returns the administrative DSN of driver from the environment
// variables the test suites use, or "" when unset.
func adminDSN(driver string) string {
	switch driver {
	case gormstore.DriverPostgres:
		return os.Getenv(dbtest.PostgresEnv)
	case gormstore.DriverMySQL:
		return os.Getenv(dbtest.MySQLEnv)
	}
	return ""
}

// createDatabase makes a fresh, empty database on the server named by
// admin and returns it; its drop function removes it.
func createDatabase(ctx context.Context, driver, admin string) (*database, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	name := "apikeys_bench_" + hex.EncodeToString(b[:])
	dsn, err := gormstore.WithDatabase(driver, admin, name)
	if err != nil {
		return nil, err
	}
	create := "CREATE DATABASE " + name + " TEMPLATE template0 ENCODING 'UTF8'"
	drop := "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"
	version := "SELECT version()"
	if driver == gormstore.DriverMySQL {
		create = "CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
		drop = "DROP DATABASE IF EXISTS " + name
		version = "SELECT CONCAT('MySQL-compatible ', VERSION())"
	}
	db := &database{driver: driver, dsn: dsn}
	err = adminDo(ctx, driver, admin, func(s *gormstore.Store) error {
		if err := s.SQLDB().QueryRowContext(ctx, version).Scan(&db.version); err != nil {
			return fmt.Errorf("server version: %w", err)
		}
		_, err := s.SQLDB().ExecContext(ctx, create)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create %s database: %w", driver, err)
	}
	db.drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return adminDo(ctx, driver, admin, func(s *gormstore.Store) error {
			_, err := s.SQLDB().ExecContext(ctx, drop)
			return err
		})
	}
	return db, nil
}

func adminDo(ctx context.Context, driver, dsn string, fn func(*gormstore.Store) error) error {
	s, err := gormstore.Open(ctx, gormstore.Config{Driver: driver, DSN: dsn, MaxOpenConns: 1})
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}
