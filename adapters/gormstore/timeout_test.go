package gormstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
	"github.com/agentauri/apikeys/test/dbtest"
	"github.com/agentauri/apikeys/test/faultproxy"
)

func TestOpenRejectsNegativeQueryTimeout(t *testing.T) {
	cfg := gormstore.Config{Driver: gormstore.DriverSQLite, DSN: ":memory:", QueryTimeout: -time.Second}
	if s, err := gormstore.Open(context.Background(), cfg); err == nil {
		s.Close()
		t.Fatal("Open accepted a negative query timeout")
	}
}

// TestOutageIsUnavailable runs a store through a proxy and interrupts the
// database two ways: a reset (server down) and a stall (network
// partition, where only the query timeout ends the wait). Every method
// must fail with ErrUnavailable well before the caller's own deadline,
// and the store must recover on its own once the database is back.
func TestOutageIsUnavailable(t *testing.T) {
	const queryTimeout = 500 * time.Millisecond
	// Far above queryTimeout, so a slow machine cannot fail the test, and
	// far below the caller's deadline, so a hang cannot pass it.
	const bound = 10 * time.Second
	for _, driver := range []string{gormstore.DriverPostgres, gormstore.DriverMySQL} {
		t.Run(driver, func(t *testing.T) {
			dbtest.Require(t, driver)
			dsn := dbtest.DSN(t, driver)
			ctx := context.Background()
			migrator, err := gormstore.Open(ctx, dbtest.Config(driver, dsn))
			if err != nil {
				t.Fatal(err)
			}
			if err := migrator.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			migrator.Close()

			p, proxied := faultproxy.StartDSN(t, driver, dsn)
			cfg := dbtest.Config(driver, proxied)
			cfg.QueryTimeout = queryTimeout
			s, err := gormstore.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			k, ev := testKey("key_outage", lookupOf(42), time.Now())
			if err := s.CreateKey(ctx, k, ev); err != nil {
				t.Fatal(err)
			}

			calls := map[string]func(context.Context) error{
				"GetKey": func(ctx context.Context) error { _, err := s.GetKey(ctx, k.ID); return err },
				"FindByLookup": func(ctx context.Context) error {
					_, err := s.FindByLookup(ctx, k.Lookup)
					return err
				},
				"ListKeys": func(ctx context.Context) error {
					_, err := s.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{k.OrganizationID}})
					return err
				},
				"InvalidatedSince": func(ctx context.Context) error {
					_, err := s.InvalidatedSince(ctx, time.Now().Add(-time.Hour))
					return err
				},
				"RevokeKey": func(ctx context.Context) error {
					_, err := s.RevokeKey(ctx, "key_missing", time.Now(), ev)
					return err
				},
			}
			calls["Ping"] = s.Ping
			for _, fault := range []struct {
				name  string
				apply func()
			}{{"cut", p.Cut}, {"stall", p.Stall}} {
				fault.apply()
				for name, call := range calls {
					callCtx, cancel := context.WithTimeout(ctx, time.Minute)
					began := time.Now()
					err := call(callCtx)
					took := time.Since(began)
					cancel()
					if !errors.Is(err, apikey.ErrUnavailable) {
						t.Errorf("%s during %s: %v, want ErrUnavailable", name, fault.name, err)
					}
					if took > bound {
						t.Errorf("%s during %s took %s; the query timeout is %s", name, fault.name, took, queryTimeout)
					}
				}

				p.Restore()
				deadline := time.Now().Add(bound)
				for {
					_, err := s.GetKey(ctx, k.ID)
					if err == nil {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("store did not recover after the %s: %v", fault.name, err)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
}
