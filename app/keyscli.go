package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentauri/apikeys/client"
)

// remote holds the flags of the commands that talk to a running server:
// where it is, how to authenticate, and how to print its answers.
type remote struct {
	load   func() (Config, error)
	server string
	token  string
	orgs   []string // also the organizations of a minted development token
	output string
}

func (r *remote) flags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&r.server, "server", "", "base URL of the apikeys server (default $APIKEYS_SERVER, else http.addr of the configuration)")
	f.StringVar(&r.token, "token", "", "bearer token (default $APIKEYS_TOKEN; in development, minted from the local jwt.secret for --org)")
	f.StringVarP(&r.output, "output", "o", "table", "table or json")
}

// client returns a client of the server, authenticated with --token,
// APIKEYS_TOKEN, or, in development only, a short-lived token minted with
// the local configuration's jwt.secret for the organizations of --org.
func (r *remote) client(cmd *cobra.Command) (*client.Client, error) {
	if r.output != "table" && r.output != "json" {
		return nil, fmt.Errorf("--output must be table or json, got %q", r.output)
	}
	cfg, err := r.load()
	if err != nil {
		return nil, err
	}
	server := firstNonEmpty(r.server, os.Getenv("APIKEYS_SERVER"))
	if server == "" {
		if server, err = localURL(cfg.HTTP.Addr); err != nil {
			return nil, err
		}
	}
	token := firstNonEmpty(r.token, os.Getenv("APIKEYS_TOKEN"))
	if token == "" {
		if cfg.Production() {
			return nil, errors.New("no token: pass --token or set APIKEYS_TOKEN (tokens are minted locally only in development)")
		}
		if len(r.orgs) == 0 {
			return nil, errors.New("no token: pass --token, set APIKEYS_TOKEN, or name the organization with --org to mint a development token")
		}
		if token, err = mintDevToken(cfg, cliSubject(), r.orgs, 10*time.Minute); err != nil {
			return nil, fmt.Errorf("mint a development token: %w", err)
		}
	}
	return client.New(server, client.WithToken(token), client.WithUserAgent("apikeys-cli/"+Version))
}

// cliSubject is the subject of a minted development token: the local user.
func cliSubject() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli-" + u
	}
	return "cli"
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// org is the one organization of --org, or "" (the server then picks the
// caller's only one, or asks for it).
func (r *remote) org() (string, error) {
	switch len(r.orgs) {
	case 0:
		return "", nil
	case 1:
		return r.orgs[0], nil
	}
	return "", errors.New("--org names one organization for this command")
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// keysCommand is `apikeys keys create|list|get|update|rotate|revoke`.
func keysCommand(load func() (Config, error)) *cobra.Command {
	r := &remote{load: load}
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the keys of a running server over its HTTP API",
		Long: `Create, list, show, update, rotate and revoke keys through a running apikeys server.

The server is --server, or $APIKEYS_SERVER, or the http.addr of the
configuration. The bearer token is --token, or $APIKEYS_TOKEN; in
development, without one, a 10-minute token is minted with the local
jwt.secret for the organization of --org (as 'apikeys token' does).`,
	}
	r.flags(cmd)
	cmd.PersistentFlags().StringSliceVar(&r.orgs, "org", nil, "organization (of the key, of the listing, and of a minted token)")
	cmd.AddCommand(keysCreate(r), keysList(r), keysGet(r), keysUpdate(r), keysRotate(r), keysRevoke(r))
	return cmd
}

