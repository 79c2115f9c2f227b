package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/auditlog"
)

// Actors of the purge event, by where the purge ran.
const (
	actorPurgeJob = "system:retention-job"
	actorPurgeCLI = "system:cli"
)

// newAuditLog builds the audit-log use cases on store, verifying chains
// with the chain keys of cfg.
func newAuditLog(cfg AuditConfig, store *gormstore.Store) (*auditlog.Service, error) {
	chainKeys, err := cfg.chainKeys()
	if err != nil {
		return nil, err
	}
	return auditlog.New(auditlog.Deps{Events: store, Chains: store, Keys: store, Clock: systemClock{}, Entropy: rand.Reader, ChainKeys: chainKeys},
		auditlog.Options{Operators: cfg.Operators})
}

// chainKeys returns the audit chain keys of a: audit.chain_key, the
// current one, and audit.previous_chain_keys. Its errors name the setting.
func (a AuditConfig) chainKeys() (audit.ChainKeys, error) {
	if a.ChainKey == "" {
		if len(a.PreviousChainKeys) > 0 {
			return audit.ChainKeys{}, errors.New("audit.previous_chain_keys: set audit.chain_key too, the key new chains are written with")
		}
		return audit.ChainKeys{}, errors.New("audit.chain_key: not set; the audit chains cannot be written or verified without it")
	}
	if _, err := audit.NewChainKey([]byte(a.ChainKey)); err != nil {
		return audit.ChainKeys{}, fmt.Errorf("audit.chain_key: %w", err)
	}
	ks, err := audit.NewChainKeys([]byte(a.ChainKey), secretBytes(a.PreviousChainKeys)...)
	if err != nil {
		return audit.ChainKeys{}, fmt.Errorf("audit.previous_chain_keys: %w", err)
	}
	return ks, nil
}

// secretBytes returns each secret as bytes.
func secretBytes(secrets []string) [][]byte {
	out := make([][]byte, len(secrets))
	for i, s := range secrets {
		out[i] = []byte(s)
	}
	return out
}

// startPurgeJob runs, every cfg.Audit.PurgeInterval, a purge of the
// events older than cfg.Audit.Retention, until the returned closer is
// called (which waits for a purge under way). With no retention or no
// interval it does nothing.
func startPurgeJob(cfg Config, log *auditlog.Service, logger *slog.Logger) (stop func(context.Context) error) {
	if cfg.Audit.Retention <= 0 || cfg.Audit.PurgeInterval <= 0 {
		return func(context.Context) error { return nil }
	}
	stop = every(cfg.Audit.PurgeInterval, func(ctx context.Context) {
		rep, err := log.Purge(ctx, log.Cutoff(cfg.Audit.Retention), actorPurgeJob)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("audit purge", slog.String("error", err.Error()), slog.Int64("deleted", rep.Deleted))
		case rep.Deleted > 0:
			logger.Info("audit purge", slog.Int64("deleted", rep.Deleted), slog.Int("chains", len(rep.Cuts)),
				slog.Time("before", rep.Before), slog.String("event_id", rep.EventID))
		}
	})
	logger.Info("audit purge job started", slog.Duration("retention", cfg.Audit.Retention),
		slog.Duration("interval", cfg.Audit.PurgeInterval))
	return stop
}

// errAuditProblems says verification found the log tampered with.
var errAuditProblems = errors.New("audit log verification failed")

