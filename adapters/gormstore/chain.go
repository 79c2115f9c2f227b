package gormstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// Every Store writes its events into a hash chain of its own: a random
// chain id, and for each event a seq (1, 2, 3, ...), the id and hash of the
// event before it, and its own link hash: the v2 HMAC under the store's
// current chain key (audit.Record.HashV2 over exactly the stored values). Appends are serialized by the chain's lock, which a
// writing transaction takes before any database lock and holds until it has
// committed or rolled back; the in-memory head advances only after a
// commit. After a failed write the head is read back from the database,
// under the lock of the chain's registry row, so that a commit whose
// answer was lost, even one that lands late, is not written over. The
// audit_chains registry keeps each chain's head (updated in the same
// transactions) and, after a purge, its anchor: the last deleted event,
// from which the rest still verifies. The registry row names the chain's
// key (key_id) and carries seals of its head and anchor under it
// (audit.Chain's seals), renewed by the transactions that move them.

var _ ports.AuditChains = (*Store)(nil)

// chain is the writer state of a Store's hash chain.
type chain struct {
	id     string
	writer string
	key    audit.ChainKey // keys the chain's links and seals; zero: the store cannot write events
	lock   chan struct{}  // one slot: held by the transaction appending
	head   chainHead      // guarded by lock
}

// errNoChainKey refuses to write events without a chain key.
var errNoChainKey = errors.New("gormstore: no audit chain key configured (Config.ChainKey): events cannot be chained")

// chainHead is the last event of a chain.
type chainHead struct {
	seq        int64
	eventID    string
	hash       string
	known      bool // seq, eventID and hash are those in the database
	registered bool // the chain has its audit_chains row
}

// newChain returns the writer state of a fresh chain keyed with key (zero
// for a chain of v1 links, which only migration 00003 writes).
func newChain(key audit.ChainKey) *chain {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return &chain{
		id:     audit.ChainIDPrefix + rand.Text(),
		writer: clean(host+" pid "+strconv.Itoa(os.Getpid()), 255),
		key:    key,
		lock:   make(chan struct{}, 1),
	}
}

// ChainID returns the id of the hash chain this store appends to.
func (s *Store) ChainID() string { return s.chain.id }

// chainRow is one row of audit_chains.
type chainRow struct {
	ChainID    string     `gorm:"column:chain_id;primaryKey"`
	Writer     string     `gorm:"column:writer"`
	CreatedAt  time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt  time.Time  `gorm:"column:updated_at;autoUpdateTime:false"`
	HeadSeq    int64      `gorm:"column:head_seq"`
	HeadID     string     `gorm:"column:head_id"`
	HeadHash   string     `gorm:"column:head_hash"`
	AnchorSeq  int64      `gorm:"column:anchor_seq"`
	AnchorID   string     `gorm:"column:anchor_id"`
	AnchorHash string     `gorm:"column:anchor_hash"`
	AnchorTime *time.Time `gorm:"column:anchor_time"`
	PurgedAt   *time.Time `gorm:"column:purged_at"`
	KeyID      string     `gorm:"column:key_id"`
	KeyedFrom  int64      `gorm:"column:keyed_from_seq"`
	HeadSeal   string     `gorm:"column:head_seal"`
	AnchorSeal string     `gorm:"column:anchor_seal"`
}

// keyedColumns are the audit_chains columns migration 00005 added.
var keyedColumns = []string{"key_id", "keyed_from_seq", "head_seal", "anchor_seal"}

func (chainRow) TableName() string { return "audit_chains" }

func (r chainRow) chain() audit.Chain {
	return audit.Chain{
		ID: r.ChainID, Writer: r.Writer, CreatedAt: utc(r.CreatedAt), Registered: true,
		HeadSeq: r.HeadSeq, HeadID: r.HeadID, HeadHash: r.HeadHash,
		AnchorSeq: r.AnchorSeq, AnchorID: r.AnchorID, AnchorHash: r.AnchorHash,
		AnchorTime: utcPtr(r.AnchorTime), PurgedAt: utcPtr(r.PurgedAt),
		KeyID: r.KeyID, KeyedFrom: r.KeyedFrom, HeadSeal: r.HeadSeal, AnchorSeal: r.AnchorSeal,
	}
}

