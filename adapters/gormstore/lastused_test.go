package gormstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/test/dbtest"
)

// TestLastUsedManyKeys moves last_used_at of more keys than one UPDATE
// covers, from every starting state: never used, used earlier, used later.
func TestLastUsedManyKeys(t *testing.T) {
	for _, driver := range dbtest.Drivers() {
		t.Run(driver, func(t *testing.T) {
			s := dbtest.Open(t, driver)
			ctx := context.Background()
			base := time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)
			const n = 230 // three UPDATE statements
			for i := range n {
				k, ev := testKey(fmt.Sprintf("key_many_%03d", i), lookupOf(1000+i), base)
				if err := s.CreateKey(ctx, k, ev); err != nil {
					t.Fatal(err)
				}
			}
			use := func(i int, at time.Time, seq int) audit.Event {
				id := fmt.Sprintf("key_many_%03d", i)
				return audit.Event{ID: fmt.Sprintf("evt_many_%03d_%d", i, seq), Time: at, OrganizationID: "org_test",
					Actor: "key:" + id, Action: audit.ActionKeyUsed, KeyID: id, Outcome: "ok"}
			}
			// First batch: keys divisible by 3 are used at base+1h.
			var first []audit.Event
			for i := 0; i < n; i += 3 {
				first = append(first, use(i, base.Add(time.Hour), 1))
			}
			if err := s.AppendUsage(ctx, first); err != nil {
				t.Fatal(err)
			}
			// Second batch: every key at base+30m (older for those used
			// already), and even keys again at base+2h, out of order.
			var second []audit.Event
			for i := range n {
				if i%2 == 0 {
					second = append(second, use(i, base.Add(2*time.Hour), 3))
				}
				second = append(second, use(i, base.Add(30*time.Minute), 2))
			}
			if err := s.AppendUsage(ctx, second); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				want := base.Add(30 * time.Minute)
				switch {
				case i%2 == 0:
					want = base.Add(2 * time.Hour)
				case i%3 == 0:
					want = base.Add(time.Hour)
				}
				k, err := s.GetKey(ctx, fmt.Sprintf("key_many_%03d", i))
				if err != nil {
					t.Fatal(err)
				}
				if k.LastUsedAt == nil || !k.LastUsedAt.Equal(want) {
					t.Errorf("key %d: last_used_at = %v, want %v", i, k.LastUsedAt, want)
				}
				if k.Version != 1 || !k.UpdatedAt.Equal(base) {
					t.Errorf("key %d: usage changed version (%d) or updated_at (%v)", i, k.Version, k.UpdatedAt)
				}
			}
		})
	}
}