func keysCreate(r *remote) *cobra.Command {
	var in client.CreateKeyRequest
	var expiresAt, rateLimit, metadata string
	var expiresIn time.Duration
	cmd := &cobra.Command{
		Use:   "create --name NAME --scope SCOPE... [--org ORG]",
		Short: "Create a key; its secret is printed this once only",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if in.OrganizationID, err = r.org(); err != nil {
				return err
			}
			switch {
			case expiresAt != "" && expiresIn != 0:
				return errors.New("--expires-at and --expires-in are exclusive")
			case expiresAt != "":
				t, err := time.Parse(time.RFC3339, expiresAt)
				if err != nil {
					return fmt.Errorf("--expires-at must be an RFC 3339 time such as 2030-01-15T10:00:00Z: %w", err)
				}
				in.ExpiresAt = &t
			case expiresIn != 0:
				t := time.Now().Add(expiresIn).UTC().Truncate(time.Second)
				in.ExpiresAt = &t
			}
			if rateLimit != "" {
				if in.RateLimit, err = parseRateLimit(rateLimit); err != nil {
					return err
				}
			}
			if metadata != "" {
				if in.Metadata, err = jsonObject(metadata); err != nil {
					return err
				}
			}
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			issued, err := c.CreateKey(cmd.Context(), in)
			if err != nil {
				return err
			}
			return printSecret(cmd, r.output, issued, issued.Secret)
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.Name, "name", "", "name of the key (1-100 characters)")
	f.StringSliceVar(&in.Scopes, "scope", nil, "scope the key holds (repeat or comma-separate): "+strings.Join(allScopes, ", "))
	f.StringVar(&in.Environment, "env", "", "test (default) or live")
	f.StringVar(&expiresAt, "expires-at", "", "expiry, RFC 3339")
	f.DurationVar(&expiresIn, "expires-in", 0, "expiry, from now (e.g. 720h)")
	f.StringVar(&rateLimit, "rate-limit", "", "the key's budget, LIMIT/WINDOW with WINDOW 1s, 1m or 1h (e.g. 100/1m)")
	f.StringVar(&metadata, "metadata", "", `your facts about the key, a JSON object (e.g. '{"team":"billing"}')`)
	f.StringSliceVar(&in.IPAllowlist, "ip-allow", nil, "address or CIDR network the key may be used from (repeat or comma-separate)")
	return cmd
}

// jsonObject checks that s is a JSON object and returns it.
func jsonObject(s string) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return nil, fmt.Errorf("--metadata must be a JSON object such as '{\"team\":\"billing\"}'")
	}
	return json.RawMessage(s), nil
}

