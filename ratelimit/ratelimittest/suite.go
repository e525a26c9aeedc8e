// Package ratelimittest is the conformance suite every ratelimit.Limiter
// backend must pass. It is for tests only.
package ratelimittest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

// Fixture is one limiter under test plus the access the suite needs.
type Fixture struct {
	// Limiter is the limiter under test, on a keyspace of its own.
	Limiter ratelimit.Limiter
	// Now is the backend's current time.
	Now func() time.Time
	// Age makes the counter of l for target d older, so that its window
	// ends d sooner: a backend on an injected clock moves the clock; Redis
	// shortens the key's expiry. Windows are hours long; nobody waits.
	Age func(l ratelimit.Limit, target string, d time.Duration)
}

// tolerance absorbs the real time that passes between a backend's answer
// and the suite's check (Redis runs on the wall clock).
const tolerance = 2 * time.Second

// Run runs the conformance suite; newFixture returns a fresh fixture.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	tests := []struct {
		name string
		fn   func(*testing.T, Fixture)
	}{
		{"Fresh", testFresh},
		{"CountsToLimit", testCountsToLimit},
		{"NoIncrementOnceLimited", testNoIncrementOnceLimited},
		{"WindowSlides", testWindowSlides},
		{"LimitEndsWithWindow", testLimitEndsWithWindow},
		{"Reset", testReset},
		{"Independent", testIndependent},
		{"Invalid", testInvalid},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newFixture(t))
		})
	}
}

var (
	ctx   = context.Background()
	short = ratelimit.Limit{Name: "suite_short", Max: 3, Window: time.Hour}
)

