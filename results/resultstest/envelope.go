package resultstest

import (
	"bytes"
	"testing"

	"github.com/idv-dev/idv/seal"
)

// Envelope is the sealer production seals results with, on a local master
// key in place of KMS. Benchmarks use it so their cost includes real sealing
// (AES-256-GCM under a cached data key); tests use fake.Sealer.
func Envelope(tb testing.TB) *seal.Envelope {
	tb.Helper()
	ring, err := seal.NewLocalKeyRing(map[string][]byte{"k1": bytes.Repeat([]byte{1}, seal.MasterKeySize)}, "k1")
	if err != nil {
		tb.Fatal(err)
	}
	e, err := seal.NewEnvelope(ring, seal.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}
