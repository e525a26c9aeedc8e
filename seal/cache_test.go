package seal_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv/internal/testenv"

	"github.com/idv-dev/idv/seal"
)

func TestDataKeyReusedWithinTTL(t *testing.T) {
	t.Parallel()
	w := &countingWrapper{KeyWrapper: ringK1(t)}
	clk := testenv.NewClock()
	e := newEnvelope(t, w, seal.Options{DataKeyTTL: time.Minute, Now: clk.Now})

	first := mustSeal(t, e, []byte("0"), nil)
	for i := range 100 {
		mustSeal(t, e, []byte{byte(i)}, nil)
	}
	clk.Advance(time.Minute - time.Nanosecond)
	last := mustSeal(t, e, []byte("last"), nil)
	if n := w.generates.Load(); n != 1 {
		t.Fatalf("GenerateDataKey calls within the TTL = %d, want 1", n)
	}
	if !bytes.Equal(header(first), header(last)) {
		t.Fatal("values sealed within the TTL carry different data keys")
	}

	clk.Advance(time.Nanosecond)
	after := mustSeal(t, e, []byte("after"), nil)
	if n := w.generates.Load(); n != 2 {
		t.Fatalf("GenerateDataKey calls after the TTL = %d, want 2", n)
	}
	if bytes.Equal(header(first), header(after)) {
		t.Fatal("value sealed after the TTL reuses the old data key")
	}
	// Both still open, here without unwrapping.
	mustOpen(t, e, first, nil)
	mustOpen(t, e, after, nil)
	if n := w.unwraps.Load(); n != 0 {
		t.Fatalf("UnwrapDataKey calls for own data keys = %d, want 0", n)
	}
}

func TestDataKeyMaxUses(t *testing.T) {
	t.Parallel()
	w := &countingWrapper{KeyWrapper: ringK1(t)}
	e := newEnvelope(t, w, seal.Options{DataKeyMaxUses: 3, Now: testenv.NewClock().Now})
	for i := range 7 {
		mustSeal(t, e, []byte{byte(i)}, nil)
	}
	// Seals 1-3, 4-6 and 7 each get a data key.
	if n := w.generates.Load(); n != 3 {
		t.Fatalf("GenerateDataKey calls = %d, want 3", n)
	}
}

func TestDefaultsReuseDataKey(t *testing.T) {
	t.Parallel()
	w := &countingWrapper{KeyWrapper: ringK1(t)}
	e := newEnvelope(t, w, seal.Options{})
	for range 1000 {
		mustSeal(t, e, []byte("x"), nil)
	}
	if n := w.generates.Load(); n != 1 {
		t.Fatalf("GenerateDataKey calls = %d, want 1", n)
	}
}

// TestOpenCachesUnwrappedKeys: a process that did not seal a value unwraps
// its data key once, then serves repeated Opens from the cache until the
// entry expires.
func TestOpenCachesUnwrappedKeys(t *testing.T) {
	t.Parallel()
	ring := ringK1(t)
	sealer := newEnvelope(t, ring, seal.Options{})
	var sealed [][]byte
	for i := range 50 {
		sealed = append(sealed, mustSeal(t, sealer, []byte{byte(i)}, nil))
	}

	w := &countingWrapper{KeyWrapper: ring}
	clk := testenv.NewClock()
	opener := newEnvelope(t, w, seal.Options{OpenCacheTTL: time.Minute, Now: clk.Now})
	for range 3 {
		for i, s := range sealed {
			if got := mustOpen(t, opener, s, nil); !bytes.Equal(got, []byte{byte(i)}) {
				t.Fatalf("Open = %x", got)
			}
		}
	}
	if n := w.unwraps.Load(); n != 1 {
		t.Fatalf("UnwrapDataKey calls = %d, want 1", n)
	}
	clk.Advance(time.Minute)
	mustOpen(t, opener, sealed[0], nil)
	mustOpen(t, opener, sealed[1], nil)
	if n := w.unwraps.Load(); n != 2 {
		t.Fatalf("UnwrapDataKey calls after expiry = %d, want 2", n)
	}
}

func TestOpenCacheIsBounded(t *testing.T) {
	t.Parallel()
	ring := ringK1(t)
	sealer := newEnvelope(t, ring, seal.Options{DataKeyMaxUses: 1}) // a data key per value
	v1 := mustSeal(t, sealer, []byte("1"), nil)
	v2 := mustSeal(t, sealer, []byte("2"), nil)
	v3 := mustSeal(t, sealer, []byte("3"), nil)

	w := &countingWrapper{KeyWrapper: ring}
	opener := newEnvelope(t, w, seal.Options{OpenCacheSize: 2})
	steps := []struct {
		open    []byte
		unwraps int64
	}{
		{v1, 1}, {v2, 2}, {v2, 2}, {v1, 2}, // both fit
		{v3, 3}, // evicts v1, the oldest
		{v3, 3}, {v2, 3},
		{v1, 4}, // unwrapped again, evicts v2
		{v2, 5},
	}
	for i, s := range steps {
		mustOpen(t, opener, s.open, nil)
		if n := w.unwraps.Load(); n != s.unwraps {
			t.Fatalf("step %d: UnwrapDataKey calls = %d, want %d", i, n, s.unwraps)
		}
	}
}

// TestConcurrentSealOpen runs many goroutines sealing and opening through
// shared envelopes while data keys turn over; run it with -race.
func TestConcurrentSealOpen(t *testing.T) {
	t.Parallel()
	ring := ringK1(t)
	w := &countingWrapper{KeyWrapper: ring}
	sealer := newEnvelope(t, w, seal.Options{DataKeyMaxUses: 7})
	opener := newEnvelope(t, w, seal.Options{OpenCacheSize: 4})
	const goroutines, perGoroutine = 16, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			ctx := context.Background()
			for i := range perGoroutine {
				plain := fmt.Appendf(nil, "value %d/%d", g, i)
				aad := fmt.Appendf(nil, "aad %d", g)
				s, err := sealer.Seal(ctx, plain, aad)
				if err != nil {
					errs <- err
					return
				}
				for _, e := range []*seal.Envelope{sealer, opener} {
					got, err := e.Open(ctx, s, aad)
					if err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(got, plain) {
						errs <- fmt.Errorf("Open = %q, want %q", got, plain)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := int64(goroutines * perGoroutine)
	if n := w.generates.Load(); n < total/7 || n > total {
		t.Fatalf("GenerateDataKey calls = %d, want between %d and %d", n, total/7, total)
	}
}

// header returns the header of a sealed value, per the format in doc.go.
func header(sealed []byte) []byte {
	k := int(sealed[1])
	w := int(sealed[2+k])<<8 | int(sealed[3+k])
	return sealed[:4+k+w]
}
