package memory_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/ratelimit/memory"
	"github.com/idv-dev/idv/ratelimit/ratelimittest"
)

// clock is a settable time source shared by a test and the limiter under it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	ratelimittest.Run(t, func(t *testing.T) ratelimittest.Fixture {
		c := newClock()
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
	c := newClock()
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
