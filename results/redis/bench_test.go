package redis_test

import (
	"context"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/results"
	"github.com/idv-dev/idv/results/resultstest"
)

// BenchmarkLoad is one status check: GET plus the envelope's open (AES-GCM under a cached data key) and a JSON
// decode of a done result with an applicant (the largest common value).
func BenchmarkLoad(b *testing.B) {
	store, id := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := store.Load(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadParallel is status checks from many requests at once on one
// connection pool, as a web process serves them.
func BenchmarkLoadParallel(b *testing.B) {
	store, id := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := store.Load(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStore is one worker write: encode, seal, SETEX and PUBLISH.
func BenchmarkStore(b *testing.B) {
	store, id := benchStore(b)
	ctx := context.Background()
	r := resultstest.DoneWithCanary()
	b.ReportAllocs()
	for b.Loop() {
		if err := store.Store(ctx, id, r); err != nil {
			b.Fatal(err)
		}
	}
}

func benchStore(b *testing.B) (*results.Store, string) {
	client, prefix := testenv.Redis(b)
	store, _ := newStore(b, client, resultstest.Envelope(b), results.Options{Prefix: prefix})
	id := idv.NewID()
	if err := store.Store(context.Background(), id, resultstest.DoneWithCanary()); err != nil {
		b.Fatal(err)
	}
	return store, id
}
