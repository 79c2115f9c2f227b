package contract_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/test/contract"
	"github.com/agentauri/apikeys/test/dbtest"
)

// TestAuditChains runs the hash-chain contract on every database, each
// writer being a store of its own on one shared database, as separate
// processes would be.
func TestAuditChains(t *testing.T) {
	for _, driver := range dbtest.Drivers() {
		t.Run(driver, func(t *testing.T) {
			dbtest.Require(t, driver)
			contract.AuditChains(func(t *testing.T, writers int) contract.ChainEnv {
				dsn := dbtest.DSN(t, driver)
				var env contract.ChainEnv
				for i := range writers {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					s, err := gormstore.Open(ctx, dbtest.Config(driver, dsn))
					if err == nil && i == 0 {
						err = s.Migrate(ctx)
					}
					cancel()
					if err != nil {
						t.Fatalf("open %s store %d: %v", driver, i, err)
					}
					t.Cleanup(func() { s.Close() })
					env.Writers = append(env.Writers, s)
				}
				first := env.Writers[0].(*gormstore.Store)
				env.Exec = func(t *testing.T, query string, args ...any) {
					t.Helper()
					if err := first.DB().Exec(query, args...).Error; err != nil {
						t.Fatalf("exec %q: %v", query, err)
					}
				}
				return env
			})(t)
		})
	}
}