// auditCommand is `apikeys audit verify|purge`.
func auditCommand(load func() (Config, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List audit events through a running server, verify the audit log's hash chains, or purge events past retention",
	}
	cmd.AddCommand(auditLogsCommand(load))

	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check every hash chain of the audit log; exit non-zero on any modified, deleted, reordered or inserted event",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAuditLog(cmd, load, func(al *auditlog.Service, _ Config) error {
				return runVerify(cmd.Context(), al, cmd.OutOrStdout(), asJSON)
			})
		},
	}
	verify.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.AddCommand(verify)

	var before string
	var olderThan time.Duration
	var force bool
	purge := &cobra.Command{
		Use:   "purge",
		Short: "Delete the audit events older than audit.retention (or --older-than / --before), leaving each chain verifiable",
		Long: `Delete, chain by chain, the audit events that happened before the cutoff:
now minus audit.retention, or --older-than, or --before. Each chain is cut at
a seq boundary and its registry entry keeps the last deleted event as an
anchor, so that 'apikeys audit verify' still checks the rest. The purge is
itself recorded as an audit.purged event.

The chains are verified first, and nothing is deleted if any problem is
found (deleting tampered events would destroy the evidence); --force
purges anyway.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAuditLog(cmd, load, func(al *auditlog.Service, cfg Config) error {
				cutoff, err := purgeCutoff(al, cfg, before, olderThan)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if !force {
					rep, err := al.VerifyChains(cmd.Context(), nil)
					if err != nil {
						return err
					}
					if !rep.OK() {
						printProblems(out, rep)
						return fmt.Errorf("%w: %d problems; nothing purged (use --force to purge anyway)", errAuditProblems, rep.Problems)
					}
				}
				rep, err := al.Purge(cmd.Context(), cutoff, actorPurgeCLI)
				for _, c := range rep.Cuts {
					fmt.Fprintf(out, "chain %s: deleted %d events (seq %d to %d); anchor %s %s\n",
						c.ChainID, c.Deleted, c.FromSeq, c.ThroughSeq, c.AnchorID, c.AnchorHash)
				}
				if err != nil {
					return err
				}
				if rep.Deleted == 0 {
					fmt.Fprintf(out, "no audit events before %s\n", cutoff.UTC().Format(time.RFC3339))
					return nil
				}
				fmt.Fprintf(out, "purged %d audit events before %s from %d chains (recorded as %s)\n",
					rep.Deleted, cutoff.UTC().Format(time.RFC3339), len(rep.Cuts), rep.EventID)
				return nil
			})
		},
	}
	purge.Flags().StringVar(&before, "before", "", "delete events before this RFC 3339 time")
	purge.Flags().DurationVar(&olderThan, "older-than", 0, "delete events older than this (default audit.retention)")
	purge.Flags().BoolVar(&force, "force", false, "purge even if verification finds problems")
	cmd.AddCommand(purge)
	return cmd
}

// purgeCutoff picks the cutoff of a purge from the flags or the
// configured retention.
func purgeCutoff(al *auditlog.Service, cfg Config, before string, olderThan time.Duration) (time.Time, error) {
	switch {
	case before != "" && olderThan != 0:
		return time.Time{}, errors.New("give --before or --older-than, not both")
	case before != "":
		t, err := time.Parse(time.RFC3339Nano, before)
		if err != nil {
			return time.Time{}, fmt.Errorf("--before must be an RFC 3339 time such as 2025-01-31T00:00:00Z, got %q", before)
		}
		return t, nil
	case olderThan < 0:
		return time.Time{}, fmt.Errorf("--older-than must be positive, got %s", olderThan)
	case olderThan > 0:
		return al.Cutoff(olderThan), nil
	case cfg.Audit.Retention > 0:
		return al.Cutoff(cfg.Audit.Retention), nil
	}
	return time.Time{}, errors.New("audit.retention is 0 (keep forever): set it, or pass --older-than or --before")
}

// withAuditLog opens the configured database and runs fn on its audit log.
func withAuditLog(cmd *cobra.Command, load func() (Config, error), fn func(*auditlog.Service, Config) error) error {
	return withStore(cmd, load, func(st *gormstore.Store, cfg Config) error {
		if n, err := st.Pending(cmd.Context()); err != nil {
			return fmt.Errorf("check migrations: %w", err)
		} else if n > 0 {
			return fmt.Errorf("%d database migrations are pending: run `apikeys migrate up` first", n)
		}
		al, err := newAuditLog(cfg.Audit, st)
		if err != nil {
			return err
		}
		return fn(al, cfg)
	})
}

// runVerify verifies every chain and prints the report.
func runVerify(ctx context.Context, al *auditlog.Service, out io.Writer, asJSON bool) error {
	var each func(audit.ChainResult)
	if !asJSON {
		each = func(r audit.ChainResult) { printChain(out, r) }
	}
	rep, err := al.VerifyChains(ctx, each)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(verifyJSON(rep)); err != nil {
			return err
		}
	} else {
		printProblems(out, rep)
		verdict := "no problems found"
		if !rep.OK() {
			verdict = fmt.Sprintf("%d problems found", rep.Problems)
		}
		fmt.Fprintf(out, "verified %d chains, %d events: %s\n", len(rep.Chains), rep.Events, verdict)
	}
	if !rep.OK() {
		return fmt.Errorf("%w: %d problems", errAuditProblems, rep.Problems)
	}
	return nil
}

func printChain(out io.Writer, r audit.ChainResult) {
	c := r.Chain
	id := c.ID
	if id == "" {
		id = "(no chain)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "chain %s: %d events", id, r.Events)
	if r.Events > 0 {
		fmt.Fprintf(&b, " (seq %d to %d)", r.FirstSeq, r.LastSeq)
	}
	if c.AnchorSeq > 0 {
		fmt.Fprintf(&b, ", purged through seq %d", c.AnchorSeq)
	}
	if c.Registered {
		fmt.Fprintf(&b, ", head seq %d %s", c.HeadSeq, c.HeadHash)
		switch {
		case c.KeyID == "":
			b.WriteString(", not sealed")
		case c.KeyedFrom > 1:
			fmt.Fprintf(&b, ", key %s, keyed from seq %d", c.KeyID, c.KeyedFrom)
		default:
			fmt.Fprintf(&b, ", key %s", c.KeyID)
		}
		if c.Writer != "" {
			fmt.Fprintf(&b, ", writer %q", c.Writer)
		}
	}
	if r.OK() {
		b.WriteString(": ok")
	} else {
		fmt.Fprintf(&b, ": %d problems", int64(len(r.Problems))+r.Omitted)
	}
	fmt.Fprintln(out, b.String())
}

func printProblems(out io.Writer, rep auditlog.VerifyReport) {
	for _, r := range rep.Chains {
		for _, p := range r.Problems {
			fmt.Fprintf(out, "%-9s chain %s seq %d", strings.ToUpper(string(p.Kind)), p.ChainID, p.Seq)
			if p.LastSeq != p.Seq {
				fmt.Fprintf(out, "-%d", p.LastSeq)
			}
			if p.EventID != "" {
				fmt.Fprintf(out, " event %s", p.EventID)
			}
			fmt.Fprintf(out, ": %s\n", p.Message)
		}
		if r.Omitted > 0 {
			fmt.Fprintf(out, "... and %d more problems in chain %s\n", r.Omitted, r.Chain.ID)
		}
	}
}

// verifyReportJSON is the --json form of a verification.
type verifyReportJSON struct {
	OK       bool              `json:"ok"`
	Events   int64             `json:"events"`
	Problems int64             `json:"problems"`
	Chains   []verifyChainJSON `json:"chains"`
}

type verifyChainJSON struct {
	ChainID    string        `json:"chain_id"`
	Writer     string        `json:"writer,omitempty"`
	Registered bool          `json:"registered"`
	Events     int64         `json:"events"`
	FirstSeq   int64         `json:"first_seq"`
	LastSeq    int64         `json:"last_seq"`
	HeadSeq    int64         `json:"head_seq"`
	HeadHash   string        `json:"head_hash"`
	AnchorSeq  int64         `json:"anchor_seq"`
	AnchorHash string        `json:"anchor_hash"`
	KeyID      string        `json:"key_id"`
	KeyedFrom  int64         `json:"keyed_from_seq"`
	OK         bool          `json:"ok"`
	Problems   []problemJSON `json:"problems"`
	Omitted    int64         `json:"omitted_problems"`
}

type problemJSON struct {
	Kind    string `json:"kind"`
	Seq     int64  `json:"seq"`
	LastSeq int64  `json:"last_seq"`
	EventID string `json:"event_id,omitempty"`
	Message string `json:"message"`
}

func verifyJSON(rep auditlog.VerifyReport) verifyReportJSON {
	out := verifyReportJSON{OK: rep.OK(), Events: rep.Events, Problems: rep.Problems, Chains: []verifyChainJSON{}}
	for _, r := range rep.Chains {
		c := verifyChainJSON{
			ChainID: r.Chain.ID, Writer: r.Chain.Writer, Registered: r.Chain.Registered, Events: r.Events,
			FirstSeq: r.FirstSeq, LastSeq: r.LastSeq, HeadSeq: r.Chain.HeadSeq, HeadHash: r.Chain.HeadHash,
			AnchorSeq: r.Chain.AnchorSeq, AnchorHash: r.Chain.AnchorHash, KeyID: r.Chain.KeyID, KeyedFrom: r.Chain.KeyedFrom, OK: r.OK(),
			Problems: []problemJSON{}, Omitted: r.Omitted,
		}
		for _, p := range r.Problems {
			c.Problems = append(c.Problems, problemJSON{Kind: string(p.Kind), Seq: p.Seq, LastSeq: p.LastSeq, EventID: p.EventID, Message: p.Message})
		}
		out.Chains = append(out.Chains, c)
	}
	return out
}
