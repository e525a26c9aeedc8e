package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/results"
	"github.com/idv-dev/idv/results/memory"
	"github.com/idv-dev/idv/results/resultstest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	resultstest.Run(t, func(t *testing.T, ttl time.Duration) resultstest.Fixture {
		c := testenv.NewClock()
		kv := memory.NewKV(c.Now)
		sealer := fake.Sealer{}
		opts := results.Options{Prefix: "test:", TTL: ttl}
		store, err := results.New(kv, sealer, opts)
		if err != nil {
			t.Fatal(err)
		}
		peer, err := results.New(kv, sealer, opts)
		if err != nil {
			t.Fatal(err)
		}
		return resultstest.Fixture{
			Store: store, Peer: peer, KV: kv, Sealer: sealer,
			TTL:     func(key string) (time.Duration, error) { return kv.TTL(key) },
			Waiting: kv.Waiting,
			Advance: c.Advance,
		}
	})
}

// TestSweep checks that expired entries nobody reads again are dropped by a
// later write, so `idv dev` does not grow without bound.
func TestSweep(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	kv := memory.NewKV(c.Now)
	ctx := context.Background()
	for i := range 100 {
		if err := kv.Put(ctx, "k"+string(rune('a'+i%26))+idv.NewID(), "id", []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if got := kv.Len(); got != 100 {
		t.Fatalf("Len = %d, want 100", got)
	}
	c.Advance(2 * time.Minute)
	if err := kv.Put(ctx, "fresh", "id", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := kv.Len(); got != 1 {
		t.Fatalf("Len after sweep = %d, want 1", got)
	}
}

// TestCopies checks that neither the caller's buffer nor a returned value
// aliases the stored bytes: a sealer that opens in place must not corrupt
// the store.
func TestCopies(t *testing.T) {
	t.Parallel()
	kv := memory.NewKV(nil)
	ctx := context.Background()
	in := []byte("value")
	if err := kv.Put(ctx, "k", "id", in, time.Minute); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X'
	out, err := kv.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	out[1] = 'Y'
	again, _ := kv.Get(ctx, "k")
	if string(again) != "value" {
		t.Fatalf("stored value changed to %q", again)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	s, err := memory.New(fake.Sealer{}, results.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Key("x") != "idv:result:x" || s.TTL() != idv.ResultTTL {
		t.Fatalf("defaults: key %q ttl %s", s.Key("x"), s.TTL())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