// record returns the stored event with its link, as hashed.
func (r eventRow) record() audit.Record {
	rec := audit.Record{
		Event: audit.Event{
			ID: r.ID, Time: utc(r.OccurredAt), OrganizationID: r.OrganizationID, Actor: r.Actor,
			Action: audit.Action(r.Action), KeyID: r.KeyID, RequestID: r.RequestID, TraceID: r.TraceID,
			Method: r.Method, Path: r.Path, ClientIP: r.ClientIP, UserAgent: r.UserAgent,
			Status: r.Status, Outcome: apikey.Outcome(r.Outcome), Scope: r.Scope,
		},
		Link: audit.Link{ChainID: r.ChainID, PrevID: r.PrevID, PrevHash: r.PrevHash, Hash: r.Hash},
	}
	rec.Event.ClientRequestID = deref(r.ClientRequestID)
	if r.Seq != nil {
		rec.Link.Seq = *r.Seq
	}
	if r.Details != nil {
		rec.RawDetails = *r.Details
	}
	return rec
}

// chainTx appends events to the chain within one transaction.
type chainTx struct {
	tx        *gorm.DB
	id        string
	key       audit.ChainKey // zero: v1 links (migration 00003 only)
	head      chainHead
	perInsert int  // rows per INSERT statement
	prepare   bool // prepare the INSERTs (see insertEvents)
}

// link gives rows the next places of the chain, in order: v2 links under
// the chain's key, or, for the events migration 00003 chains, v1 links as
// they were before chains were keyed (migration 00005 then seals that
// chain).
func (ct *chainTx) link(rows []eventRow) {
	for i := range rows {
		r := &rows[i]
		ct.head.seq++
		seq := ct.head.seq
		r.ChainID, r.Seq, r.PrevID, r.PrevHash = ct.id, &seq, ct.head.eventID, ct.head.hash
		if ct.key.IsZero() {
			r.Hash = r.record().HashV1()
		} else {
			r.Hash = r.record().HashV2(ct.key)
		}
		ct.head.eventID, ct.head.hash = r.ID, r.Hash
	}
}

// append links rows into the chain and inserts them.
func (ct *chainTx) append(rows ...eventRow) error {
	if len(rows) == 0 {
		return nil
	}
	ct.link(rows)
	return insertEvents(ct.tx, rows, ct.perInsert, ct.prepare)
}

// writeChained runs fn in a write transaction that may append events to
// the store's chain. It takes the chain's lock before the transaction
// begins, and the transaction locks the chain's registry row before any
// other row, so that every transaction touching a chain takes its locks
// in the same order (chain, then keys and events); a purge, which locks
// the registry row before deleting, then never waits for a writer that
// waits for it. A transaction aborted as a deadlock or serialization
// failure is run again, up to three times.
func (s *Store) writeChained(ctx context.Context, fn func(tx *gorm.DB, ct *chainTx) error) error {
	c := s.chain
	if c.key.IsZero() {
		return errNoChainKey
	}
	select {
	case c.lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.lock }()
	for attempt := 1; ; attempt++ {
		err := s.writeChainedOnce(ctx, c, fn)
		if err == nil || attempt == 3 || !isConcurrencyFailure(err) || ctx.Err() != nil {
			return err
		}
	}
}

func (s *Store) writeChainedOnce(ctx context.Context, c *chain, fn func(tx *gorm.DB, ct *chainTx) error) error {
	var next chainHead
	err := s.write(ctx, func(tx *gorm.DB) error {
		head, err := s.lockHead(tx, c)
		if err != nil {
			return err
		}
		ct := &chainTx{tx: tx, id: c.id, key: c.key, head: head, perInsert: s.rowsPerInsert(), prepare: s.driver == DriverSQLite}
		if err := fn(tx, ct); err != nil {
			return err
		}
		if ct.head.seq != head.seq {
			if err := saveHead(tx, c, ct.head); err != nil {
				return err
			}
			ct.head.registered = true
		}
		next = ct.head
		return nil
	})
	if err != nil {
		c.head.known = false // the transaction may have committed: read the head back next time
		return err
	}
	c.head = next
	return nil
}

