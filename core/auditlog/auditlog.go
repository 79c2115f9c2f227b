// Package auditlog implements the audit-log use cases of apikeys: reading
// the trail (per organization, per key), verifying its hash chains and
// purging it past the retention.
package auditlog

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/paging"
	"github.com/agentauri/apikeys/ports"
)

// Limits of the audit-log API.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// usageActions are the actions that count as uses of a key.
var usageActions = []audit.Action{audit.ActionKeyUsed, audit.ActionKeyAuthFailed}

// Events is what the audit log reads events from.
type Events interface {
	ListEvents(ctx context.Context, q ports.AuditQuery) (ports.AuditPage, error)
}

// Keys tells which organization a key belongs to.
type Keys interface {
	GetKey(ctx context.Context, id string) (apikey.Key, error)
}

// Deps are the ports the audit-log use cases need; every one is required.
type Deps struct {
	Events  Events            // reads events
	Chains  ports.AuditChains // verification, retention, purge records
	Keys    Keys              // which organization a key belongs to
	Clock   ports.Clock
	Entropy io.Reader // for event ids
	// ChainKeys verify the chains: the key each chain is sealed with must
	// be among them (the current audit.chain_key, or a previous one).
	ChainKeys audit.ChainKeys
}

// Options tune a Service; the zero value is valid.
type Options struct {
	// Operators are the actors ("user:alice", "user:keycloak:bob",
	// "key:key_…") who may read the events that belong to no organization:
	// summaries of failed verifications that named no key (brute force)
	// and purge records. Nobody may when it is empty.
	Operators []string
}

// Service implements ports.AuditService and the operator's verify and
// purge commands.
type Service struct {
	d   Deps
	opt Options
}

var _ ports.AuditService = (*Service)(nil)

// New returns a Service, refusing a missing dependency.
func New(d Deps, opts ...Options) (*Service, error) {
	var missing []string
	for name, ok := range map[string]bool{
		"Events": d.Events != nil, "Chains": d.Chains != nil, "Keys": d.Keys != nil,
		"Clock": d.Clock != nil, "Entropy": d.Entropy != nil, "ChainKeys": !d.ChainKeys.IsZero(),
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("auditlog.New: missing %s", strings.Join(missing, ", "))
	}
	s := &Service{d: d}
	if len(opts) > 0 {
		s.opt = opts[0]
	}
	return s, nil
}

// memberOrgs returns the organizations whose events p may read. The empty
// organization, which holds the failures of unidentified keys, is never
// one of them.
func memberOrgs(p apikey.Principal) []string {
	out := make([]string, 0, len(p.Organizations))
	for _, o := range p.Organizations {
		if o != "" {
			out = append(out, o)
		}
	}
	return out
}

// List returns one page of the events the principal may read, newest
// first: those of its organizations, or of in.OrganizationID, which must
// be one of them (else a forbidden_organization error, as for keys).
func (a *Service) List(ctx context.Context, p apikey.Principal, in ports.AuditListInput) (ports.AuditPage, error) {
	if err := p.RequireManage(); err != nil {
		return ports.AuditPage{}, err
	}
	orgs := memberOrgs(p)
	switch {
	case in.Unattributed && in.OrganizationID != "":
		return ports.AuditPage{}, apikey.Invalid("unattributed", "unattributed=true and organization_id exclude each other")
	case in.Unattributed:
		if !slices.Contains(a.opt.Operators, p.Actor()) {
			return ports.AuditPage{}, &apikey.DeniedError{Field: "unattributed", Code: "forbidden_organization",
				Message: "only operators (audit.operators) may read the events that belong to no organization"}
		}
		orgs = []string{""}
	case in.OrganizationID != "":
		if !apikey.ValidOrganizationID(in.OrganizationID) {
			return ports.AuditPage{}, apikey.InvalidOrganizationID("organization_id")
		}
		if !p.MemberOf(in.OrganizationID) {
			return ports.AuditPage{}, apikey.ForbiddenOrganization("organization_id", in.OrganizationID)
		}
		orgs = []string{in.OrganizationID}
	}
	limit, err := paging.Size(in.Limit, DefaultLimit, MaxLimit)
	if err != nil {
		return ports.AuditPage{}, err
	}
	q := ports.AuditQuery{OrganizationIDs: orgs, KeyID: in.KeyID, Actor: in.Actor, Since: in.Since, Until: in.Until, Limit: limit, After: in.After}
	if in.Action != "" {
		act := audit.Action(in.Action)
		if !act.Valid() {
			names := make([]string, len(audit.Actions))
			for i, x := range audit.Actions {
				names[i] = string(x)
			}
			return ports.AuditPage{}, &apikey.ValidationError{Field: "action", Code: "invalid_action",
				Message: "action must be one of " + strings.Join(names, ", ")}
		}
		q.Action = act
	}
	if in.KeyID != "" && !apikey.ValidKeyID(in.KeyID) {
		return ports.AuditPage{}, apikey.InvalidKeyID("key_id")
	}
	if in.Actor != "" && !apikey.ValidActor(in.Actor) {
		return ports.AuditPage{}, apikey.InvalidActor("actor")
	}
	if err := validWindow(in.Since, in.Until); err != nil {
		return ports.AuditPage{}, err
	}
	if err := validCursor(in.After); err != nil {
		return ports.AuditPage{}, err
	}
	if in.Since != nil && in.Until != nil && !in.Until.After(*in.Since) {
		return ports.AuditPage{}, apikey.Invalid("until", "until must be after since")
	}
	if len(orgs) == 0 {
		return ports.AuditPage{Events: []audit.Event{}}, nil
	}
	page, err := a.d.Events.ListEvents(ctx, q)
	if err != nil {
		return ports.AuditPage{}, fmt.Errorf("list audit events: %w", err)
	}
	return page, nil
}

