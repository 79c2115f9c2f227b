package audit

import (
	"fmt"
	"slices"
	"strings"
)

// ProblemKind classifies what verification found wrong in a chain.
type ProblemKind string

// The kinds of problems verification reports.
const (
	// ProblemModified: an event's contents no longer match its hash (or
	// its link is an unkeyed hash where the chain is keyed), or its hash
	// was recomputed and no longer matches the link its successor (or the
	// chain's registry) recorded; or the chain's registry entry is not
	// sealed, or no longer matches its seal.
	ProblemModified ProblemKind = "modified"
	// ProblemDeleted: events are missing from the chain (a seq gap, or
	// missing after the last event found, up to the registered head).
	ProblemDeleted ProblemKind = "deleted"
	// ProblemReordered: an intact event sits at a seq other than the one
	// it was written at.
	ProblemReordered ProblemKind = "reordered"
	// ProblemInserted: events that no writer appended: past the registered
	// head, in a chain the registry does not know, outside any chain, or a
	// second event at a seq.
	ProblemInserted ProblemKind = "inserted"
	// ProblemUnknownKey: the chain is sealed with a chain key that is not
	// one of the keys given, so none of its events could be checked: it
	// was written with another key, or rewritten under one.
	ProblemUnknownKey ProblemKind = "unknown_key"
)