// lockHead locks the chain's registry row for the rest of the transaction,
// registering the chain if it has no row yet, and returns the chain's head.
// The head is read from the database only once the row is locked: a
// transaction of this chain whose COMMIT got no answer in time (its writer
// reported it unavailable and went on) may still be open on the server and
// commit late. It holds the row until it ends, so a head read under the
// lock includes its events; read before, it would miss them, and the next
// event would take a seq already used (a spurious conflict). SQLite needs
// no row lock: its write transactions hold the whole database, and none
// outlives its connection in this process.
func (s *Store) lockHead(tx *gorm.DB, c *chain) (chainHead, error) {
	if s.driver != DriverSQLite {
		if err := lockChainRow(tx, c); err != nil {
			return chainHead{}, err
		}
	}
	head := c.head
	if !head.known {
		var err error
		if head, err = loadHead(tx, c.id); err != nil {
			return chainHead{}, err
		}
	}
	if s.driver != DriverSQLite {
		head.registered = true
	}
	return head, nil
}

// lockChainRow locks the registry row of chain c, inserting it first if
// the chain has none (see newChainRow). The insert waits for a transaction
// that inserted the row and is still open; if that one commits, nothing is
// inserted and the row it made is locked instead.
func lockChainRow(tx *gorm.DB, c *chain) error {
	for range 2 {
		var ids []string
		if err := tx.Raw(`SELECT chain_id FROM audit_chains WHERE chain_id = ? FOR UPDATE`, c.id).Scan(&ids).Error; err != nil {
			return err
		}
		if len(ids) == 1 {
			return nil
		}
		row := newChainRow(c, chainHead{})
		q := tx.Clauses(clause.OnConflict{DoNothing: true})
		if c.key.IsZero() {
			q = q.Omit(keyedColumns...)
		}
		res := q.Create(&row)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			return nil // the new row is this transaction's until it ends
		}
	}
	return fmt.Errorf("register audit chain %s: its registry row can be neither inserted nor found", c.id)
}

// registerChain creates the registry row of chain c with head. A keyed
// chain is keyed from its first event, and its row sealed; the chain of
// migration 00003 (no key) is left to migration 00005 to seal, and its row
// is written without the columns 00005 adds.
func registerChain(tx *gorm.DB, c *chain, head chainHead) error {
	row := newChainRow(c, head)
	if c.key.IsZero() {
		return tx.Omit(keyedColumns...).Create(&row).Error
	}
	return tx.Create(&row).Error
}

// newChainRow is the registry row of chain c at head: a keyed chain is
// keyed from its first event and its row sealed.
func newChainRow(c *chain, head chainHead) chainRow {
	now := utc(time.Now())
	row := chainRow{
		ChainID: c.id, Writer: c.writer, CreatedAt: now, UpdatedAt: now,
		HeadSeq: head.seq, HeadID: head.eventID, HeadHash: head.hash,
	}
	if c.key.IsZero() {
		return row
	}
	row.KeyedFrom = 1
	ac := row.chain()
	ac.Seal(c.key)
	row.KeyID, row.HeadSeal, row.AnchorSeal = ac.KeyID, ac.HeadSeal, ac.AnchorSeal
	return row
}

// headSeal returns the seal of head in c's registry row (c is keyed from
// its first event).
func headSeal(c *chain, head chainHead) string {
	return audit.Chain{ID: c.id, KeyedFrom: 1, HeadSeq: head.seq, HeadID: head.eventID, HeadHash: head.hash}.ComputeHeadSeal(c.key)
}

// loadHead reads the head of chain id from the database: its registry
// row, or its last event if that lies further (which only tampering or a
// lost registry update explains; the writer goes on after it, and audit
// verify reports the discrepancy).
func loadHead(tx *gorm.DB, id string) (chainHead, error) {
	var h chainHead
	var c chainRow
	err := tx.Where("chain_id = ?", id).Limit(1).Find(&c).Error
	if err != nil {
		return h, err
	}
	if c.ChainID == id {
		h = chainHead{seq: c.HeadSeq, eventID: c.HeadID, hash: c.HeadHash, registered: true}
	}
	var last []eventRow
	err = tx.Select("id", "seq", "hash").Where("chain_id = ? AND seq IS NOT NULL", id).
		Order("seq DESC").Limit(1).Find(&last).Error
	if err != nil {
		return h, err
	}
	if len(last) == 1 && *last[0].Seq > h.seq {
		h.seq, h.eventID, h.hash = *last[0].Seq, last[0].ID, last[0].Hash
	}
	h.known = true
	return h, nil
}

