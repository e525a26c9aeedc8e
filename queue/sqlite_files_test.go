package queue

import (
	"os"
	"path/filepath"
	"testing"
)

// The SQLite file of `idv dev`, and the WAL and shared-memory files SQLite
// makes beside it, are the owner's only; opening the file again works.
func TestSQLiteFilesPrivate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jobs.sqlite")
	for range 2 {
		q, err := OpenSQLite(ctx(t), path, Config{})
		if err != nil {
			t.Fatalf("OpenSQLite: %v", err)
		}
		if err := q.Migrate(ctx(t)); err != nil { // writes: the WAL exists
			q.Close()
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			info, err := os.Stat(p)
			if err != nil {
				q.Close()
				t.Fatal(err)
			}
			if mode := info.Mode().Perm(); mode != 0o600 {
				t.Errorf("%s has mode %#o, want 0600", filepath.Base(p), mode)
			}
		}
		q.Close()
	}
}
