package gormstore

import "context"

// MigrateUpTo applies the migrations up to version and no further, for
// tests that need a database as an earlier version of the service left it.
func (s *Store) MigrateUpTo(ctx context.Context, version int64) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}
