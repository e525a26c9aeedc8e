package versitygw

import (
	"os"
	"testing"
)

// TestVersitygwPath checks where the binary is looked for: PATH first, then
// GOPATH/bin. Not parallel: it changes the environment.
func TestVersitygwPath(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	t.Setenv("HOME", empty)
	gopath := t.TempDir()
	t.Setenv("GOPATH", gopath)
	if p := Path(); p != "" {
		t.Fatalf("found %s with nothing installed", p)
	}
	if err := os.Mkdir(gopath+"/bin", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gopath+"/bin/versitygw", []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p := Path(); p != gopath+"/bin/versitygw" {
		t.Fatalf("Path = %q, want the one in GOPATH/bin", p)
	}
}
