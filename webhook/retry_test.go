package webhook

import (
	"testing"
	"time"
)

// The schedule covers three days within MaxAttempts, never shortened by
// jitter, and each delay is its step plus at most 10 %.
func TestNextRetry(t *testing.T) {
	t.Parallel()
	if MaxAttempts != len(retryDelays)+1 {
		t.Fatalf("MaxAttempts = %d, want %d (one per retry delay and the first)", MaxAttempts, len(retryDelays)+1)
	}
	var total time.Duration
	for attempt := 1; attempt < MaxAttempts; attempt++ {
		step := retryDelays[attempt-1]
		if attempt > 1 && step < retryDelays[attempt-2] {
			t.Errorf("delay %d (%s) is shorter than the one before", attempt, step)
		}
		lo, hi := step, step+step/10
		for range 200 {
			if d := NextRetry(attempt); d < lo || d > hi {
				t.Fatalf("NextRetry(%d) = %s, want within [%s, %s]", attempt, d, lo, hi)
			}
		}
		total += step
	}
	if total < 72*time.Hour {
		t.Errorf("the retries span %s, want at least 72h", total)
	}
	last := retryDelays[len(retryDelays)-1]
	for _, attempt := range []int{-1, 0} {
		if d := NextRetry(attempt); d < retryDelays[0] || d > retryDelays[0]+retryDelays[0]/10 {
			t.Errorf("NextRetry(%d) = %s, want the first delay", attempt, d)
		}
	}
	if d := NextRetry(MaxAttempts + 5); d < last || d > last+last/10 {
		t.Errorf("NextRetry past the schedule = %s, want the last delay", d)
	}
	// Jitter spreads: 200 draws of a 24 h step are not all equal.
	seen := map[time.Duration]bool{}
	for range 200 {
		seen[NextRetry(len(retryDelays))] = true
	}
	if len(seen) < 2 {
		t.Error("NextRetry has no jitter")
	}
}
