package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"time"
)

// Format is a version of the canonical encoding hashed into chain links.
// Its tag is the first field of the encoding, so that no record of one
// version has the encoding of a record of another.
type Format string

// The formats of chain links.
const (
	// FormatV1 links are the hex SHA-256 of the v1 encoding: anyone who
	// can write to the database can recompute them. Chains written before
	// chains were keyed keep them.
	FormatV1 Format = "apikeys-audit-v1"
	// FormatV2 links are the hex HMAC-SHA-256 of the v2 encoding under the
	// chain's key (see ChainKey), which never enters the database. Every
	// chain written since keyed chains exist is v2 from its first event.
	FormatV2 Format = "apikeys-audit-v2"
)

// ChainIDPrefix starts every chain id, e.g. "chn_3KQ6RYV2GJ5XW7DN".
const ChainIDPrefix = "chn_"

// TimeLayout is how an event's time enters the canonical encoding: UTC
// with exactly six fractional digits, the precision every store keeps.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Link places an event in the hash chain of the process that wrote it.
// Seq counts 1, 2, 3, ... without gaps; PrevID and PrevHash name the event
// at Seq-1 (both empty for Seq 1, or the purge anchor's after a purge).
type Link struct {
	ChainID  string
	Seq      int64
	PrevID   string
	PrevHash string
	Hash     string // the link hash: see Record.HashV1 and Record.HashV2
}

// Record is an event as the log stores it, with its link. Its hash covers
// RawDetails, the details JSON exactly as stored ("" when the event has
// none), not Event.Details, which is only a decoded view of it.
type Record struct {
	Event      Event
	Link       Link
	RawDetails string
}

// Canonical returns the canonical encoding of r in format f: the
// netstrings (len ":" bytes ",") of, in order, the format tag, chain id,
// seq (decimal), previous event id, previous hash, event id, time
// (TimeLayout), organization id, actor, action, key id, request id, the
// client's request id (v2 only), trace id, method, path, client IP, user
// agent, status (decimal), outcome, scope and raw details. Lengths are in
// bytes, written in decimal.
func (r Record) Canonical(f Format) []byte {
	return r.AppendCanonical(nil, f)
}

// AppendCanonical appends r's canonical encoding in format f to dst and
// returns the extended buffer.
func (r Record) AppendCanonical(dst []byte, f Format) []byte {
	ev := r.Event
	var seq, status, stamp [32]byte
	head := [...]string{
		string(f),
		r.Link.ChainID,
		string(strconv.AppendInt(seq[:0], r.Link.Seq, 10)),
		r.Link.PrevID,
		r.Link.PrevHash,
		ev.ID,
		string(ev.Time.UTC().AppendFormat(stamp[:0], TimeLayout)),
		ev.OrganizationID,
		ev.Actor,
		string(ev.Action),
		ev.KeyID,
		ev.RequestID,
	}
	tail := [...]string{
		ev.TraceID,
		ev.Method,
		ev.Path,
		ev.ClientIP,
		ev.UserAgent,
		string(strconv.AppendInt(status[:0], int64(ev.Status), 10)),
		string(ev.Outcome),
		ev.Scope,
		r.RawDetails,
	}
	dst = appendNetstrings(dst, head[:]...)
	if f != FormatV1 {
		// Events written before v2 have no client request id: v1 keeps
		// the fields it always had.
		dst = appendNetstrings(dst, ev.ClientRequestID)
	}
	return appendNetstrings(dst, tail[:]...)
}

// appendNetstrings appends each field as a netstring to dst.
func appendNetstrings(dst []byte, fields ...string) []byte {
	n := 0
	for _, f := range fields {
		n += len(f) + 22
	}
	dst = slices.Grow(dst, n)
	for _, f := range fields {
		dst = strconv.AppendInt(dst, int64(len(f)), 10)
		dst = append(dst, ':')
		dst = append(dst, f...)
		dst = append(dst, ',')
	}
	return dst
}

