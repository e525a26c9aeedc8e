package memory_test

import (
	"context"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/results"
	"github.com/idv-dev/idv/results/memory"
	"github.com/idv-dev/idv/results/resultstest"
)

// BenchmarkLoad is a status check without the network: what Load costs on
// top of the backend (the envelope's AES-GCM open and JSON decode).
func BenchmarkLoad(b *testing.B) {
	store, err := memory.New(resultstest.Envelope(b), results.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	id := idv.NewID()
	if err := store.Store(ctx, id, resultstest.DoneWithCanary()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := store.Load(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}
