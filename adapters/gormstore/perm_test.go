package gormstore_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSQLiteFilesArePrivate: the directory a SQLite database is created in
// is 0700 and the database, -wal and -shm files are 0600, whatever the
// umask lets through (issue 11 §11: they were 0755 and 0644, readable by
// every local user).
func TestSQLiteFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	file := filepath.Join(dir, "apikeys.db")
	s := openSQLite(t, file)
	k, ev := testKey("key_perm", lookupOf(1), time.Now().UTC().Truncate(time.Microsecond))
	if err := s.CreateKey(context.Background(), k, ev); err != nil {
		t.Fatal(err)
	}
	wantMode(t, dir, 0o700|os.ModeDir)
	for _, f := range []string{file, file + "-wal", file + "-shm"} {
		wantMode(t, f, 0o600)
	}
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s: mode %v, want %v", filepath.Base(path), fi.Mode(), want)
	}
}