func testFresh(t *testing.T, f Fixture) {
	a, err := f.Limiter.Status(ctx, ratelimit.ProofSSN, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if want := (ratelimit.Attempts{Remaining: ratelimit.ProofSSN.Max}); a != want {
		t.Fatalf("Status = %+v, want %+v", a, want)
	}
}

func testCountsToLimit(t *testing.T, f Fixture) {
	for _, l := range []ratelimit.Limit{ratelimit.IDVResolution, ratelimit.ProofSSN, ratelimit.ProofAddress, ratelimit.IDVDocAuth} {
		t.Run(l.Name, func(t *testing.T) {
			target := idv.NewID()
			for i := 1; i <= l.Max; i++ {
				a := mustIncrement(t, f, l, target)
				if a.Count != i || a.Remaining != l.Max-i || a.Limited != (i == l.Max) || !a.Counted {
					t.Fatalf("attempt %d: %+v, want count %d remaining %d limited %v, counted", i, a, i, l.Max-i, i == l.Max)
				}
				a.Counted = false // Status has no such answer
				checkRemaining(t, f, a, l.Window)
				if s := mustStatus(t, f, l, target); s != a {
					t.Fatalf("Status = %+v after Increment returned %+v", s, a)
				}
			}
		})
	}
}

// testNoIncrementOnceLimited checks that attempts while limited change
// nothing: the lockout lasts one window from the attempt that reached max,
// however often the person retries.
func testNoIncrementOnceLimited(t *testing.T, f Fixture) {
	target := idv.NewID()
	for range short.Max {
		mustIncrement(t, f, short, target)
	}
	f.Age(short, target, 20*time.Minute)
	before := mustStatus(t, f, short, target)
	for range 3 {
		a := mustIncrement(t, f, short, target)
		if a != before {
			t.Fatalf("Increment while limited = %+v, want unchanged %+v and not counted", a, before)
		}
	}
	if !before.Limited || before.Count != short.Max || before.Remaining != 0 {
		t.Fatalf("Status = %+v, want limited at %d", before, short.Max)
	}
	checkRemaining(t, f, before, short.Window-20*time.Minute)
}

func testWindowSlides(t *testing.T, f Fixture) {
	target := idv.NewID()
	mustIncrement(t, f, short, target)
	f.Age(short, target, 50*time.Minute)
	a := mustIncrement(t, f, short, target)
	if a.Count != 2 {
		t.Fatalf("second attempt: %+v, want count 2", a)
	}
	checkRemaining(t, f, a, short.Window) // the window restarted at the second attempt
	// 100 minutes after the first attempt, 50 after the second: both count.
	f.Age(short, target, 50*time.Minute)
	if s := mustStatus(t, f, short, target); s.Count != 2 {
		t.Fatalf("Status = %+v, want count 2 (the window slid)", s)
	}
	f.Age(short, target, 10*time.Minute)
	if s := mustStatus(t, f, short, target); s != (ratelimit.Attempts{Remaining: short.Max}) {
		t.Fatalf("Status after the window = %+v, want a fresh count", s)
	}
}

func testLimitEndsWithWindow(t *testing.T, f Fixture) {
	target := idv.NewID()
	for range short.Max {
		mustIncrement(t, f, short, target)
	}
	f.Age(short, target, short.Window-tolerance)
	if s := mustStatus(t, f, short, target); !s.Limited {
		t.Fatalf("Status just before the window ends = %+v, want limited", s)
	}
	f.Age(short, target, tolerance)
	if s := mustStatus(t, f, short, target); s != (ratelimit.Attempts{Remaining: short.Max}) {
		t.Fatalf("Status after the window = %+v, want a fresh count", s)
	}
	if a := mustIncrement(t, f, short, target); a.Count != 1 || a.Limited {
		t.Fatalf("first attempt of a new window = %+v, want count 1", a)
	}
}

func testReset(t *testing.T, f Fixture) {
	target := idv.NewID()
	for range short.Max {
		mustIncrement(t, f, short, target)
	}
	if err := f.Limiter.Reset(ctx, short, target); err != nil {
		t.Fatal(err)
	}
	if s := mustStatus(t, f, short, target); s != (ratelimit.Attempts{Remaining: short.Max}) {
		t.Fatalf("Status after Reset = %+v, want a fresh count", s)
	}
	if err := f.Limiter.Reset(ctx, short, idv.NewID()); err != nil {
		t.Fatalf("Reset of a target without attempts: %v", err)
	}
}

func testIndependent(t *testing.T, f Fixture) {
	target := idv.NewID()
	other := short
	other.Name = "suite_other"
	for range short.Max {
		mustIncrement(t, f, short, target)
	}
	tests := []struct {
		name   string
		l      ratelimit.Limit
		target string
	}{
		{"same limiter, other target", short, idv.NewID()},
		{"other limiter, same target", other, target},
	}
	for _, tc := range tests {
		if s := mustStatus(t, f, tc.l, tc.target); s.Count != 0 {
			t.Errorf("%s: Status = %+v, want no attempts", tc.name, s)
		}
	}
	// Max and Window come from the caller; a stricter configuration for the
	// same name sees the same count.
	stricter := short
	stricter.Max = 2
	if s := mustStatus(t, f, stricter, target); !s.Limited || s.Remaining != 0 {
		t.Errorf("Status under a lower max = %+v, want limited", s)
	}
}

func testInvalid(t *testing.T, f Fixture) {
	tests := []struct {
		name   string
		l      ratelimit.Limit
		target string
	}{
		{"empty name", ratelimit.Limit{Max: 1, Window: time.Hour}, "t"},
		{"name with colon", ratelimit.Limit{Name: "a:b", Max: 1, Window: time.Hour}, "t"},
		{"zero max", ratelimit.Limit{Name: "a", Window: time.Hour}, "t"},
		{"zero window", ratelimit.Limit{Name: "a", Max: 1}, "t"},
		{"empty target", ratelimit.Limit{Name: "a", Max: 1, Window: time.Hour}, ""},
	}
	for _, tc := range tests {
		_, errI := f.Limiter.Increment(ctx, tc.l, tc.target)
		_, errS := f.Limiter.Status(ctx, tc.l, tc.target)
		errR := f.Limiter.Reset(ctx, tc.l, tc.target)
		for op, err := range map[string]error{"Increment": errI, "Status": errS, "Reset": errR} {
			if idv.ErrorCode(err) != idv.EINVALID {
				t.Errorf("%s: %s error = %v, want code %s", tc.name, op, err, idv.EINVALID)
			}
		}
	}
}

// testConcurrent checks that the check and the increment are one step:
// however many attempts race, exactly Max are counted, each count is seen
// once, and the rest see the limit.
func testConcurrent(t *testing.T, f Fixture) {
	l := ratelimit.Limit{Name: "suite_race", Max: 10, Window: time.Hour}
	target := idv.NewID()
	const racers = 40
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		seen     = map[int]int{}
		admitted int
		errs     []error
	)
	for range racers {
		wg.Go(func() {
			a, err := f.Limiter.Increment(ctx, l, target)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			seen[a.Count]++
			if a.Counted {
				admitted++
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Fatal(err)
	}
	for i := 1; i < l.Max; i++ {
		if seen[i] != 1 {
			t.Errorf("count %d returned %d times, want once", i, seen[i])
		}
	}
	if seen[l.Max] != racers-l.Max+1 {
		t.Errorf("count %d returned %d times, want %d", l.Max, seen[l.Max], racers-l.Max+1)
	}
	if admitted != l.Max {
		t.Errorf("%d increments admitted, want %d", admitted, l.Max)
	}
	if s := mustStatus(t, f, l, target); s.Count != l.Max || !s.Limited {
		t.Errorf("Status = %+v, want limited at %d", s, l.Max)
	}
}

func mustIncrement(t *testing.T, f Fixture, l ratelimit.Limit, target string) ratelimit.Attempts {
	t.Helper()
	a, err := f.Limiter.Increment(ctx, l, target)
	if err != nil {
		t.Fatalf("Increment: %v", err)
	}
	return a
}

func mustStatus(t *testing.T, f Fixture, l ratelimit.Limit, target string) ratelimit.Attempts {
	t.Helper()
	a, err := f.Limiter.Status(ctx, l, target)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return a
}

// checkRemaining checks that a's window ends about want from now.
func checkRemaining(t *testing.T, f Fixture, a ratelimit.Attempts, want time.Duration) {
	t.Helper()
	got := a.ResetAt.Sub(f.Now())
	if got > want+50*time.Millisecond || got < want-tolerance {
		t.Fatalf("window ends in %s, want about %s", got, want)
	}
}
