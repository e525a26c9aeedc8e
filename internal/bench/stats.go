package bench

import (
	"context"
	"math"
	"runtime/debug"
	"sync"
	"time"
)

// percentile returns the p-th percentile (0-100) of sorted durations, by
// the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// riverVersion is the River module version built in, for the report.
func riverVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/riverqueue/river" {
				return d.Version
			}
		}
	}
	return "(unknown version)"
}

// openLoop starts arrival i (of n) at t0 + i/rate on its own goroutine in
// wg, whether or not earlier ones have finished (an open loop: a slow
// server cannot slow the arrivals down), until ctx ends.
func openLoop(ctx context.Context, wg *sync.WaitGroup, t0 time.Time, n, rate int, arrive func(i int, at time.Time)) {
	interval := time.Second / time.Duration(rate)
	timer := time.NewTimer(time.Until(t0))
	defer timer.Stop()
	for i := range n {
		at := t0.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			return
		}
		wg.Go(func() { arrive(i, at) })
	}
}
