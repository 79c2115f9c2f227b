package gormstore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/agentauri/apikeys/ports"
)

// TestActorQueriesUseTheirIndexes checks SQLite's plans for the two reads
// of a search by actor: management events through the partial actor
// index (which holds no usage event), usage events through the key index.
// SQLite uses a partial index only if the query repeats its WHERE terms,
// and refuses a query whose INDEXED BY names an index it cannot use, so a
// change to either side that breaks the match shows here.
func TestActorQueriesUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{Driver: DriverSQLite, DSN: filepath.Join(t.TempDir(), "plan.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	q := ports.AuditQuery{OrganizationIDs: []string{"org_a", "org_b"}, Actor: "key:key_x"}
	for _, tc := range []struct {
		name, index string
		actions     []string
		extra       func(*gorm.DB) *gorm.DB
	}{
		{"management events", "audit_events_actor_mgmt_idx", nil, s.byManagementActor(q.Actor)},
		{"management events, one action", "audit_events_actor_mgmt_idx", []string{"key.revoked"}, s.byManagementActor(q.Actor)},
		{"usage events", "audit_events_key_occurred_idx", nil, s.byUsageActor("key_x", q.Actor)},
		{"usage events, one action", "audit_events_key_occurred_idx", []string{"key.used"}, s.byUsageActor("key_x", q.Actor)},
	} {
		var rows []eventRow
		stmt := s.eventsQuery(s.db.Session(&gorm.Session{DryRun: true}), q, 101, tc.actions, tc.extra).Find(&rows).Statement
		plan, err := s.sqlDB.QueryContext(ctx, "EXPLAIN QUERY PLAN "+stmt.SQL.String(), stmt.Vars...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var lines []string
		for plan.Next() {
			var id, parent, unused int
			var detail string
			if err := plan.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		plan.Close()
		got := strings.Join(lines, "; ")
		if !strings.Contains(got, "USING INDEX "+tc.index) {
			t.Errorf("%s: plan %q, want it to use %s", tc.name, got, tc.index)
		}
	}
}
