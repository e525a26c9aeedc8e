package app

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// The outbound check (a vendor call) runs at most once per cache period,
// however many ask at once, and its answer, failure included, stands until
// the period ends.
func TestOutboundCheckCached(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		calls int
		fail  error
		now   = time.Unix(0, 0)
	)
	check := cached(func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return fail
	}, outboundCacheFor, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := check(t.Context()); err != nil {
				t.Errorf("healthy route: %v", err)
			}
		})
	}
	wg.Wait()
	if calls != 1 {
		t.Fatalf("50 concurrent checks made %d vendor calls, want 1", calls)
	}
	mu.Lock()
	fail, now = errors.New("proxy down"), now.Add(outboundCacheFor-time.Nanosecond)
	mu.Unlock()
	if err := check(t.Context()); err != nil || calls != 1 {
		t.Fatalf("within the period: %v after %d calls, want the cached ok after 1", err, calls)
	}
	mu.Lock()
	now = now.Add(time.Nanosecond)
	mu.Unlock()
	if err := check(t.Context()); err == nil || calls != 2 {
		t.Fatalf("after the period: %v after %d calls, want the new failure after 2", err, calls)
	}
}
