package keys

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// MaxSummaries bounds the failure summaries held between two flushes: past
// it they are flushed at once, so a flood from many addresses costs
// bounded memory.
const MaxSummaries = 10_000

// summaryKey groups failed verifications that name no key.
type summaryKey struct {
	client  string // the client address, as recorded
	outcome apikey.Outcome
}

// summary counts the failures of one summaryKey since the last flush; the
// first failure's event is the summary's sample (its id, time, request).
type summary struct {
	first  audit.Event
	count  int64
	lastAt time.Time
}

// summaries aggregates the failed verifications that identify no key
// (missing, malformed, bad checksum, unknown, throttled): a flood of them
// costs one audit event per client address and outcome per flush
// interval, not one per request, while every failure is still counted.
type summaries struct {
	mu sync.Mutex
	m  map[summaryKey]*summary
}

// add counts ev, a failure that names no key. It reports whether the
// summaries are full and should be flushed now.
func (s *summaries) add(ev audit.Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[summaryKey]*summary{}
	}
	k := summaryKey{client: ev.ClientIP, outcome: ev.Outcome}
	if sm, ok := s.m[k]; ok {
		sm.count++
		if ev.Time.After(sm.lastAt) {
			sm.lastAt = ev.Time
		}
		return false
	}
	s.m[k] = &summary{first: ev, count: 1, lastAt: ev.Time}
	return len(s.m) >= MaxSummaries
}

// take returns the summaries counted so far and starts over.
func (s *summaries) take() map[summaryKey]*summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.m
	s.m = nil
	return m
}

// put returns summaries that could not be recorded, to be tried again at
// the next flush; counts of the same key add up.
func (s *summaries) put(left []*summary) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[summaryKey]*summary{}
	}
	for _, sm := range left {
		k := summaryKey{client: sm.first.ClientIP, outcome: sm.first.Outcome}
		if cur, ok := s.m[k]; ok {
			cur.count += sm.count
			cur.first, cur.lastAt = sm.first, later(cur.lastAt, sm.lastAt)
			continue
		}
		s.m[k] = sm
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// FlushFailureSummaries records, as one key.auth_failed event each, the
// failed verifications naming no key that were counted since the last
// flush, per client address and outcome: the event of the first failure
// with details {count, first_at, last_at}. The app calls it on an interval
// (audit.failure_summary_interval) and once more at shutdown, before the
// audit queue is closed, so that no failure goes uncounted. A summary the
// audit trail refuses is kept for the next flush.
func (s *Service) FlushFailureSummaries(ctx context.Context) error {
	m := s.sums.take()
	var left []*summary
	var firstErr error
	for _, sm := range m {
		ev := sm.first
		ev.Details = map[string]any{
			"count":    sm.count,
			"first_at": sm.first.Time.Format(time.RFC3339Nano),
			"last_at":  sm.lastAt.Format(time.RFC3339Nano),
		}
		if err := s.d.Usage.Record(ctx, ev); err != nil {
			left = append(left, sm)
			if firstErr == nil {
				firstErr = fmt.Errorf("record failure summary: %w", err)
			}
		}
	}
	if len(left) > 0 {
		s.sums.put(left)
	}
	return firstErr
}

// summarize counts v, a failure naming no key, for the next summary
// instead of recording it on its own, flushing at once when the summaries
// are full.
func (s *Service) summarize(ctx context.Context, v ports.Verification, status int) error {
	if s.sums.add(audit.Use(v.Event, v.Key, v.Outcome, status, v.Scopes, v.Missing, v.Request)) {
		return s.FlushFailureSummaries(ctx)
	}
	return nil
}
