package auditlog

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

var ctx = context.Background()

// alice manages org_123.
var alice = apikey.Principal{Subject: "alice", Organizations: []string{"org_123"}}

// memEvents records the queries it gets.
type memEvents struct {
	queries []ports.AuditQuery
}

func (m *memEvents) ListEvents(_ context.Context, q ports.AuditQuery) (ports.AuditPage, error) {
	m.queries = append(m.queries, q)
	return ports.AuditPage{Events: []audit.Event{{ID: "evt_1"}}}, nil
}

// memChains serves chains from memory, returns canned purge cuts and
// keeps the purge events it is given.
type memChains struct {
	chains  []audit.Chain
	records map[string][]audit.Record
	cuts    []ports.ChainCut
	err     error
	before  time.Time
	purges  []audit.Event
	// recordErr, when set, is what RecordPurge answers.
	recordErr error
}

func (m *memChains) RecordPurge(_ context.Context, ev audit.Event) error {
	if m.recordErr != nil {
		return m.recordErr
	}
	m.purges = append(m.purges, ev)
	return nil
}

// memKeys holds keys by id.
type memKeys map[string]apikey.Key

func (m memKeys) GetKey(_ context.Context, id string) (apikey.Key, error) {
	k, ok := m[id]
	if !ok {
		return apikey.Key{}, apikey.ErrNotFound
	}
	return k, nil
}

// fakeClock stands still.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func (m *memChains) ReadChains(_ context.Context, fn func(ports.ChainSnapshot) error) error {
	return fn(m)
}

func (m *memChains) PurgeBefore(_ context.Context, before time.Time) ([]ports.ChainCut, error) {
	m.before = before
	return m.cuts, m.err
}

func (m *memChains) Chains(context.Context) ([]audit.Chain, error) { return m.chains, nil }

func (m *memChains) Records(_ context.Context, id string, after int64) iter.Seq2[audit.Record, error] {
	return func(yield func(audit.Record, error) bool) {
		for _, r := range m.records[id] {
			// The events of no chain (the empty id) have no seq to skip by.
			if (id == "" || r.Link.Seq > after) && !yield(r, nil) {
				return
			}
		}
	}
}

// auditKeys are the chain keys of the audit fixture's chains.
var auditKeys, _ = audit.NewChainKeys([]byte("core-keys-test-chain-key-0123456789abcdef"))

// sealedChain returns a registered chain of records linked and sealed
// with auditKeys.
func sealedChain(id string, recs []audit.Record) audit.Chain {
	prevID, prevHash := "", ""
	for i := range recs {
		r := &recs[i]
		r.Link = audit.Link{ChainID: id, Seq: int64(i + 1), PrevID: prevID, PrevHash: prevHash}
		r.Link.Hash = r.HashV2(auditKeys.Current())
		prevID, prevHash = r.Event.ID, r.Link.Hash
	}
	c := audit.Chain{ID: id, Registered: true, KeyedFrom: 1, HeadSeq: int64(len(recs)), HeadID: prevID, HeadHash: prevHash}
	c.Seal(auditKeys.Current())
	return c
}

type auditFixture struct {
	log    *Service
	events *memEvents
	chains *memChains
	keys   memKeys
	clock  *fakeClock
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	f := &auditFixture{events: &memEvents{}, chains: &memChains{records: map[string][]audit.Record{}}, keys: memKeys{},
		clock: &fakeClock{t: time.Date(2030, 1, 15, 10, 0, 0, 0, time.UTC)}}
	al, err := New(Deps{Events: f.events, Chains: f.chains, Keys: f.keys, Clock: f.clock, Entropy: rand.Reader, ChainKeys: auditKeys})
	if err != nil {
		t.Fatal(err)
	}
	f.log = al
	return f
}

func TestNewRefusesMissingDependencies(t *testing.T) {
	_, err := New(Deps{Clock: &fakeClock{}})
	if err == nil || !strings.Contains(err.Error(), "ChainKeys, Chains, Entropy, Events, Keys") {
		t.Fatalf("err = %v", err)
	}
}

func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ve *apikey.ValidationError
	if !errors.As(err, &ve) || ve.Field != field {
		t.Errorf("%s: error %v, want a validation error naming %s", what, err, field)
	}
}

