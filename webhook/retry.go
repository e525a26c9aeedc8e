package webhook

import (
	"math/rand/v2"
	"time"
)

// retryDelays is the wait before each retry: quick at first (a blip, a
// deploy), then hours apart (an outage), 75 h 36 m 5 s in all, so an RP
// that is down for up to three days still gets every event.
var retryDelays = []time.Duration{
	5 * time.Second,
	time.Minute,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	14 * time.Hour,
	20 * time.Hour,
	24 * time.Hour,
}

// MaxAttempts is how many attempts an event gets: the first and one per
// retry delay. After the last the event is given up (and can be replayed).
const MaxAttempts = 11

// NextRetry returns how long to wait after the given failed attempt
// (1 for the first) before the next: the schedule's delay plus up to 10 %
// of jitter, so retries of many events spread out. Jitter only lengthens,
// so the attempts always span at least the schedule's 75 h. Past the
// schedule it returns the last delay; callers stop at MaxAttempts.
func NextRetry(attempt int) time.Duration {
	d := retryDelays[min(max(attempt, 1), len(retryDelays))-1]
	return d + rand.N(d/10+1)
}
