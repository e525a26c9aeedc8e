package seal_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

func TestLoadOrCreateKeyFileCreatesPrivateFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state", "keys")
	path := filepath.Join(dir, "idv-keys.json")

	r1, err := seal.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("LoadOrCreateKeyFile (create): %v", err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Fatalf("%s mode = %#o, want %#o", p, got, want)
		}
	}
	if !strings.HasPrefix(r1.CurrentKeyID(), "k20") {
		t.Fatalf("key id = %q, want k<timestamp>-<suffix>", r1.CurrentKeyID())
	}
	sealed := mustSeal(t, newEnvelope(t, r1, seal.Options{}), []byte("x"), nil)

	// The next start loads the same key.
	r2, err := seal.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("LoadOrCreateKeyFile (load): %v", err)
	}
	if r2.CurrentKeyID() != r1.CurrentKeyID() {
		t.Fatalf("reloaded current key %q, want %q", r2.CurrentKeyID(), r1.CurrentKeyID())
	}
	mustOpen(t, newEnvelope(t, r2, seal.Options{}), sealed, nil)

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("key directory holds %d files, want 1 (no temporary files left)", len(entries))
	}
}

func TestLoadOrCreateKeyFileConcurrentFirstRuns(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.json")
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			r, err := seal.LoadOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = r.CurrentKeyID()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent first runs disagree on the key: %v", ids)
		}
	}
}

func TestKeyFileRefusesLoosePermissions(t *testing.T) {
	t.Parallel()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "keys.json")
			if _, err := seal.LoadOrCreateKeyFile(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := seal.LoadOrCreateKeyFile(path)
			wantCode(t, err, idv.EINVALID)
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			_, err = seal.RotateKeyFile(path)
			wantCode(t, err, idv.EINVALID)
		})
	}
}