// saveHead records head as the chain's head in its registry row, with
// its seal, creating the row if the chain has none yet.
func saveHead(tx *gorm.DB, c *chain, head chainHead) error {
	if head.registered && !c.key.IsZero() {
		res := tx.Exec(`UPDATE audit_chains SET head_seq = ?, head_id = ?, head_hash = ?, head_seal = ?, updated_at = ? WHERE chain_id = ?`,
			head.seq, head.eventID, head.hash, headSeal(c, head), utc(time.Now()), c.id)
		if res.Error != nil || res.RowsAffected > 0 {
			return res.Error
		}
	}
	return registerChain(tx, c, head)
}

// distinct returns rows without the repeats of an id seen earlier: rows
// itself when no id repeats, as is usual.
func distinct(rows []eventRow) []eventRow {
	seen := make(map[string]struct{}, len(rows))
	for i := range rows {
		if _, dup := seen[rows[i].ID]; dup {
			out := slices.Clone(rows[:i])
			for _, r := range rows[i+1:] {
				if _, dup := seen[r.ID]; !dup {
					seen[r.ID] = struct{}{}
					out = append(out, r)
				}
			}
			return out
		}
		seen[rows[i].ID] = struct{}{}
	}
	return rows
}

// unstored returns the rows whose ids are not stored yet, so that a
// retried batch appends each event once. It looks ids up one by one: an
// IN list this long can make a planner without fresh statistics scan the
// whole table, and this runs only after an insert hit a taken id.
func unstored(tx *gorm.DB, rows []eventRow) ([]eventRow, error) {
	out := rows[:0:0]
	for _, r := range rows {
		var n int64
		if err := tx.Model(&eventRow{}).Where("id = ?", r.ID).Limit(1).Count(&n).Error; err != nil {
			return nil, err
		}
		if n == 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

// ReadChains runs fn on a read-only snapshot of the log: a repeatable-read
// transaction on Postgres and MySQL, a deferred read transaction on SQLite
// (which in WAL mode reads one snapshot and blocks no writer).
func (s *Store) ReadChains(ctx context.Context, fn func(ports.ChainSnapshot) error) error {
	opts := &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	if s.driver == DriverSQLite {
		opts = &sql.TxOptions{ReadOnly: true}
	}
	var fnErr error
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		fnErr = fn(snapshot{tx: tx})
		return fnErr
	}, opts)
	if fnErr != nil {
		return fnErr // already translated, or the caller's own
	}
	return translate("read audit chains", err)
}

// snapshot implements ports.ChainSnapshot on a read transaction.
type snapshot struct{ tx *gorm.DB }

// recordsPage is how many events one query of Records reads.
const recordsPage = 1000

// Chains lists the registered chains and those only events name, plus
// the empty id if some event belongs to no chain.
func (sn snapshot) Chains(ctx context.Context) ([]audit.Chain, error) {
	var rows []chainRow
	if err := sn.tx.WithContext(ctx).Order("chain_id").Find(&rows).Error; err != nil {
		return nil, translate("list audit chains", err)
	}
	var ids []string
	if err := sn.tx.WithContext(ctx).Model(&eventRow{}).Distinct("chain_id").Order("chain_id").Pluck("chain_id", &ids).Error; err != nil {
		return nil, translate("list audit chains", err)
	}
	var unchained []string
	if err := sn.tx.WithContext(ctx).Model(&eventRow{}).Where("seq IS NULL").Limit(1).Pluck("id", &unchained).Error; err != nil {
		return nil, translate("list audit chains", err)
	}
	byID := make(map[string]audit.Chain, len(rows)+len(ids))
	for _, r := range rows {
		byID[r.ChainID] = r.chain()
	}
	for _, id := range ids {
		if _, ok := byID[id]; !ok {
			byID[id] = audit.Chain{ID: id}
		}
	}
	if len(unchained) > 0 {
		byID[""] = audit.Chain{}
	}
	out := make([]audit.Chain, 0, len(byID))
	for _, c := range byID {
		out = append(out, c)
	}
	sortChains(out)
	return out, nil
}

