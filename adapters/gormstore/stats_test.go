package gormstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

func TestQueryStats(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "stats.db"))
	ctx := context.Background()
	base := s.QueryStats()
	delta := func() gormstore.QueryStats {
		now := s.QueryStats()
		return gormstore.QueryStats{Reads: now.Reads - base.Reads, Writes: now.Writes - base.Writes, KeyReads: now.KeyReads - base.KeyReads}
	}
	at := time.Now().UTC()
	k, ev := testKey("key_stats", lookupOf(7), at)
	if err := s.CreateKey(ctx, k, ev); err != nil {
		t.Fatal(err)
	}
	// The store's first write reads its chain's head (registry row, last
	// event) and registers the chain.
	if got := delta(); got != (gormstore.QueryStats{Reads: 2, Writes: 3}) {
		t.Fatalf("after CreateKey: %+v, want 2 reads (chain head) and 3 writes (key, event, chain registration)", got)
	}
	base = s.QueryStats()
	if _, err := s.FindByLookup(ctx, lookupOf(7)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindByLookup(ctx, lookupOf(8)); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("FindByLookup(unknown) = %v, want ErrNotFound", err)
	}
	if got := delta(); got != (gormstore.QueryStats{Reads: 2, KeyReads: 2}) {
		t.Fatalf("after two lookups: %+v, want 2 reads of api_keys", got)
	}
	base = s.QueryStats()
	if _, err := s.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: []string{k.OrganizationID}, Limit: 10}); err != nil {
		t.Fatal(err)
	}
	if got := delta(); got != (gormstore.QueryStats{Reads: 2, KeyReads: 2}) {
		t.Fatalf("after ListKeys: %+v, want 2 reads of api_keys (count and page)", got)
	}
	base = s.QueryStats()
	used := audit.Event{ID: "evt_used_1", Time: at, OrganizationID: k.OrganizationID, Actor: "key:" + k.ID,
		Action: audit.ActionKeyUsed, KeyID: k.ID, Outcome: "ok"}
	if err := s.AppendUsage(ctx, []audit.Event{used}); err != nil {
		t.Fatal(err)
	}
	if got := delta(); got != (gormstore.QueryStats{Writes: 3}) {
		t.Fatalf("after AppendUsage: %+v, want 3 writes (insert, last_used_at, chain head)", got)
	}
}
