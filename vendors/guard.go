package vendors

import (
	"context"
	"time"

	"github.com/idv-dev/idv"
)

// Guard admits vendor calls: a fleet-wide concurrency limit and circuit
// breaker per vendor (package vendors/guard keeps their state in Redis, so
// every worker process shares it). A call it sheds is not made: its answer
// is an exception at once, so the person is told to try again shortly
// instead of waiting for the vendor's timeout.
type Guard interface {
	// Admit asks whether a call to vendor, bounded by timeout, may be made
	// now. If so it returns done, to be called once with the call's
	// outcome; if not, shed says why (idv.VendorShedOpen or
	// idv.VendorShedLimit) and done is nil. A guard that cannot decide
	// (its store is down) admits: the breaker must not become the outage.
	Admit(ctx context.Context, vendor string, timeout time.Duration) (done func(idv.Outcome), shed string)
}

// Exceptions of a shed call.
const (
	excShedOpen  = "vendor unavailable (circuit open)"
	excShedLimit = "vendor busy (concurrency limit)"
)

// admit asks c's guard, if any. A nil done and empty shed never happen
// together: without a guard, done does nothing.
func (c caller) admit(ctx context.Context) (done func(idv.Outcome), shed *idv.VendorResult) {
	if c.guard == nil {
		return func(idv.Outcome) {}, nil
	}
	done, reason := c.guard.Admit(ctx, c.vendor, c.timeout)
	if done != nil {
		return done, nil
	}
	exc := excShedLimit
	if reason == idv.VendorShedOpen {
		exc = excShedOpen
	}
	return nil, &idv.VendorResult{Exception: exc}
}