func sortChains(cs []audit.Chain) {
	slices.SortFunc(cs, func(a, b audit.Chain) int { return strings.Compare(a.ID, b.ID) })
}

// Records yields the events of chainID after afterSeq in seq order; for
// the empty id, the events of no chain (seq NULL or no chain id) in id
// order.
func (sn snapshot) Records(ctx context.Context, chainID string, afterSeq int64) iter.Seq2[audit.Record, error] {
	return func(yield func(audit.Record, error) bool) {
		afterID := ""
		for {
			var rows []eventRow
			db := sn.tx.WithContext(ctx).Model(&eventRow{})
			if chainID == "" {
				db = db.Where("(chain_id = '' OR seq IS NULL) AND id > ?", afterID).Order("id")
			} else {
				db = db.Where("chain_id = ? AND seq > ?", chainID, afterSeq).Order("seq")
			}
			if err := db.Limit(recordsPage).Find(&rows).Error; err != nil {
				yield(audit.Record{}, translate("read audit chain", err))
				return
			}
			for _, r := range rows {
				if !yield(r.record(), nil) {
					return
				}
			}
			if len(rows) < recordsPage {
				return
			}
			last := rows[len(rows)-1]
			afterID = last.ID
			if last.Seq != nil {
				afterSeq = *last.Seq
			}
		}
	}
}

// purgeChunk is how many events one purge transaction deletes at most.
const purgeChunk = 5000

// PurgeBefore deletes, chain by chain, the events before the first one
// that happened at or after before, in transactions of at most purgeChunk
// events; each moves the chain's anchor to the last event it deleted. A
// chain's run of old events ends at its first recent event even if older
// ones follow (events of one writer are nearly in time order). Purges
// running at once on several instances cut each chain once.
//
// Each new anchor is sealed with the chain's key, which must be one of the
// store's chain keys. A chain whose key the store lacks, whose registry row
// is not sealed, or whose anchor no longer matches its seal is left as it
// is (deleting from it would destroy the evidence `audit verify` reports);
// the others are still purged, and the error names the chains left.
func (s *Store) PurgeBefore(ctx context.Context, before time.Time) ([]ports.ChainCut, error) {
	before = utc(before)
	var chains []chainRow
	if err := s.db.WithContext(ctx).Order("chain_id").Find(&chains).Error; err != nil {
		return nil, translate("purge audit events", err)
	}
	var cuts []ports.ChainCut
	var refused []error
	for _, c := range chains {
		key, err := s.purgeKey(c)
		if err != nil {
			refused = append(refused, err)
			continue
		}
		cut, err := s.purgeChain(ctx, c, key, before)
		if err != nil {
			return cuts, err
		}
		if cut.Deleted > 0 {
			cuts = append(cuts, cut)
		}
	}
	if len(refused) > 0 {
		return cuts, fmt.Errorf("purge audit events: %w", errors.Join(refused...))
	}
	return cuts, nil
}

// purgeKey returns the key of chain c, with which a purge seals its new
// anchor, after checking that its current anchor matches its seal.
func (s *Store) purgeKey(c chainRow) (audit.ChainKey, error) {
	if c.KeyID == "" {
		return audit.ChainKey{}, fmt.Errorf("chain %s left as it is: its registry entry is not sealed with a chain key (run apikeys audit verify)", c.ChainID)
	}
	key, ok := s.chainKeys.Lookup(c.KeyID)
	if !ok {
		return audit.ChainKey{}, fmt.Errorf("chain %s left as it is: it is sealed with chain key %s, which is not configured (%s)", c.ChainID, c.KeyID, s.chainKeys)
	}
	if ac := c.chain(); ac.AnchorSeal != ac.ComputeAnchorSeal(key) {
		return audit.ChainKey{}, fmt.Errorf("chain %s left as it is: its purge anchor no longer matches its seal (run apikeys audit verify)", c.ChainID)
	}
	return key, nil
}