func TestAuditListSeesOnlyOwnOrganizations(t *testing.T) {
	f := newAuditFixture(t)
	two := apikey.Principal{Subject: "u", Organizations: []string{"org_a", "", "org_b"}}
	if _, err := f.log.List(ctx, two, ports.AuditListInput{}); err != nil {
		t.Fatal(err)
	}
	if q := f.events.queries[0]; strings.Join(q.OrganizationIDs, ",") != "org_a,org_b" || q.Limit != DefaultLimit {
		t.Errorf("query %+v: want the principal's organizations without the empty one, limit %d", q, DefaultLimit)
	}
	if _, err := f.log.List(ctx, two, ports.AuditListInput{OrganizationID: "org_b", AuditPageInput: ports.AuditPageInput{Limit: 1000}}); err != nil {
		t.Fatal(err)
	}
	if q := f.events.queries[1]; strings.Join(q.OrganizationIDs, ",") != "org_b" || q.Limit != MaxLimit {
		t.Errorf("query %+v: want org_b only, limit capped at %d", q, MaxLimit)
	}
	_, err := f.log.List(ctx, two, ports.AuditListInput{OrganizationID: "org_c"})
	var de *apikey.DeniedError
	if !errors.As(err, &de) || de.Code != "forbidden_organization" || de.Field != "organization_id" || !errors.Is(err, apikey.ErrForbidden) {
		t.Errorf("foreign organization: %v", err)
	}
	_, err = f.log.List(ctx, two, ports.AuditListInput{OrganizationID: ""})
	if err != nil {
		t.Fatal(err)
	}
	// The failures of unidentified keys have no organization: not even a
	// principal claiming the empty one reads them.
	page, err := f.log.List(ctx, apikey.Principal{Subject: "u", Organizations: []string{""}}, ports.AuditListInput{})
	if err != nil || len(page.Events) != 0 || len(f.events.queries) != 3 {
		t.Errorf("principal of the empty organization: %d events, %v, %d queries", len(page.Events), err, len(f.events.queries))
	}
	reader := apikey.Principal{KeyID: "key_r", Organizations: []string{"org_a"}, Scopes: apikey.Scopes{apikey.ScopeEventsRead}}
	if _, err := f.log.List(ctx, reader, ports.AuditListInput{}); !errors.Is(err, apikey.ErrForbidden) {
		t.Errorf("key without api-keys:manage: %v", err)
	}
	if _, err := f.log.List(ctx, apikey.Principal{}, ports.AuditListInput{}); !errors.Is(err, apikey.ErrUnauthenticated) {
		t.Errorf("nobody: %v", err)
	}
}

func TestAuditListValidatesFilters(t *testing.T) {
	f := newAuditFixture(t)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in    ports.AuditListInput
		field string
	}{
		{ports.AuditListInput{Action: "key.deleted"}, "action"},
		{ports.AuditListInput{KeyID: "nope"}, "key_id"},
		{ports.AuditListInput{KeyID: "key_" + strings.Repeat("x", 80)}, "key_id"},
		{ports.AuditListInput{Actor: "user:\x00"}, "actor"},
		{ports.AuditListInput{Actor: strings.Repeat("a", 300)}, "actor"},
		{ports.AuditListInput{Since: &at, Until: &at}, "until"},
		{ports.AuditListInput{AuditPageInput: ports.AuditPageInput{Limit: -1}}, "limit"},
	} {
		_, err := f.log.List(ctx, alice, tc.in)
		wantField(t, tc.field, err, tc.field)
	}
	later := at.Add(time.Hour)
	_, err := f.log.List(ctx, alice, ports.AuditListInput{Action: "key.used", KeyID: "key_abc", Actor: "key:key_abc", Since: &at, Until: &later})
	if err != nil {
		t.Fatal(err)
	}
	q := f.events.queries[len(f.events.queries)-1]
	if q.Action != audit.ActionKeyUsed || q.KeyID != "key_abc" || q.Actor != "key:key_abc" || !q.Since.Equal(at) || !q.Until.Equal(later) {
		t.Errorf("query %+v", q)
	}
}

func TestKeyUsage(t *testing.T) {
	f := newAuditFixture(t)
	f.keys["key_mine"] = apikey.Key{ID: "key_mine", OrganizationID: "org_123"}
	f.keys["key_theirs"] = apikey.Key{ID: "key_theirs", OrganizationID: "org_999"}
	if _, err := f.log.KeyUsage(ctx, alice, "key_mine", ports.AuditPageInput{Limit: 5}); err != nil {
		t.Fatal(err)
	}
	q := f.events.queries[0]
	if q.KeyID != "key_mine" || strings.Join(q.OrganizationIDs, ",") != "org_123" || q.Limit != 5 ||
		len(q.Actions) != 2 || q.Actions[0] != audit.ActionKeyUsed || q.Actions[1] != audit.ActionKeyAuthFailed {
		t.Errorf("query %+v", q)
	}
	for _, id := range []string{"key_theirs", "key_missing", "evt_x", ""} {
		if _, err := f.log.KeyUsage(ctx, alice, id, ports.AuditPageInput{}); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("usage of %q: %v, want not found", id, err)
		}
	}
}

