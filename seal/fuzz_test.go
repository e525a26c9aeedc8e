package seal_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzOpen with fresh valid sealed values")

// fuzzSeeds are the (plaintext, aad) pairs whose sealed values seed FuzzOpen.
var fuzzSeeds = []struct {
	name           string
	plaintext, aad []byte
}{
	{"empty", nil, nil},
	{"result", []byte(`{"status":"done"}`), idv.ResultAAD("r1")},
	{"job", []byte(`{"applicant":{"first_name":"FAKEY"}}`), idv.JobAAD(idv.JobResolution, "r2")},
	{"binary", []byte{0, 1, 2, 0xE1, 0xFF}, []byte{0}},
}

// FuzzOpen feeds arbitrary bytes to Open: it must never panic, must fail
// only with ETAMPERED, and sealing the input must round-trip. The committed
// corpus holds valid values under the fixed test key k1, so the fuzzer
// starts from well-formed headers.
func FuzzOpen(f *testing.F) {
	e := newEnvelope(f, ringK1(f), seal.Options{})
	ctx := context.Background()
	for _, s := range fuzzSeeds {
		f.Add(mustSeal(f, e, s.plaintext, s.aad), s.aad)
	}
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0xE1}, []byte(nil))

	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		if _, err := e.Open(ctx, sealed, aad); err != nil {
			if code := idv.ErrorCode(err); code != idv.ETAMPERED {
				t.Fatalf("Open error code = %q (%v), want %q", code, err, idv.ETAMPERED)
			}
		} else {
			// Anything that opens must have been sealed with this aad:
			// it still opens, and not with other aad.
			if _, err := e.Open(ctx, sealed, append(bytes.Clone(aad), 'x')); err == nil {
				t.Fatalf("value opened with two different aads")
			}
		}
		resealed, err := e.Seal(ctx, sealed, aad)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		got, err := e.Open(ctx, resealed, aad)
		if err != nil || !bytes.Equal(got, sealed) {
			t.Fatalf("round trip: Open = %x, %v; want %x", got, err, sealed)
		}
	})
}

// TestWriteFuzzSeeds regenerates the committed seed corpus when run with
// -update-fuzz-seeds; otherwise it checks that the corpus still opens, so a
// format change cannot leave the fuzzer starting from garbage.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	e := newEnvelope(t, ringK1(t), seal.Options{})
	if *updateFuzzSeeds {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range fuzzSeeds {
			sealed := mustSeal(t, e, s.plaintext, s.aad)
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%+q)\n[]byte(%+q)\n", sealed, s.aad)
			if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, s := range fuzzSeeds {
		data, err := os.ReadFile(filepath.Join(dir, "seed-"+s.name))
		if err != nil {
			t.Fatalf("seed %s: %v (run go test ./seal/ -run TestWriteFuzzSeeds -update-fuzz-seeds)", s.name, err)
		}
		sealed, aad := parseSeed(t, data)
		got, err := e.Open(context.Background(), sealed, aad)
		if err != nil || !bytes.Equal(got, s.plaintext) {
			t.Fatalf("seed %s: Open = %q, %v", s.name, got, err)
		}
	}
}

// parseSeed reads a two-[]byte corpus file as written above.
func parseSeed(t *testing.T, data []byte) (sealed, aad []byte) {
	t.Helper()
	var a, b string
	if _, err := fmt.Sscanf(string(data), "go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", &a, &b); err != nil {
		t.Fatalf("corpus file: %v", err)
	}
	return []byte(a), []byte(b)
}