// HashV1 returns r's v1 link hash: the lowercase hex SHA-256 of its v1
// encoding.
func (r Record) HashV1() string {
	var buf [1024]byte // most records fit: no allocation for the encoding
	sum := sha256.Sum256(r.AppendCanonical(buf[:0], FormatV1))
	return hex.EncodeToString(sum[:])
}

// HashV2 returns r's v2 link hash under k: the lowercase hex
// HMAC-SHA-256 of its v2 encoding.
func (r Record) HashV2(k ChainKey) string {
	return k.sum(func(dst []byte) []byte { return r.AppendCanonical(dst, FormatV2) })
}

// Chain is one writer's hash chain as its registry entry describes it: the
// head is the last event appended, the anchor the last event a purge
// deleted (zero when nothing was purged).
//
// The registry entry is sealed with the chain's key: HeadSeal and
// AnchorSeal are HMACs (ComputeHeadSeal, ComputeAnchorSeal) over the
// chain id, KeyedFrom and the head or anchor, so that no one without the
// key can change which links are keyed, rewind the head or move the anchor
// unnoticed.
type Chain struct {
	ID         string
	Writer     string    // host and process that wrote the chain
	CreatedAt  time.Time // when its first event was written
	Registered bool      // false when events name a chain the registry lacks
	HeadSeq    int64
	HeadID     string
	HeadHash   string
	AnchorSeq  int64
	AnchorID   string
	AnchorHash string
	AnchorTime *time.Time // time of the anchor event
	PurgedAt   *time.Time // when the last purge of this chain ran
	// KeyID names the chain key that seals the entry and keys the v2
	// links (ChainKey.ID); empty for an entry no key ever sealed.
	KeyID string
	// KeyedFrom is the first seq whose link is v2; the links before it
	// are v1. It is 1 for a chain written since chains are keyed, and one
	// past the head for a chain the upgrade to keyed chains found (whose
	// writer, an older version, adds nothing keyed to it). 0: no link is
	// keyed (an entry no key ever sealed).
	KeyedFrom  int64
	HeadSeal   string
	AnchorSeal string // empty when nothing was purged
}

// Keyed reports whether the link at seq is v2 (keyed) in c.
func (c Chain) Keyed(seq int64) bool { return c.KeyedFrom > 0 && seq >= c.KeyedFrom }

// LinkHash returns the link hash r must hold at its seq in c: v2 under k
// from c.KeyedFrom on, v1 before. k must not be zero for a keyed seq.
func (c Chain) LinkHash(r Record, k ChainKey) string {
	if c.Keyed(r.Link.Seq) {
		return r.HashV2(k)
	}
	return r.HashV1()
}

// Tags of the seals' encodings, distinct from every link's first field.
const (
	headSealTag   = "apikeys-audit-head-v2"
	anchorSealTag = "apikeys-audit-anchor-v2"
)

// ComputeHeadSeal returns the seal of c's head under k: the hex
// HMAC-SHA-256 of the netstrings of "apikeys-audit-head-v2", the chain id,
// KeyedFrom, HeadSeq (both decimal), HeadID and HeadHash.
func (c Chain) ComputeHeadSeal(k ChainKey) string {
	return k.mac(headSealTag, c.ID, strconv.FormatInt(c.KeyedFrom, 10),
		strconv.FormatInt(c.HeadSeq, 10), c.HeadID, c.HeadHash)
}

// ComputeAnchorSeal returns the seal of c's purge anchor under k, as
// ComputeHeadSeal with "apikeys-audit-anchor-v2" and the anchor's seq, id
// and hash; empty when c has no anchor (AnchorSeq 0).
func (c Chain) ComputeAnchorSeal(k ChainKey) string {
	if c.AnchorSeq == 0 {
		return ""
	}
	return k.mac(anchorSealTag, c.ID, strconv.FormatInt(c.KeyedFrom, 10),
		strconv.FormatInt(c.AnchorSeq, 10), c.AnchorID, c.AnchorHash)
}

// Seal records in c that k seals it, and its seals under k.
func (c *Chain) Seal(k ChainKey) {
	c.KeyID = k.ID()
	c.HeadSeal = c.ComputeHeadSeal(k)
	c.AnchorSeal = c.ComputeAnchorSeal(k)
}
