package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDataFilesArePrivate: `apikeys serve` on SQLite, in a data directory
// that does not exist yet, makes it 0700 and its database (with -wal and
// -shm) and development secrets 0600, under the usual umask (issue 11
// §11: the directory was 0750 and the database files 0644).
func TestDataFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022) // the child inherits it
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	s := startIn(t, env{driver: "sqlite"}, dir)
	createKey(t, s, s.token("user_1", "org_123"), `{"name":"p","scopes":["events:read"]}`)
	for name, want := range map[string]os.FileMode{
		"": 0o700 | os.ModeDir, "apikeys.db": 0o600, "apikeys.db-wal": 0o600, "apikeys.db-shm": 0o600, "dev-secrets.json": 0o600,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", filepath.Join("data", name), fi.Mode(), want)
		}
	}
}