func keysUpdate(r *remote) *cobra.Command {
	var name, expiresAt, rateLimit, metadata string
	var scopes, allow []string
	var expiresIn time.Duration
	var noExpiry, noRateLimit, noMetadata, noAllowlist bool
	cmd := &cobra.Command{
		Use:   "update KEY_ID [--name N] [--scope S...] [--expires-at T | --no-expiry] [--rate-limit L/W | --no-rate-limit] ...",
		Short: "Change a key's name, scopes, expiry, rate limit, metadata or IP allowlist (what is not named is kept)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in client.UpdateKeyRequest
			f := cmd.Flags()
			if f.Changed("name") {
				in.Name = &name
			}
			if f.Changed("scope") {
				in.Scopes = scopes
			}
			switch {
			case (expiresAt != "") && (expiresIn != 0) || (expiresAt != "" || expiresIn != 0) && noExpiry:
				return errors.New("--expires-at, --expires-in and --no-expiry are exclusive")
			case expiresAt != "":
				t, err := time.Parse(time.RFC3339, expiresAt)
				if err != nil {
					return fmt.Errorf("--expires-at must be an RFC 3339 time such as 2030-01-15T10:00:00Z: %w", err)
				}
				in.ExpiresAt = &t
			case expiresIn != 0:
				t := time.Now().Add(expiresIn).UTC().Truncate(time.Second)
				in.ExpiresAt = &t
			}
			in.ClearExpiresAt = noExpiry
			if rateLimit != "" && noRateLimit || metadata != "" && noMetadata || f.Changed("ip-allow") && noAllowlist {
				return errors.New("a value and its --no-… flag are exclusive")
			}
			var err error
			if rateLimit != "" {
				if in.RateLimit, err = parseRateLimit(rateLimit); err != nil {
					return err
				}
			}
			in.ClearRateLimit = noRateLimit
			if metadata != "" {
				if in.Metadata, err = jsonObject(metadata); err != nil {
					return err
				}
			}
			in.ClearMetadata = noMetadata
			if f.Changed("ip-allow") {
				in.IPAllowlist = allow
			}
			in.ClearIPAllowlist = noAllowlist
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			k, err := c.UpdateKey(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			if r.output == "json" {
				return printJSON(cmd.OutOrStdout(), k)
			}
			return printKeyFields(cmd.OutOrStdout(), k)
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "new name")
	f.StringSliceVar(&scopes, "scope", nil, "the key's scopes, replacing its own (repeat or comma-separate)")
	f.StringVar(&expiresAt, "expires-at", "", "new expiry, RFC 3339")
	f.DurationVar(&expiresIn, "expires-in", 0, "new expiry, from now (e.g. 720h)")
	f.BoolVar(&noExpiry, "no-expiry", false, "remove the expiry")
	f.StringVar(&rateLimit, "rate-limit", "", "new budget, LIMIT/WINDOW (e.g. 100/1m)")
	f.BoolVar(&noRateLimit, "no-rate-limit", false, "remove the rate limit")
	f.StringVar(&metadata, "metadata", "", `JSON object merged into the key's metadata (a member set to null is removed)`)
	f.BoolVar(&noMetadata, "no-metadata", false, "remove all metadata")
	f.StringSliceVar(&allow, "ip-allow", nil, "the key's IP allowlist, replacing its own (repeat or comma-separate)")
	f.BoolVar(&noAllowlist, "no-ip-allowlist", false, "let the key be used from any address")
	return cmd
}

var allScopes = []string{client.ScopeTriggersRead, client.ScopeTriggersWrite, client.ScopeEventsRead,
	client.ScopeOrganizationsRead, client.ScopeOrganizationsWrite, client.ScopeAPIKeysManage}

// parseRateLimit reads LIMIT/WINDOW.
func parseRateLimit(s string) (*client.RateLimit, error) {
	limit, window, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(limit)
	if !ok || err != nil || n < 1 {
		return nil, fmt.Errorf("--rate-limit must be LIMIT/WINDOW such as 100/1m, got %q", s)
	}
	return &client.RateLimit{Limit: n, Window: window}, nil
}

// secretWarning is printed (to stderr) with every secret.
const secretWarning = "This is the only time the key is shown: store it now (a secret manager, not a file in the repository)."

// printSecret prints a created or rotated key with its secret, and the
// warning that it is shown once.
func printSecret(cmd *cobra.Command, output string, v any, secret string) error {
	out := cmd.OutOrStdout()
	if output == "json" {
		if err := printJSON(out, v); err != nil {
			return err
		}
	} else {
		if err := printKeyFields(out, v); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nkey: %s\n", secret)
	}
	fmt.Fprintln(cmd.ErrOrStderr(), secretWarning)
	return nil
}

// printKeyFields prints the fields of a key answer, one per line, the
// secret left out.
func printKeyFields(out io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, name := range []string{"id", "name", "organization_id", "environment", "scopes", "key_hint", "status",
		"created_at", "last_used_at", "expires_at", "rotated_at", "revoked_at", "rate_limit", "metadata", "ip_allowlist",
		"previous_key_hint", "previous_key_expires_at"} {
		v, ok := fields[name]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "%s:\t%s\n", name, cell(v))
	}
	return w.Flush()
}

