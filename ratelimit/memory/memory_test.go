package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/idv-dev/idv/internal/testenv"

	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/ratelimit/memory"
	"github.com/idv-dev/idv/ratelimit/ratelimittest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	ratelimittest.Run(t, func(t *testing.T) ratelimittest.Fixture {
		c := testenv.NewClock()
		return ratelimittest.Fixture{
			Limiter: memory.New(c.Now),
			Now:     c.Now,
			// The clock is the fixture's own, so moving it ages every
			// counter; each test uses one counter at a time.
			Age: func(_ ratelimit.Limit, _ string, d time.Duration) { c.Advance(d) },
		}
	})
}

// TestSweep checks that counters whose window ended are dropped by a later
// increment even if their targets never come back.
func TestSweep(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	m := memory.New(c.Now)
	ctx := context.Background()
	for _, target := range []string{"a", "b", "c"} {
		if _, err := m.Increment(ctx, ratelimit.ProofSSN, target); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(ratelimit.ProofSSN.Window)
	if _, err := m.Increment(ctx, ratelimit.ProofSSN, "d"); err != nil {
		t.Fatal(err)
	}
	if got := m.Len(); got != 1 {
		t.Fatalf("Len = %d after the sweep, want 1", got)
	}
}
