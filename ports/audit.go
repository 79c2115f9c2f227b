package ports

import (
	"context"
	"iter"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
)

// AuditService is what the core offers driving adapters for reading the
// audit log. A principal sees only the events of its organizations;
// events without an organization (failures of unidentified keys, purges)
// are visible to no principal.
type AuditService interface {
	// List returns one page of events, newest first.
	List(ctx context.Context, p apikey.Principal, in AuditListInput) (AuditPage, error)
	// KeyUsage returns one page of the uses (key.used, key.auth_failed) of
	// a key the principal may manage, newest first; any other key id is
	// apikey.ErrNotFound.
	KeyUsage(ctx context.Context, p apikey.Principal, keyID string, in AuditPageInput) (AuditPage, error)
}

// AuditListInput selects audit events to list.
type AuditListInput struct {
	OrganizationID string // "" means every organization of the principal
	KeyID          string
	Action         string // one of audit.Actions, or ""
	Actor          string // "user:<sub>", "key:<id>", ...
	Since, Until   *time.Time
	// Unattributed asks for the events that belong to no organization
	// (summaries of failed verifications naming no key, purges) instead:
	// for operators only.
	Unattributed bool
	AuditPageInput
}

// AuditPageInput is the position and size of a page of events.
type AuditPageInput struct {
	Limit int // 0 means the default
	After *Cursor
}

// AuditChains is the tamper-evidence side of the audit log: every event
// is stored as a link of the hash chain of the process that wrote it,
// keyed with the chain key, and each chain's registry entry is sealed
// with that key (see audit.Chain).
type AuditChains interface {
	// ReadChains calls fn with one consistent, read-only snapshot of the
	// log: chains and events written while fn runs are not in it.
	ReadChains(ctx context.Context, fn func(ChainSnapshot) error) error
	// PurgeBefore deletes, chain by chain, the longest run of oldest
	// events that all happened before before, and records in the chain's
	// registry the last deleted event as its anchor, sealed with the
	// chain's key, so the rest of the chain still verifies. It returns what
	// it cut. A chain whose key it lacks, whose registry entry is not
	// sealed or whose anchor no longer matches its seal is left as it is
	// and named in the error; the others are still purged.
	PurgeBefore(ctx context.Context, before time.Time) ([]ChainCut, error)
	// RecordPurge appends ev, the audit.purged event describing a purge,
	// to the log.
	RecordPurge(ctx context.Context, ev audit.Event) error
}

// ChainSnapshot is a consistent view of the hash chains.
type ChainSnapshot interface {
	// Chains lists every chain, in id order: those of the registry, and
	// those only events name (Registered false). A chain with the empty
	// id, when listed, holds the events that belong to no chain.
	Chains(ctx context.Context) ([]audit.Chain, error)
	// Records yields the events of a chain with a seq above afterSeq, in
	// ascending seq order.
	Records(ctx context.Context, chainID string, afterSeq int64) iter.Seq2[audit.Record, error]
}

// ChainCut is what a purge deleted from one chain.
type ChainCut struct {
	ChainID    string
	FromSeq    int64 // first deleted seq
	ThroughSeq int64 // last deleted seq: the new anchor
	AnchorID   string
	AnchorHash string
	Deleted    int64
}