// cell is a JSON value as a table shows it: "-" for null.
func cell(v any) string {
	switch t := v.(type) {
	case nil:
		return "-"
	case string:
		return t
	case []any:
		if len(t) == 0 {
			return "-"
		}
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = cell(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		if l, ok := t["limit"]; ok {
			return fmt.Sprintf("%v/%v", l, t["window"])
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func timeCell(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func keysList(r *remote) *cobra.Command {
	var o client.ListKeysOptions
	var all bool
	cmd := &cobra.Command{
		Use:   "list [--org ORG]",
		Short: "List keys, newest first (revoked ones with --include-revoked)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.OrganizationID, err = r.org(); err != nil {
				return err
			}
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			var keys []client.Key
			var page *client.KeyPage
			for {
				if page, err = c.ListKeys(cmd.Context(), o); err != nil {
					return err
				}
				keys = append(keys, page.Keys...)
				if !all || page.NextCursor == nil {
					break
				}
				o.Cursor = *page.NextCursor
			}
			if r.output == "json" {
				page.Keys = keys
				return printJSON(cmd.OutOrStdout(), page)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tORGANIZATION\tENV\tSTATUS\tSCOPES\tCREATED\tLAST USED")
			for _, k := range keys {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.OrganizationID, k.Environment, k.Status,
					strings.Join(k.Scopes, ","), k.CreatedAt.UTC().Format(time.RFC3339), timeCell(k.LastUsedAt))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if page.NextCursor != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d keys; next page: --cursor %s (or --all)\n", len(keys), page.Total, *page.NextCursor)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Limit, "limit", 0, "keys per page (server default 20, at most 100)")
	f.StringVar(&o.Cursor, "cursor", "", "the next page's cursor, from the previous listing")
	f.BoolVar(&o.IncludeRevoked, "include-revoked", false, "list revoked keys too")
	f.BoolVar(&all, "all", false, "follow every page")
	return cmd
}

func keysGet(r *remote) *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY_ID",
		Short: "Show one key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			k, err := c.GetKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if r.output == "json" {
				return printJSON(cmd.OutOrStdout(), k)
			}
			return printKeyFields(cmd.OutOrStdout(), k)
		},
	}
}

func keysRotate(r *remote) *cobra.Command {
	var o client.RotateOptions
	cmd := &cobra.Command{
		Use:   "rotate KEY_ID [--grace 24h]",
		Short: "Give a key a new secret, printed this once only; the old one is refused from now on, or after --grace",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			k, err := c.RotateKey(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			return printSecret(cmd, r.output, k, k.Secret)
		},
	}
	cmd.Flags().DurationVar(&o.GracePeriod, "grace", 0, "keep the old secret working this long beside the new one (at most 168h)")
	return cmd
}

func keysRevoke(r *remote) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke a key; it is refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			if err := c.RevokeKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			if r.output == "json" {
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": args[0], "revoked": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	}
}

// auditLogsCommand is `apikeys audit logs`: the audit trail through a
// running server.
func auditLogsCommand(load func() (Config, error)) *cobra.Command {
	r := &remote{load: load}
	var o client.AuditLogOptions
	var since, until string
	cmd := &cobra.Command{
		Use:   "logs [--org ORG]",
		Short: "List audit events through a running server, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.OrganizationID, err = r.org(); err != nil {
				return err
			}
			for _, t := range []struct {
				flag, v string
				dst     *time.Time
			}{{"--since", since, &o.Since}, {"--until", until, &o.Until}} {
				if t.v == "" {
					continue
				}
				if *t.dst, err = time.Parse(time.RFC3339, t.v); err != nil {
					return fmt.Errorf("%s must be an RFC 3339 time such as 2030-01-15T10:00:00Z: %w", t.flag, err)
				}
			}
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			page, err := c.AuditLogs(cmd.Context(), o)
			if err != nil {
				return err
			}
			if r.output == "json" {
				return printJSON(cmd.OutOrStdout(), page)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TIME\tACTION\tACTOR\tKEY\tOUTCOME\tSTATUS\tCLIENT IP\tREQUEST ID")
			for _, ev := range page.Events {
				status := "-"
				if ev.Status != nil {
					status = strconv.Itoa(*ev.Status)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.UTC().Format(time.RFC3339), ev.Action, ev.Actor,
					deref(ev.KeyID), deref(ev.Outcome), status, deref(ev.ClientIP), deref(ev.RequestID))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if page.NextCursor != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "next page: --cursor %s\n", *page.NextCursor)
			}
			return nil
		},
	}
	r.flags(cmd)
	f := cmd.Flags()
	f.StringSliceVar(&r.orgs, "org", nil, "organization (of the events, and of a minted token)")
	f.StringVar(&o.KeyID, "key", "", "events of this key id")
	f.StringVar(&o.Action, "action", "", "key.created, key.used, key.auth_failed, key.rotated, key.revoked or audit.purged")
	f.StringVar(&o.Actor, "actor", "", "events of this actor (user:<sub>, key:<id>, ...)")
	f.StringVar(&since, "since", "", "events at or after this time (RFC 3339)")
	f.StringVar(&until, "until", "", "events before this time (RFC 3339)")
	f.BoolVar(&o.Unattributed, "unattributed", false, "the events of no organization (audit.operators only)")
	f.IntVar(&o.Limit, "limit", 0, "events per page (server default 50, at most 200)")
	f.StringVar(&o.Cursor, "cursor", "", "the next page's cursor, from the previous listing")
	return cmd
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}