// validWindow refuses a since or until no store can compare with.
func validWindow(since, until *time.Time) error {
	for _, b := range []struct {
		name, code string
		t          *time.Time
	}{{"since", "invalid_since", since}, {"until", "invalid_until", until}} {
		if b.t != nil && !apikey.ValidTime(*b.t) {
			return &apikey.ValidationError{Field: b.name, Code: b.code,
				Message: fmt.Sprintf("%s must lie between %s and %s", b.name,
					apikey.MinTime.Format(time.RFC3339), apikey.MaxTime.Format(time.RFC3339))}
		}
	}
	return nil
}

// validCursor refuses a cursor that cannot be a position in the events:
// an event id and a time a store can hold.
func validCursor(c *ports.Cursor) error {
	if c != nil && (!apikey.ValidEventID(c.ID) || !apikey.ValidTime(c.Time)) {
		return &apikey.ValidationError{Field: "cursor", Code: "invalid_cursor", Message: "cursor is not one this API returned"}
	}
	return nil
}

// KeyUsage returns one page of the uses of a key the principal may
// manage (key.used and key.auth_failed events naming it), newest first.
// A key of another organization is apikey.ErrNotFound, like an unknown id.
func (a *Service) KeyUsage(ctx context.Context, p apikey.Principal, keyID string, in ports.AuditPageInput) (ports.AuditPage, error) {
	if err := p.RequireManage(); err != nil {
		return ports.AuditPage{}, err
	}
	if !apikey.ValidKeyID(keyID) {
		return ports.AuditPage{}, apikey.ErrNotFound
	}
	if err := validCursor(in.After); err != nil {
		return ports.AuditPage{}, err
	}
	k, err := a.d.Keys.GetKey(ctx, keyID)
	if err != nil {
		return ports.AuditPage{}, err
	}
	if k.OrganizationID == "" || !p.MemberOf(k.OrganizationID) {
		return ports.AuditPage{}, apikey.ErrNotFound
	}
	limit, err := paging.Size(in.Limit, DefaultLimit, MaxLimit)
	if err != nil {
		return ports.AuditPage{}, err
	}
	page, err := a.d.Events.ListEvents(ctx, ports.AuditQuery{
		OrganizationIDs: []string{k.OrganizationID}, KeyID: k.ID, Actions: usageActions, Limit: limit, After: in.After,
	})
	if err != nil {
		return ports.AuditPage{}, fmt.Errorf("list key usage: %w", err)
	}
	return page, nil
}

// VerifyReport is the result of verifying every chain of the log.
type VerifyReport struct {
	Chains   []audit.ChainResult
	Events   int64 // events read
	Problems int64 // problems found, listed or omitted
}

// OK reports whether every chain verified.
func (r VerifyReport) OK() bool { return r.Problems == 0 }