func TestKeyFileRefusesMalformed(t *testing.T) {
	t.Parallel()
	key := base64.StdEncoding.EncodeToString(masterK1)
	entry := func(id, key string) string {
		return `{"id":"` + id + `","key":"` + key + `","created":"2026-01-01T00:00:00Z"}`
	}
	tests := []struct {
		name, content string
	}{
		{"empty", ""},
		{"not json", "current=k1"},
		{"truncated", `{"current":"k1","keys":[` + entry("k1", key)},
		{"array", `[]`},
		{"no keys", `{"current":"k1","keys":[]}`},
		{"current missing", `{"current":"k2","keys":[` + entry("k1", key) + `]}`},
		{"bad base64", `{"current":"k1","keys":[` + entry("k1", "!!"+key[2:]) + `]}`},
		{"short key", `{"current":"k1","keys":[` + entry("k1", base64.StdEncoding.EncodeToString(masterK1[:16])) + `]}`},
		{"duplicate id", `{"current":"k1","keys":[` + entry("k1", key) + `,` + entry("k1", key) + `]}`},
		{"bad id", `{"current":"k 1","keys":[` + entry("k 1", key) + `]}`},
		{"unknown field", `{"current":"k1","keys":[` + entry("k1", key) + `],"extra":1}`},
		{"trailing data", `{"current":"k1","keys":[` + entry("k1", key) + `]} {}`},
		{"key not a string", `{"current":"k1","keys":[{"id":"k1","key":12}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "keys.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := seal.LoadOrCreateKeyFile(path)
			wantCode(t, err, idv.EINVALID, key, key[:12])
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
}

func TestKeyFileRefusesDirectory(t *testing.T) {
	t.Parallel()
	path := t.TempDir()
	if err := os.Chmod(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := seal.LoadOrCreateKeyFile(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("LoadOrCreateKeyFile(directory) = %v", err)
	}
}

// TestRotateKeyFile: seal under k1, rotate, new seals use k2 and old values
// still open; a ring without k1 cannot open them.
func TestRotateKeyFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.json")
	r1, err := seal.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k1 := r1.CurrentKeyID()
	old := mustSeal(t, newEnvelope(t, r1, seal.Options{}), []byte("before"), []byte("aad"))

	k2, err := seal.RotateKeyFile(path)
	if err != nil {
		t.Fatalf("RotateKeyFile: %v", err)
	}
	if k2 == k1 {
		t.Fatal("rotation kept the key id")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after rotation = %#o, want 0600", fi.Mode().Perm())
	}

	r2, err := seal.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if r2.CurrentKeyID() != k2 || len(r2.KeyIDs()) != 2 {
		t.Fatalf("after rotation: current %q, keys %v", r2.CurrentKeyID(), r2.KeyIDs())
	}
	e2 := newEnvelope(t, r2, seal.Options{})
	fresh := mustSeal(t, e2, []byte("after"), []byte("aad"))
	if got := keyIDOf(t, fresh); got != k2 {
		t.Fatalf("new value sealed under %q, want %q", got, k2)
	}
	if got := keyIDOf(t, old); got != k1 {
		t.Fatalf("old value names %q, want %q", got, k1)
	}
	if got := mustOpen(t, e2, old, []byte("aad")); string(got) != "before" {
		t.Fatalf("old value opened to %q", got)
	}

	// A ring with only the new key cannot open the old value.
	var kf struct {
		Keys []struct{ ID, Key string }
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &kf); err != nil {
		t.Fatal(err)
	}
	onlyNew := map[string][]byte{}
	for _, k := range kf.Keys {
		if k.ID == k2 {
			onlyNew[k.ID], _ = base64.StdEncoding.DecodeString(k.Key)
		}
	}
	e3 := newEnvelope(t, newRing(t, onlyNew, k2), seal.Options{})
	_, err = e3.Open(ctx, old, []byte("aad"))
	wantCode(t, err, idv.ETAMPERED)
	if !strings.Contains(err.Error(), k1) {
		t.Fatalf("error %q does not name the missing key %s", err, k1)
	}
	mustOpen(t, e3, fresh, []byte("aad"))

	// Rotating again keeps every key.
	if _, err := seal.RotateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	r3, err := seal.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(r3.KeyIDs()) != 3 {
		t.Fatalf("keys after two rotations = %v", r3.KeyIDs())
	}
}

func TestRotateKeyFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := seal.RotateKeyFile(filepath.Join(dir, "missing.json"))
	wantCode(t, err, idv.ENOTFOUND)

	path := filepath.Join(dir, "keys.json")
	if _, err := seal.LoadOrCreateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = seal.RotateKeyFile(path)
	wantCode(t, err, idv.ECONFLICT)
	if err := os.Remove(path + ".lock"); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.RotateKeyFile(path); err != nil {
		t.Fatalf("RotateKeyFile after the lock is gone: %v", err)
	}
	if _, err := os.Stat(path + ".lock"); !os.IsNotExist(err) {
		t.Fatalf("lock file left behind: %v", err)
	}
}

// LoadKeyFile never creates: a missing file is ENOTFOUND (matching
// fs.ErrNotExist) and nothing appears at the path or in its directory; an
// existing file loads as LoadOrCreateKeyFile made it.
func TestLoadKeyFileDoesNotCreate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "keys.json")
	_, err := seal.LoadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) || idv.ErrorCode(err) != idv.ENOTFOUND || !strings.Contains(err.Error(), path) {
		t.Fatalf("LoadKeyFile(missing) = %v, want ENOTFOUND naming %s", err, path)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKeyFile created %s: %v", dir, err)
	}
	made, err := seal.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := seal.LoadKeyFile(path)
	if err != nil {
		t.Fatalf("LoadKeyFile(existing): %v", err)
	}
	if loaded.CurrentKeyID() != made.CurrentKeyID() {
		t.Fatalf("loaded current key %q, want %q", loaded.CurrentKeyID(), made.CurrentKeyID())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.LoadKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("LoadKeyFile(0644) = %v, want a refusal naming the fix", err)
	}
}