func TestPurgeRecordsWhatItCut(t *testing.T) {
	f := newAuditFixture(t)
	if _, err := f.log.Purge(ctx, f.clock.Now().Add(time.Second), "system:test"); err == nil {
		t.Error("a cutoff in the future was accepted")
	}
	rep, err := f.log.Purge(ctx, f.log.Cutoff(time.Hour), "system:test")
	if err != nil || rep.Deleted != 0 || rep.EventID != "" || len(f.chains.purges) != 0 {
		t.Fatalf("nothing to purge: %+v, %v, %d events recorded", rep, err, len(f.chains.purges))
	}
	if !f.chains.before.Equal(f.clock.Now().Add(-time.Hour)) {
		t.Errorf("cutoff %v", f.chains.before)
	}
	f.chains.cuts = []ports.ChainCut{
		{ChainID: "chn_A", FromSeq: 1, ThroughSeq: 40, AnchorID: "evt_40", AnchorHash: "h40", Deleted: 40},
		{ChainID: "chn_B", FromSeq: 11, ThroughSeq: 12, AnchorID: "evt_b12", AnchorHash: "h12", Deleted: 2},
	}
	f.chains.err = errors.New("chain C failed")
	rep, err = f.log.Purge(ctx, f.log.Cutoff(time.Hour), "system:test")
	if err == nil || rep.Deleted != 42 || len(f.chains.purges) != 1 {
		t.Fatalf("partial purge: %+v, %v", rep, err)
	}
	ev := f.chains.purges[0]
	if ev.ID != rep.EventID || ev.Action != audit.ActionAuditPurged || ev.Actor != "system:test" || ev.OrganizationID != "" ||
		ev.Details["deleted"] != int64(42) || ev.Details["chains_cut"] != 2 || len(ev.Details["chains"].([]any)) != 2 {
		t.Errorf("purge event %+v", ev)
	}
}

// TestPurgeReportsAFailedRecord: a purge that cut events but could not
// record its audit.purged event fails, even when every chain was cut.
func TestPurgeReportsAFailedRecord(t *testing.T) {
	f := newAuditFixture(t)
	f.chains.cuts = []ports.ChainCut{{ChainID: "chn_A", FromSeq: 1, ThroughSeq: 3, AnchorID: "evt_3", AnchorHash: "h3", Deleted: 3}}
	f.chains.recordErr = errors.New("disk full")
	rep, err := f.log.Purge(ctx, f.log.Cutoff(time.Hour), "system:test")
	if err == nil || !strings.Contains(err.Error(), "disk full") || rep.Deleted != 3 || rep.EventID != "" {
		t.Fatalf("purge whose record failed: %+v, %v; want the record's error", rep, err)
	}
	// A chain's failure wins over the record's: it is reported first.
	f.chains.err = errors.New("chain C failed")
	if _, err := f.log.Purge(ctx, f.log.Cutoff(time.Hour), "system:test"); err == nil || !strings.Contains(err.Error(), "chain C failed") {
		t.Fatalf("purge with a failed chain and a failed record: %v; want the chain's error", err)
	}
}

func TestVerifyChainsReportsEachChain(t *testing.T) {
	f := newAuditFixture(t)
	var recs []audit.Record
	for i := 1; i <= 3; i++ {
		recs = append(recs, audit.Record{Event: audit.Event{ID: "evt_" + strings.Repeat("x", i), Action: audit.ActionKeyUsed}})
	}
	f.chains.chains = []audit.Chain{sealedChain("chn_A", recs)}
	f.chains.records["chn_A"] = recs
	var seen []string
	rep, err := f.log.VerifyChains(ctx, func(r audit.ChainResult) { seen = append(seen, r.Chain.ID) })
	if err != nil || !rep.OK() || rep.Events != 3 || len(seen) != 1 {
		t.Fatalf("intact: %+v, %v, %v", rep, err, seen)
	}
	// Verified with another key, the chain is reported once, unchecked.
	other, _ := audit.NewChainKeys([]byte("another-test-chain-key-0123456789abcdef"))
	al, err := New(Deps{Events: f.events, Chains: f.chains, Keys: f.keys, Clock: f.clock, Entropy: rand.Reader, ChainKeys: other})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = al.VerifyChains(ctx, nil)
	if err != nil || rep.OK() || rep.Problems != 1 || rep.Chains[0].Problems[0].Kind != audit.ProblemUnknownKey {
		t.Fatalf("another key: %+v, %v", rep, err)
	}
	recs[1].Event.ClientIP = "10.0.0.1"
	rep, err = f.log.VerifyChains(ctx, nil)
	if err != nil || rep.OK() || rep.Problems != 1 || rep.Chains[0].Problems[0].EventID != recs[1].Event.ID {
		t.Fatalf("tampered: %+v, %v", rep, err)
	}
}