// Problem is one finding of verification.
type Problem struct {
	Kind    ProblemKind
	ChainID string
	Seq     int64  // where: the event's seq, or the first missing seq
	LastSeq int64  // the last missing seq of a deleted range (= Seq for one event)
	EventID string // the event concerned; for a deletion, the missing event's id when known
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: chain %s seq %d event %s: %s", p.Kind, p.ChainID, p.Seq, orDash(p.EventID), p.Message)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ChainResult is the verification of one chain.
type ChainResult struct {
	Chain    Chain
	Events   int64 // events read
	FirstSeq int64 // seq of the first event read (0 when none)
	LastSeq  int64 // seq of the last event read (0 when none)
	Problems []Problem
	// Omitted counts problems left out of Problems beyond MaxProblems.
	Omitted int64
}

// OK reports whether the chain verified without problems.
func (r ChainResult) OK() bool { return len(r.Problems) == 0 && r.Omitted == 0 }

// Limits of a ChainVerifier, which keeps in memory only what is wrong.
const (
	// MaxProblems is the most problems a ChainResult lists.
	MaxProblems = 1000
	// maxSuspects is the most mismatching events kept for classification;
	// further ones are reported as modified without looking for a move.
	maxSuspects = 1000
	// maxCandidates is the most seqs tried as the original place of a
	// mismatching event.
	maxCandidates = 2000
)

// ChainVerifier checks one chain, fed its events in ascending seq order.
// It checks the seals of the chain's registry entry, recomputes every link
// hash (v1 before the chain's KeyedFrom, v2 under the chain's key from
// it), follows every link from the anchor (or the start) to the registered
// head, and classifies each break.
type ChainVerifier struct {
	chain       Chain
	key         ChainKey // the chain's key
	check       bool     // the events' links can be checked (a registered chain whose key is known)
	keyIDs      []string // the ids of the keys given, for the unknown-key finding
	headBadSeal bool     // the registry's head does not match its seal
	expect      int64    // seq the next event should have
	prevHash    string   // hash the next event should link to
	prevID      string
	prevBad     bool // the previous event failed its own hash
	prevSeq     int64

	res      ChainResult
	suspects []Record // events whose hash does not match their contents
	gaps     []gap
	breaks   []Problem // intact events whose predecessor link is broken
	headSeen bool      // an event at HeadSeq was read
	headHash string
	headBad  bool
	beyond   []string // ids of the events after the head (the first maxSuspects)
	nBeyond  int64
	movedIDs map[string]bool // events classified as moved
}

type gap struct {
	from, to int64
	nextID   string // the intact event after the gap names the last missing one
}

// NewChainVerifier starts verifying c with keys, which must hold the key
// c is sealed with (its KeyID), current or previous.
func NewChainVerifier(c Chain, keys ChainKeys) *ChainVerifier {
	v := &ChainVerifier{
		chain: c, expect: c.AnchorSeq + 1, prevHash: c.AnchorHash, prevID: c.AnchorID, prevSeq: c.AnchorSeq,
		res: ChainResult{Chain: c}, keyIDs: keys.IDs(),
	}
	if c.ID == "" || !c.Registered {
		return v // nothing of it can be authenticated: Add and Finish report it whole
	}
	key, known := keys.Lookup(c.KeyID)
	switch {
	case c.KeyID == "":
		v.report(Problem{Kind: ProblemModified, Seq: c.HeadSeq, EventID: c.HeadID,
			Message: "the chain's registry entry is not sealed with a chain key: it was registered or rewritten by someone without the key (or by an apikeys version without keyed chains, after the upgrade to them)"})
		v.key, v.check = keys.Current(), true
	case !known:
		return v // reported by Finish, with the count of events left unchecked
	default:
		v.key, v.check = key, true
		if c.HeadSeal != c.ComputeHeadSeal(key) {
			v.headBadSeal = true
			v.report(Problem{Kind: ProblemModified, Seq: c.HeadSeq, EventID: c.HeadID,
				Message: "the registry's head no longer matches its seal: the head, or the seq from which links are keyed, was rewritten without the chain key"})
		}
		if c.AnchorSeq > 0 && c.AnchorSeal != c.ComputeAnchorSeal(key) {
			// The anchor is reported here; the next event's link to it is
			// then not reported again.
			v.prevBad = true
			v.report(Problem{Kind: ProblemModified, Seq: c.AnchorSeq, EventID: c.AnchorID,
				Message: "the registry's purge anchor no longer matches its seal: it was moved or rewritten without the chain key"})
		}
	}
	return v
}

// linkOK reports whether r's stored link is the one its seq calls for: a
// keyed link is never accepted without a key to check it.
func (v *ChainVerifier) linkOK(r Record) bool {
	if v.chain.Keyed(r.Link.Seq) && v.key.IsZero() {
		return false
	}
	return v.chain.LinkHash(r, v.key) == r.Link.Hash
}

// unchecked reports a registered chain sealed with a key not given.
func (v *ChainVerifier) unchecked() bool {
	return v.chain.ID != "" && v.chain.Registered && !v.check
}

// mismatch describes an event whose link hash does not match its contents.
func (v *ChainVerifier) mismatch(r Record) Problem {
	msg := "the stored hash does not match the event's contents"
	if v.chain.Keyed(r.Link.Seq) && r.HashV1() == r.Link.Hash {
		msg = fmt.Sprintf("the event's link is an unkeyed SHA-256 hash where the chain is keyed (from seq %d): it was rewritten without the chain key", v.chain.KeyedFrom)
	}
	return Problem{Kind: ProblemModified, Seq: r.Link.Seq, EventID: r.Event.ID, Message: msg}
}

func (v *ChainVerifier) report(p Problem) {
	p.ChainID = v.chain.ID
	if p.LastSeq == 0 {
		p.LastSeq = p.Seq
	}
	if len(v.res.Problems) >= MaxProblems {
		v.res.Omitted++
		return
	}
	v.res.Problems = append(v.res.Problems, p)
}

// Add checks the next event of the chain. Events must come in ascending
// seq order and only after the chain's anchor.
func (v *ChainVerifier) Add(r Record) {
	v.res.Events++
	seq := r.Link.Seq
	if v.res.FirstSeq == 0 {
		v.res.FirstSeq = seq
	}
	v.res.LastSeq = seq
	if v.chain.ID == "" {
		v.report(Problem{Kind: ProblemInserted, Seq: seq, EventID: r.Event.ID,
			Message: "the event belongs to no chain: it was not written by apikeys"})
		return
	}
	if !v.check {
		return // an unregistered chain, or one sealed with a key not given: reported whole
	}
	intact := v.linkOK(r)
	switch {
	case seq < v.expect:
		v.report(Problem{Kind: ProblemInserted, Seq: seq, EventID: r.Event.ID,
			Message: fmt.Sprintf("a second event at seq %d (or an event at or before the purge anchor)", seq)})
		return
	case seq > v.expect:
		g := gap{from: v.expect, to: seq - 1}
		if intact {
			g.nextID = r.Link.PrevID
		}
		v.gaps = append(v.gaps, g)
	}
	if !intact {
		if len(v.suspects) < maxSuspects {
			v.suspects = append(v.suspects, r)
		} else {
			v.report(v.mismatch(r))
		}
	} else if seq == v.expect && r.Link.PrevHash != v.prevHash && !v.prevBad {
		v.breaks = append(v.breaks, v.linkBreak(r))
	}
	if v.chain.Registered {
		switch {
		case seq == v.chain.HeadSeq:
			v.headSeen, v.headHash, v.headBad = true, r.Link.Hash, !intact
		case seq > v.chain.HeadSeq:
			v.nBeyond++
			if len(v.beyond) < maxSuspects {
				v.beyond = append(v.beyond, r.Event.ID)
			}
		}
	}
	v.expect, v.prevHash, v.prevID, v.prevBad, v.prevSeq = seq+1, r.Link.Hash, r.Event.ID, !intact, seq
}

// linkBreak describes an intact event r whose recorded predecessor hash
// differs from the stored hash of the event before it: that predecessor
// (or the purge anchor) was rewritten with a recomputed hash.
func (v *ChainVerifier) linkBreak(r Record) Problem {
	if v.prevSeq == v.chain.AnchorSeq && v.chain.AnchorSeq > 0 {
		return Problem{Kind: ProblemModified, Seq: v.prevSeq, EventID: v.prevID,
			Message: fmt.Sprintf("the purge anchor does not match the link recorded by the next event %s (seq %d)", r.Event.ID, r.Link.Seq)}
	}
	if v.prevSeq == 0 {
		return Problem{Kind: ProblemModified, Seq: r.Link.Seq, EventID: r.Event.ID,
			Message: "the first event of the chain links to a predecessor"}
	}
	return Problem{Kind: ProblemModified, Seq: v.prevSeq, EventID: v.prevID,
		Message: fmt.Sprintf("the event was rewritten with a recomputed hash: the next event %s (seq %d) recorded a different hash for it", r.Event.ID, r.Link.Seq)}
}

// Finish classifies what Add found and checks the chain's end against its
// registered head.
func (v *ChainVerifier) Finish() ChainResult {
	c := v.chain
	if c.ID != "" && !c.Registered {
		v.report(Problem{Kind: ProblemInserted, Seq: v.res.FirstSeq, LastSeq: v.res.LastSeq, EventID: "",
			Message: fmt.Sprintf("%d events name chain %s, which the chain registry does not know: they were inserted, or the registry entry was deleted", v.res.Events, c.ID)})
	}
	if v.unchecked() {
		which := "no chain key was given"
		if len(v.keyIDs) > 0 {
			which = "it is not one of the keys given (" + strings.Join(v.keyIDs, ", ") + ")"
		}
		v.report(Problem{Kind: ProblemUnknownKey, Seq: c.HeadSeq, EventID: c.HeadID,
			Message: fmt.Sprintf("the chain is sealed with chain key %s, but %s: its %d events were not checked; it was written with another key, or rewritten under one", c.KeyID, which, v.res.Events)})
		return v.res
	}
	v.classifySuspects()
	for _, g := range v.gaps {
		if c.Registered && g.from > c.HeadSeq {
			continue // past the head: what lies there is reported as inserted
		}
		if c.Registered && g.to >= c.HeadSeq {
			// The event after the gap lies past the head, where nothing
			// the writer appended is: the registry names the last missing
			// event, not that event's link.
			g.to, g.nextID = c.HeadSeq, c.HeadID
		}
		v.reportGap(g)
	}
	for _, b := range v.breaks {
		v.report(b)
	}
	if c.Registered {
		v.checkEnd()
	}
	return v.res
}

// checkEnd checks a registered chain's end against its registry: the
// anchor before the head, nothing missing before the head, nothing after
// it, and the head's hash.
func (v *ChainVerifier) checkEnd() {
	c := v.chain
	last := max(v.res.LastSeq, c.AnchorSeq)
	switch {
	case c.AnchorSeq > c.HeadSeq:
		v.report(Problem{Kind: ProblemModified, Seq: c.AnchorSeq, EventID: c.AnchorID,
			Message: fmt.Sprintf("the registry's purge anchor (seq %d) lies after its head (seq %d)", c.AnchorSeq, c.HeadSeq)})
	case last < c.HeadSeq:
		g := gap{from: last + 1, to: c.HeadSeq, nextID: c.HeadID}
		v.reportGap(g)
	case v.res.LastSeq > c.HeadSeq:
		// Events moved past the head are reported as reordered.
		var first string
		n := v.nBeyond
		for _, id := range v.beyond {
			if v.movedIDs[id] {
				n--
			} else if first == "" {
				first = id
			}
		}
		if n > 0 {
			v.report(Problem{Kind: ProblemInserted, Seq: c.HeadSeq + 1, LastSeq: v.res.LastSeq, EventID: first,
				Message: fmt.Sprintf("%d events after the registered head (seq %d) were not appended by the chain's writer", n, c.HeadSeq)})
		}
	}
	if v.headSeen && !v.headBad && !v.headBadSeal && v.headHash != c.HeadHash {
		v.report(Problem{Kind: ProblemModified, Seq: c.HeadSeq, EventID: c.HeadID,
			Message: "the last event's hash differs from the one the chain registry recorded: it was rewritten with a recomputed hash"})
	}
	if c.HeadSeq == c.AnchorSeq && v.res.Events == 0 && c.HeadHash != c.AnchorHash {
		v.report(Problem{Kind: ProblemModified, Seq: c.HeadSeq, EventID: c.HeadID,
			Message: "the chain is purged up to its head, but the anchor's hash differs from the head's"})
	}
}

// classifySuspects decides, for each event whose hash does not match its
// contents, whether it is intact but moved (its hash matches at another
// seq: a missing one or one of another mismatching event) or modified.
func (v *ChainVerifier) classifySuspects() {
	if len(v.suspects) == 0 {
		return
	}
	var candidates []int64
	for _, g := range v.gaps {
		for s := g.from; s <= g.to && len(candidates) < maxCandidates/2; s++ {
			candidates = append(candidates, s)
		}
	}
	for _, r := range v.suspects {
		if len(candidates) >= maxCandidates {
			break
		}
		candidates = append(candidates, r.Link.Seq)
	}
	moved := map[int64]bool{}
	v.movedIDs = map[string]bool{}
	for _, r := range v.suspects {
		orig, ok := v.originalSeq(r, candidates)
		if !ok {
			v.report(v.mismatch(r))
			continue
		}
		moved[orig] = true
		v.movedIDs[r.Event.ID] = true
		v.report(Problem{Kind: ProblemReordered, Seq: r.Link.Seq, EventID: r.Event.ID,
			Message: fmt.Sprintf("the event was written at seq %d and now sits at seq %d", orig, r.Link.Seq)})
	}
	// A seq an event moved away from is not a deletion.
	seqs := make([]int64, 0, len(moved))
	for s := range moved {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	var gaps []gap
	for _, g := range v.gaps {
		start := g.from
		for _, s := range seqs {
			if s < g.from || s > g.to {
				continue
			}
			if start < s {
				gaps = append(gaps, gap{from: start, to: s - 1})
			}
			start = s + 1
		}
		if start <= g.to {
			gaps = append(gaps, gap{from: start, to: g.to, nextID: g.nextID})
		}
	}
	v.gaps = gaps
}

func (v *ChainVerifier) originalSeq(r Record, candidates []int64) (int64, bool) {
	tried := map[int64]bool{r.Link.Seq: true}
	try := func(s int64) bool {
		if tried[s] || s < 1 {
			return false
		}
		tried[s] = true
		moved := r
		moved.Link.Seq = s
		return v.linkOK(moved) // its stored link, checked at seq s
	}
	switch r.Link.PrevHash {
	case "":
		if try(1) {
			return 1, true
		}
	case v.chain.AnchorHash:
		if try(v.chain.AnchorSeq + 1) {
			return v.chain.AnchorSeq + 1, true
		}
	}
	if i := slices.IndexFunc(v.suspects, func(s Record) bool { return s.Link.Hash == r.Link.PrevHash }); i >= 0 {
		// Moved together with its predecessor (or swapped with it).
		if s := v.suspects[i].Link.Seq + 1; try(s) {
			return s, true
		}
	}
	for _, s := range candidates {
		if try(s) {
			return s, true
		}
	}
	return 0, false
}

func (v *ChainVerifier) reportGap(g gap) {
	p := Problem{Kind: ProblemDeleted, Seq: g.from, LastSeq: g.to, EventID: g.nextID}
	switch {
	case g.from == g.to:
		p.Message = fmt.Sprintf("the event at seq %d is missing", g.from)
	case g.nextID != "":
		p.Message = fmt.Sprintf("%d events (seq %d to %d) are missing; the last of them was %s", g.to-g.from+1, g.from, g.to, g.nextID)
	default:
		p.Message = fmt.Sprintf("%d events (seq %d to %d) are missing", g.to-g.from+1, g.from, g.to)
	}
	v.report(p)
}