// VerifyChains walks every hash chain of the log in one consistent
// snapshot, checking each chain's registry seals with its key (one of the
// ChainKeys), recomputing each event's link hash and following each link
// from the chain's anchor (or start) to its registered head. each, if not nil,
// receives every chain's result as soon as it is known. The report lists
// every modified, deleted, reordered or inserted event found.
func (a *Service) VerifyChains(ctx context.Context, each func(audit.ChainResult)) (VerifyReport, error) {
	var rep VerifyReport
	err := a.d.Chains.ReadChains(ctx, func(snap ports.ChainSnapshot) error {
		rep = VerifyReport{}
		chains, err := snap.Chains(ctx)
		if err != nil {
			return err
		}
		for _, c := range chains {
			v := audit.NewChainVerifier(c, a.d.ChainKeys)
			for rec, err := range snap.Records(ctx, c.ID, c.AnchorSeq) {
				if err != nil {
					return err
				}
				v.Add(rec)
			}
			res := v.Finish()
			rep.Chains = append(rep.Chains, res)
			rep.Events += res.Events
			rep.Problems += int64(len(res.Problems)) + res.Omitted
			if each != nil {
				each(res)
			}
		}
		return nil
	})
	if err != nil {
		return VerifyReport{}, fmt.Errorf("verify audit chains: %w", err)
	}
	return rep, nil
}

// PurgeReport says what a purge deleted.
type PurgeReport struct {
	Before  time.Time // events before this time were eligible
	Cuts    []ports.ChainCut
	Deleted int64
	EventID string // the audit.purged event recording the purge; "" if nothing was deleted
}

// Cutoff returns the time before which events are older than retention.
func (a *Service) Cutoff(retention time.Duration) time.Time {
	return a.d.Clock.Now().UTC().Add(-retention)
}

// maxPurgeDetail is how many chain cuts the audit.purged event lists.
const maxPurgeDetail = 100

// Purge deletes the events that happened before before, chain by chain,
// cutting each chain at a seq boundary and anchoring the rest (see
// ports.AuditChains.PurgeBefore), and records what it did as an
// audit.purged event by actor (e.g. "system:retention"). before must not
// be in the future.
func (a *Service) Purge(ctx context.Context, before time.Time, actor string) (PurgeReport, error) {
	now := a.d.Clock.Now().UTC()
	if before.After(now) {
		return PurgeReport{}, apikey.Invalid("before", "the purge cutoff %s is in the future", before.UTC().Format(time.RFC3339))
	}
	rep := PurgeReport{Before: before.UTC()}
	cuts, err := a.d.Chains.PurgeBefore(ctx, before)
	rep.Cuts = cuts
	for _, c := range cuts {
		rep.Deleted += c.Deleted
	}
	if len(cuts) > 0 {
		// Record what was cut even if a later chain failed.
		id, rerr := a.recordPurge(ctx, rep, actor)
		if rerr != nil && err == nil {
			err = rerr
		}
		rep.EventID = id
	}
	if err != nil {
		return rep, fmt.Errorf("purge audit events: %w", err)
	}
	return rep, nil
}

func (a *Service) recordPurge(ctx context.Context, rep PurgeReport, actor string) (string, error) {
	st, err := audit.NewStamp(a.d.Entropy, a.d.Clock.Now())
	if err != nil {
		return "", err
	}
	chains := make([]any, 0, min(len(rep.Cuts), maxPurgeDetail))
	for _, c := range rep.Cuts[:min(len(rep.Cuts), maxPurgeDetail)] {
		chains = append(chains, map[string]any{
			"chain_id": c.ChainID, "from_seq": c.FromSeq, "through_seq": c.ThroughSeq,
			"anchor_id": c.AnchorID, "anchor_hash": c.AnchorHash, "deleted": c.Deleted,
		})
	}
	ev := audit.System(st, audit.ActionAuditPurged, actor, map[string]any{
		"before": rep.Before.Format(time.RFC3339Nano), "deleted": rep.Deleted,
		"chains_cut": len(rep.Cuts), "chains": chains,
	})
	if err := a.d.Chains.RecordPurge(ctx, ev); err != nil {
		return "", fmt.Errorf("record purge: %w", err)
	}
	return ev.ID, nil
}
