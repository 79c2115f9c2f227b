package gormstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/pressly/goose/v3"
)

// migrations holds the goose SQL migrations, one folder per dialect.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql migrations/mysql/*.sql
var migrations embed.FS

// MigrationState is the state of one migration in the database.
type MigrationState struct {
	Version   int64
	Name      string // file name, e.g. "00001_init.sql"
	Applied   bool
	AppliedAt time.Time // UTC; zero when not applied
}

// migrationLockID is the Postgres advisory lock that keeps two processes
// from migrating one database at the same time.
const migrationLockID int64 = 0x61706b6579 // "apkey"

// provider returns a goose provider for the store's dialect. Providers hold
// no global state, so stores migrate independently.
func (s *Store) provider() (*goose.Provider, error) {
	dialect := map[string]goose.Dialect{
		DriverSQLite:   goose.DialectSQLite3,
		DriverPostgres: goose.DialectPostgres,
		DriverMySQL:    goose.DialectMySQL,
	}[s.driver]
	fsys, err := fs.Sub(migrations, path.Join("migrations", s.driver))
	if err != nil {
		return nil, err
	}
	goMigrations, _ := s.goMigrations()
	// Out of order: a migration missing below the newest applied one is
	// applied too. Every migration here stands on its own (each adds its
	// own columns or tables, or can run again), so a database that missed
	// one, or had one forgotten on purpose to run it again (the chain-key
	// migration, 00005), is brought up to date instead of refused.
	return goose.NewProvider(dialect, s.sqlDB, fsys, goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(goMigrations...), goose.WithAllowOutofOrder(true))
}

// lockMigrations serializes migration work on the database and returns the
// function that ends it. On Postgres and MySQL the lock is a session lock
// (pg_advisory_lock, GET_LOCK) held on a connection of its own, so it
// covers every goose step, including the creation of the version table,
// works whatever the pool size, and is released if the process dies. On
// SQLite it is the store's writer slot; other processes are handled by
// retrying in Migrate.
func (s *Store) lockMigrations(ctx context.Context) (func(), error) {
	if s.newLockDB == nil {
		select {
		case s.writeSem <- struct{}{}:
			return func() { <-s.writeSem }, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	db := s.newLockDB()
	db.SetMaxOpenConns(1)
	// Closing the connection ends the session, which releases the lock.
	release := func() { db.Close() }
	var err error
	switch s.driver {
	case DriverPostgres:
		_, err = db.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockID)
	case DriverMySQL:
		// Named locks are server-wide: name this database's lock.
		var got sql.NullInt64
		err = db.QueryRowContext(ctx,
			"SELECT GET_LOCK(CONCAT('apikeys_migrate_', MD5(IFNULL(DATABASE(), ''))), ?)", 600).Scan(&got)
		if err == nil && got.Int64 != 1 {
			err = errors.New("timed out waiting for the migration lock")
		}
	}
	if err != nil {
		release()
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	return release, nil
}

// Migrate applies every pending migration. Running it on an up-to-date
// database does nothing, and several processes may run it at once.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	unlock, err := s.lockMigrations(ctx)
	if err != nil {
		return translate("migrate", err)
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		results, err := p.Up(ctx)
		for _, r := range results {
			if r.Error == nil {
				s.log.InfoContext(ctx, "applied migration", "driver", s.driver,
					"version", r.Source.Version, "file", s.migrationName(r.Source), "elapsed", r.Duration)
			}
		}
		if err == nil {
			return nil
		}
		var partial *goose.PartialError
		if !errors.As(err, &partial) {
			return translate("migrate", err)
		}
		// On SQLite another process may have applied the same migration
		// first; each migration runs in a transaction, so a failed one left
		// nothing behind and it is safe to go again.
		if attempt < 3 && s.applied(ctx, p, partial.Failed.Source.Version) {
			continue
		}
		return translate("migrate", fmt.Errorf("migration %d: %w", partial.Failed.Source.Version, partial.Err))
	}
}

// applied reports whether migration version is recorded as applied.
func (s *Store) applied(ctx context.Context, p *goose.Provider, version int64) bool {
	status, err := p.Status(ctx)
	if err != nil {
		return false
	}
	for _, st := range status {
		if st.Source.Version == version {
			return st.State == goose.StateApplied
		}
	}
	return false
}

// MigrationStatus lists every known migration in version order and whether
// it has been applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	p, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	// goose creates its version table on first use: do that under the
	// lock too.
	unlock, err := s.lockMigrations(ctx)
	if err != nil {
		return nil, translate("migration status", err)
	}
	defer unlock()
	status, err := p.Status(ctx)
	if err != nil {
		return nil, translate("migration status", err)
	}
	out := make([]MigrationState, len(status))
	for i, st := range status {
		out[i] = MigrationState{
			Version: st.Source.Version,
			Name:    s.migrationName(st.Source),
			Applied: st.State == goose.StateApplied,
		}
		if out[i].Applied {
			out[i].AppliedAt = st.AppliedAt.UTC()
		}
	}
	return out, nil
}

// Pending returns how many migrations have not been applied yet.
func (s *Store) Pending(ctx context.Context) (int, error) {
	status, err := s.MigrationStatus(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, st := range status {
		if !st.Applied {
			n++
		}
	}
	return n, nil
}