// TestVerifyChainsCountsEveryChain checks that a report adds up the
// problems of every chain, listed and omitted: a log tampered with in
// several chains must never read as verified because its last chain is
// intact.
func TestVerifyChainsCountsEveryChain(t *testing.T) {
	f := newAuditFixture(t)
	chain := func(id string, n int) []audit.Record {
		var recs []audit.Record
		for i := 1; i <= n; i++ {
			recs = append(recs, audit.Record{Event: audit.Event{ID: fmt.Sprintf("evt_%s_%d", id, i), Action: audit.ActionKeyUsed}})
		}
		f.chains.chains = append(f.chains.chains, sealedChain(id, recs))
		f.chains.records[id] = recs
		return recs
	}
	// Events that belong to no chain, each reported, more than a chain's
	// report lists; then a chain with two modified events; last, an
	// intact chain.
	loose := audit.MaxProblems + 3
	for i := range loose {
		f.chains.records[""] = append(f.chains.records[""], audit.Record{Event: audit.Event{ID: fmt.Sprintf("evt_loose_%d", i)}})
	}
	f.chains.chains = append(f.chains.chains, audit.Chain{})
	a := chain("chn_A", 5)
	a[1].Event.ClientIP, a[3].Event.Actor = "10.0.0.1", "user:mallory"
	chain("chn_B", 4)

	rep, err := f.log.VerifyChains(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Chains) != 3 || rep.Events != int64(loose)+5+4 {
		t.Fatalf("%d chains, %d events; want 3 chains, %d events", len(rep.Chains), rep.Events, loose+9)
	}
	perChain := []int64{int64(loose), 2, 0}
	for i, r := range rep.Chains {
		if n := int64(len(r.Problems)) + r.Omitted; n != perChain[i] {
			t.Errorf("chain %q: %d problems (%d omitted), want %d", r.Chain.ID, n, r.Omitted, perChain[i])
		}
	}
	if rep.Chains[0].Omitted != 3 {
		t.Errorf("omitted %d problems of the loose events, want 3", rep.Chains[0].Omitted)
	}
	if want := int64(loose) + 2; rep.Problems != want || rep.OK() {
		t.Errorf("report: %d problems, OK=%v; want %d, not OK", rep.Problems, rep.OK(), want)
	}
}

// TestUnattributedEventsAreForOperators: the events that belong to no
// organization (summaries of failures that named no key, purges) are read
// by the configured operators only.
func TestUnattributedEventsAreForOperators(t *testing.T) {
	f := newAuditFixture(t)
	op, err := New(Deps{Events: f.events, Chains: f.chains, Keys: f.keys, Clock: f.clock, Entropy: rand.Reader,
		ChainKeys: f.log.d.ChainKeys}, Options{Operators: []string{"user:root"}})
	if err != nil {
		t.Fatal(err)
	}
	root := apikey.Principal{Subject: "root", Organizations: []string{"org_1"}}
	if _, err := op.List(ctx, root, ports.AuditListInput{Unattributed: true}); err != nil {
		t.Fatal(err)
	}
	if q := f.events.queries[len(f.events.queries)-1]; len(q.OrganizationIDs) != 1 || q.OrganizationIDs[0] != "" {
		t.Errorf("operator's query %+v: want the events of no organization", q)
	}
	n := len(f.events.queries)
	_, err = op.List(ctx, alice, ports.AuditListInput{Unattributed: true})
	if field, code := fieldCodeOf(err); field != "unattributed" || code != "forbidden_organization" || !errors.Is(err, apikey.ErrForbidden) {
		t.Errorf("a non-operator reading unattributed events: %v", err)
	}
	_, err = op.List(ctx, root, ports.AuditListInput{Unattributed: true, OrganizationID: "org_1"})
	wantField(t, "unattributed with an organization", err, "unattributed")
	if len(f.events.queries) != n {
		t.Error("a refused listing reached the store")
	}
}

