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
				open := func(t *testing.T, key []byte, previous [][]byte, migrate bool) *gormstore.Store {
					t.Helper()
					cfg := dbtest.Config(driver, dsn)
					cfg.ChainKey, cfg.PreviousChainKeys = key, previous
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					s, err := gormstore.Open(ctx, cfg)
					if err == nil && migrate {
						err = s.Migrate(ctx)
					}
					if err != nil {
						t.Fatalf("open %s store: %v", driver, err)
					}
					t.Cleanup(func() { s.Close() })
					return s
				}
				env := contract.ChainEnv{Key: []byte(dbtest.ChainKey), Keys: dbtest.ChainKeys()}
				for i := range writers {
					env.Writers = append(env.Writers, open(t, env.Key, nil, i == 0))
				}
				first := env.Writers[0].(*gormstore.Store)
				env.Exec = func(t *testing.T, query string, args ...any) {
					t.Helper()
					if err := first.DB().Exec(query, args...).Error; err != nil {
						t.Fatalf("exec %q: %v", query, err)
					}
				}
				env.NewWriter = func(t *testing.T, key []byte, previous ...[]byte) contract.ChainWriter {
					return open(t, key, previous, false)
				}
				// Migration 5 keys the chains; forgotten, it runs again.
				env.Upgrade = func(t *testing.T) {
					t.Helper()
					env.Exec(t, "DELETE FROM goose_db_version WHERE version_id = 5")
					if err := first.Migrate(context.Background()); err != nil {
						t.Fatalf("upgrade: %v", err)
					}
				}
				return env
			})(t)
		})
	}
}
