package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"time"
)

// ChainFormat names version 1 of the canonical encoding hashed into every
// chain link. It is the first field of the encoding, so a future version
// can never produce the hash of a v1 record.
const ChainFormat = "apikeys-audit-v1"

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
	Hash     string // hex SHA-256 of the record's canonical encoding
}

// Record is an event as the log stores it, with its link. Its hash covers
// RawDetails, the details JSON exactly as stored ("" when the event has
// none), not Event.Details, which is only a decoded view of it.
type Record struct {
	Event      Event
	Link       Link
	RawDetails string
}

// Canonical returns the canonical encoding of r: the netstrings
// (len ":" bytes ",") of, in order, ChainFormat, chain id, seq (decimal),
// previous event id, previous hash, event id, time (TimeLayout), organization
// id, actor, action, key id, request id, trace id, method, path, client IP,
// user agent, status (decimal), outcome, scope and raw details. Lengths are
// in bytes, written in decimal.
func (r Record) Canonical() []byte {
	return r.AppendCanonical(nil)
}

// AppendCanonical appends r's canonical encoding to dst and returns the
// extended buffer.
func (r Record) AppendCanonical(dst []byte) []byte {
	ev := r.Event
	var seq, status, stamp [32]byte
	fields := [...]string{
		ChainFormat,
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

// ComputeHash returns the lowercase hex SHA-256 of r's canonical encoding:
// the value r.Link.Hash must hold.
func (r Record) ComputeHash() string {
	var buf [1024]byte // most records fit: no allocation for the encoding
	sum := sha256.Sum256(r.AppendCanonical(buf[:0]))
	return hex.EncodeToString(sum[:])
}

// Chain is one writer's hash chain as its registry entry describes it: the
// head is the last event appended, the anchor the last event a purge
// deleted (zero when nothing was purged).
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
}
