package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv/internal/testenv"
)

// Only `idv keys init` and `idv dev` create a key file: web, worker and the
// operator commands refuse to start without one, naming keys.file and the
// fix, and create nothing. Their stores point at closed ports, so a role
// that went past the key file would fail on a connection instead.
func TestMissingKeyFileRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string // before --config
	}{
		{"web", []string{"web"}},
		{"worker", []string{"worker"}},
		{"rp list", []string{"rp", "list"}},
		{"keys", []string{"keys"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			keys := filepath.Join(dir, "keys", "keys.json")
			cfgPath := writeKeysConfig(t, dir, keys)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out bytes.Buffer
			err := run(ctx, append(append([]string{}, tc.args...), "--config", cfgPath), &out, &out)
			if err == nil || !strings.Contains(err.Error(), "keys.file") || !strings.Contains(err.Error(), "idv keys init") ||
				!strings.Contains(err.Error(), keys) {
				t.Fatalf("idv %s without its key file: %v, want an error naming keys.file, the path and `idv keys init`\n%s", tc.name, err, out.String())
			}
			if _, err := os.Stat(filepath.Dir(keys)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("idv %s created %s: %v", tc.name, filepath.Dir(keys), err)
			}
		})
	}
}

// `idv keys init` creates the key file (0600) once and then reports it;
// `idv keys` shows its current key and `idv keys rotate` adds one.
func TestKeysInit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys", "keys.json")
	cfgPath := writeKeysConfig(t, dir, keys)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idv := func(action ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, append([]string{"keys", "--config", cfgPath}, action...), &out, io.Discard); err != nil {
			t.Fatalf("idv keys %v: %v", action, err)
		}
		return out.String()
	}
	created := idv("init")
	info, err := os.Stat(keys)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("idv keys init: %v %v", info, err)
	}
	var id string
	if _, err := fmt.Sscanf(created, "key file "+keys+" created: current key %s", &id); err != nil {
		t.Fatalf("idv keys init printed %q", created)
	}
	if got := idv("init"); got != "key file "+keys+" exists: current key "+id+"\n" {
		t.Fatalf("idv keys init again printed %q", got)
	}
	if got := idv(); got != "key file "+keys+": current key "+id+"\n" {
		t.Fatalf("idv keys printed %q", got)
	}
	if got := idv("rotate"); !strings.Contains(got, "new current key") || strings.Contains(got, id) {
		t.Fatalf("idv keys rotate printed %q", got)
	}
}

// writeKeysConfig writes a configuration whose key file is keys and whose
// database, Redis and vendors are closed ports.
func writeKeysConfig(t *testing.T, dir, keys string) string {
	t.Helper()
	path := filepath.Join(dir, "idv.yaml")
	cfg := fmt.Sprintf(`database_url: postgres://postgres@%s/test
redis: {addr: %q}
keys: {file: %q, fingerprint_key: c2VjcmV0LWZpbmdlcnByaW50LWtleS1mb3ItdGVzdHMtb25seQ==}
vendors: {base_url: "http://%s"}
doc_auth: {enabled: false}
web: {addr: "127.0.0.1:0"}
worker: {addr: "127.0.0.1:0"}
log: {level: error}
`, testenv.ClosedAddr(t), testenv.ClosedAddr(t), keys, testenv.ClosedAddr(t))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// With its key file in place, web goes on to its stores: Redis down is an
// error naming Redis, not a crash while the half-opened components close.
func TestWebWithKeyFileReachesItsStores(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := writeKeysConfig(t, dir, filepath.Join(dir, "keys.json"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, []string{"keys", "--config", cfgPath, "init"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"web", "worker"} {
		err := run(ctx, []string{role, "--config", cfgPath}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "redis at ") {
			t.Fatalf("idv %s with Redis down: %v, want an error naming Redis", role, err)
		}
	}
}