func fieldCodeOf(err error) (field, code string) {
	var de *apikey.DeniedError
	if errors.As(err, &de) {
		return de.Field, de.Code
	}
	return "", ""
}

// TestAuditListTakesSinceOrUntilAlone: either bound may be given without
// the other.
func TestAuditListTakesSinceOrUntilAlone(t *testing.T) {
	f := newAuditFixture(t)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, in := range []ports.AuditListInput{{Since: &at}, {Until: &at}} {
		if _, err := f.log.List(ctx, alice, in); err != nil {
			t.Fatalf("%+v: %v", in, err)
		}
		q := f.events.queries[len(f.events.queries)-1]
		if (in.Since != nil) != (q.Since != nil) || (in.Until != nil) != (q.Until != nil) {
			t.Errorf("query %+v for input %+v", q, in)
		}
	}
}

// TestHostileIdentifiersRefusedBeforeTheStore: every identifier of an
// audit query is checked, with its own code, before the store is asked.
func TestHostileIdentifiersRefusedBeforeTheStore(t *testing.T) {
	f := newAuditFixture(t)
	f.keys["key_mine"] = apikey.Key{ID: "key_mine", OrganizationID: "org_123"}
	ok := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	early := time.Date(999, 1, 1, 0, 0, 0, 0, time.UTC)
	claims := apikey.Principal{Subject: "mallory", Organizations: []string{"org_123", "org_123 "}}
	for _, tc := range []struct {
		in          ports.AuditListInput
		field, code string
	}{
		{ports.AuditListInput{OrganizationID: "org_123 "}, "organization_id", "invalid_organization_id"},
		{ports.AuditListInput{OrganizationID: "org_123\u00a0"}, "organization_id", "invalid_organization_id"},
		{ports.AuditListInput{OrganizationID: "org\x00"}, "organization_id", "invalid_organization_id"},
		{ports.AuditListInput{KeyID: "key_x\x00"}, "key_id", "invalid_key_id"},
		{ports.AuditListInput{KeyID: "\xc0\x80"}, "key_id", "invalid_key_id"},
		{ports.AuditListInput{Actor: "user:\x00"}, "actor", "invalid_actor"},
		{ports.AuditListInput{Actor: "user:\xff"}, "actor", "invalid_actor"},
		{ports.AuditListInput{Actor: "user:a\u202eb"}, "actor", "invalid_actor"},
		{ports.AuditListInput{Actor: "user:a\u200bb"}, "actor", "invalid_actor"},
		{ports.AuditListInput{Since: &far}, "since", "invalid_since"},
		{ports.AuditListInput{Until: &far}, "until", "invalid_until"},
		{ports.AuditListInput{Since: &early}, "since", "invalid_since"},
		{ports.AuditListInput{AuditPageInput: ports.AuditPageInput{After: &ports.Cursor{Time: far, ID: "evt_abc"}}}, "cursor", "invalid_cursor"},
		{ports.AuditListInput{AuditPageInput: ports.AuditPageInput{After: &ports.Cursor{Time: ok, ID: "evt_\x00"}}}, "cursor", "invalid_cursor"},
		{ports.AuditListInput{AuditPageInput: ports.AuditPageInput{After: &ports.Cursor{Time: ok, ID: "key_abc"}}}, "cursor", "invalid_cursor"},
	} {
		_, err := f.log.List(ctx, claims, tc.in)
		var ve *apikey.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || ve.Code != tc.code {
			t.Errorf("%+v: %v, want %s on %s", tc.in, err, tc.code, tc.field)
		}
	}
	_, err := f.log.KeyUsage(ctx, alice, "key_mine", ports.AuditPageInput{After: &ports.Cursor{Time: far, ID: "evt_abc"}})
	if field, code := validationOf(err); field != "cursor" || code != "invalid_cursor" {
		t.Errorf("usage with a far-future cursor: %v", err)
	}
	if len(f.events.queries) != 0 {
		t.Errorf("the store was asked %d times", len(f.events.queries))
	}
}

func validationOf(err error) (field, code string) {
	var ve *apikey.ValidationError
	if errors.As(err, &ve) {
		return ve.Field, ve.Code
	}
	return "", ""
}