func (s *Store) purgeChain(ctx context.Context, c chainRow, key audit.ChainKey, before time.Time) (ports.ChainCut, error) {
	cut := ports.ChainCut{ChainID: c.ChainID, FromSeq: c.AnchorSeq + 1}
	db := s.db.WithContext(ctx)
	var recent []int64
	err := db.Model(&eventRow{}).Where("chain_id = ? AND seq > ? AND occurred_at >= ?", c.ChainID, c.AnchorSeq, before).
		Order("seq").Limit(1).Pluck("seq", &recent).Error
	if err != nil {
		return cut, translate("purge audit events", err)
	}
	var through int64
	if len(recent) == 1 {
		through = recent[0] - 1
	} else {
		var last []int64
		err := db.Model(&eventRow{}).Where("chain_id = ? AND seq > ?", c.ChainID, c.AnchorSeq).
			Order("seq DESC").Limit(1).Pluck("seq", &last).Error
		if err != nil {
			return cut, translate("purge audit events", err)
		}
		if len(last) == 0 {
			return cut, nil
		}
		through = last[0]
	}
	for from := c.AnchorSeq + 1; from <= through; from += purgeChunk {
		end := min(from+purgeChunk-1, through)
		var seg segment
		var err error
		for attempt := 1; ; attempt++ {
			seg, err = s.purgeSegment(ctx, c, key, from, end)
			err = translate("purge audit events", err)
			if attempt == 3 || !errors.Is(err, apikey.ErrConflict) {
				break
			}
		}
		if err != nil {
			return cut, err
		}
		if seg.deleted > 0 || seg.seq > 0 {
			cut.ThroughSeq, cut.AnchorID, cut.AnchorHash = seg.seq, seg.id, seg.hash
			cut.Deleted += seg.deleted
		}
	}
	return cut, nil
}

// segment is what one purge transaction cut: its last event, now the
// anchor, and how many events it deleted.
type segment struct {
	seq      int64
	id, hash string
	deleted  int64
}

// purgeSegment deletes the events of chain c with a seq up to end (the
// last stored one in from..end) and makes that event the chain's anchor,
// sealed with key, in one transaction. It does nothing if another purge
// got there first.
func (s *Store) purgeSegment(ctx context.Context, c chainRow, key audit.ChainKey, from, end int64) (segment, error) {
	id := c.ChainID
	var seg segment
	err := s.writeReadCommitted(ctx, func(tx *gorm.DB) error {
		seg = segment{}
		var anchor []eventRow
		err := tx.Select("id", "seq", "hash", "occurred_at").
			Where("chain_id = ? AND seq >= ? AND seq <= ?", id, from, end).
			Order("seq DESC").Limit(1).Find(&anchor).Error
		if err != nil || len(anchor) == 0 {
			return err
		}
		a := anchor[0]
		now := utc(time.Now())
		at := utc(a.OccurredAt)
		seal := audit.Chain{ID: id, KeyedFrom: c.KeyedFrom, AnchorSeq: *a.Seq, AnchorID: a.ID, AnchorHash: a.Hash}.ComputeAnchorSeal(key)
		res := tx.Exec(`UPDATE audit_chains SET anchor_seq = ?, anchor_id = ?, anchor_hash = ?, anchor_seal = ?, anchor_time = ?, purged_at = ?, updated_at = ?
			WHERE chain_id = ? AND anchor_seq < ?`, *a.Seq, a.ID, a.Hash, seal, at, now, now, id, *a.Seq)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error // another purge moved the anchor first
		}
		// Bounded seq ranges keep every delete on the (chain_id, seq)
		// index, whatever the planner's statistics say.
		seg = segment{seq: *a.Seq, id: a.ID, hash: a.Hash}
		for lo := from; lo <= *a.Seq; lo += insertBatch {
			hi := min(lo+insertBatch-1, *a.Seq)
			del := tx.Exec(`DELETE FROM audit_events WHERE chain_id = ? AND seq >= ? AND seq <= ?`, id, lo, hi)
			if del.Error != nil {
				return del.Error
			}
			seg.deleted += del.RowsAffected
		}
		return nil
	})
	return seg, err
}

// writeReadCommitted is write at the read-committed level where the
// database has one, so that deleting old rows takes no gap locks that
// would hold up writers appending new ones.
func (s *Store) writeReadCommitted(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if s.writeSem != nil {
		return s.write(ctx, fn)
	}
	return s.transaction(ctx, fn, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
}
