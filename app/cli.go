// Package app is the composition root of apikeys: it loads the Config,
// builds every adapter, wires them into the core and exposes the CLI
// commands serve, migrate, audit, token and version.
package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentauri/apikeys/adapters/gormstore"
)

// Version is the build's version, set with -ldflags "-X .../app.Version=v1.2.3".
var Version = "dev"

// NewCLI returns the root command of the apikeys binary.
func NewCLI() *cobra.Command {
	var configPath string
	root := &cobra.Command{
		Use:           "apikeys",
		Short:         "Issue, verify, rotate and revoke API keys for organizations",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&configPath, "config", "", "YAML configuration file (default "+DefaultConfigPath+" if present)")
	load := func() (Config, error) { return Load(configPath, os.Environ()) }

	root.AddCommand(&cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP service",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return Serve(ctx, cfg, NewLogger(cfg.Log), nil)
		},
	})

	migrate := &cobra.Command{Use: "migrate", Short: "Apply or list database migrations"}
	migrate.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, load, func(st *gormstore.Store, cfg Config) error {
				before, err := st.Pending(cmd.Context())
				if err != nil {
					return err
				}
				if err := st.Migrate(cmd.Context()); err != nil {
					return fmt.Errorf("migrate up: %w", err)
				}
				if before == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "nothing to apply; the %s schema is current\n", cfg.Storage.Driver)
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "applied %d migration(s); the %s schema is current\n", before, cfg.Storage.Driver)
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, load, func(st *gormstore.Store, _ Config) error {
				states, err := st.MigrationStatus(cmd.Context())
				if err != nil {
					return fmt.Errorf("migrate status: %w", err)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "VERSION\tNAME\tSTATE\tAPPLIED AT")
				for _, s := range states {
					state, at := "pending", "-"
					if s.Applied {
						state, at = "applied", s.AppliedAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(w, "%05d\t%s\t%s\t%s\n", s.Version, s.Name, state, at)
				}
				return w.Flush()
			})
		},
	})
	root.AddCommand(migrate)
	root.AddCommand(auditCommand(load))
	root.AddCommand(keysCommand(load))

	var sub string
	var orgs []string
	var ttl time.Duration
	token := &cobra.Command{
		Use:   "token",
		Short: "Print a JWT for the management API, signed with the configured secret",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			tok, err := mintDevToken(cfg, sub, orgs, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	token.Flags().StringVar(&sub, "sub", "", "subject (user id) of the token")
	token.Flags().StringSliceVar(&orgs, "org", nil, "organization the subject may manage keys of (required; repeat or comma-separate)")
	token.Flags().DurationVar(&ttl, "ttl", time.Hour, "lifetime of the token (at most jwt.max_ttl)")
	root.AddCommand(token)

	root.AddCommand(newHealthcheckCommand(load))

	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "apikeys", Version)
		},
	})
	return root
}

// Main runs the CLI with the process arguments and returns the exit code.
func Main(ctx context.Context, args []string) int {
	cmd := NewCLI()
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "apikeys:", err)
		return 1
	}
	return 0
}

// withStore loads the configuration (with the development secrets, which
// hold the audit chain key migrations and audit commands need), opens the
// configured database, runs fn on it and closes it.
func withStore(cmd *cobra.Command, load func() (Config, error), fn func(*gormstore.Store, Config) error) error {
	cfg, err := load()
	if err != nil {
		return err
	}
	if _, _, err := ResolveSecrets(&cfg); err != nil {
		return err
	}
	st, err := OpenStore(cmd.Context(), cfg, NewLogger(cfg.Log))
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st, cfg)
}

// selfCommand is how to run this binary again as it was invoked: its path
// (bin/apikeys after `make run`), or `go run .` for a binary `go run`
// built in a temporary directory.
func selfCommand() string {
	p := os.Args[0]
	if p == "" || strings.Contains(filepath.ToSlash(p), "/go-build") {
		return "go run ."
	}
	return p
}
