package vendors

import (
	"context"
	"strings"
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
	// now. If so it returns done, to be called once when the call ended,
	// with fault true when the vendor could not be used (see Fault); if
	// not, shed says why (idv.VendorShedOpen or idv.VendorShedLimit) and
	// done is nil. A guard that cannot decide (its store is down) admits:
	// the breaker must not become the outage.
	Admit(ctx context.Context, vendor string, timeout time.Duration) (done func(fault bool), shed string)
}

// Fault says whether a call's result counts against the vendor's health:
// it timed out, could not connect, got a non-2xx status or an answer it
// could not read. An answer the vendor gave — success, failure, or an
// exception or timeout the vendor reported for this request (a bad input,
// a state's motor vehicle agency not answering) — is not a fault: the
// vendor is up and answering. Nor is a call cancelled by its worker.
func Fault(r idv.VendorResult) bool {
	if r.Exception == "" || strings.HasPrefix(r.Exception, excVendorPrefix) || r.Exception == excCanceled {
		return false
	}
	return r.Exception != excShedOpen && r.Exception != excShedLimit
}

// Exceptions of a shed call.
const (
	excShedOpen  = "vendor unavailable (circuit open)"
	excShedLimit = "vendor busy (concurrency limit)"
)

// admit asks c's guard, if any. A nil done and empty shed never happen
// together: without a guard, done does nothing.
func (c caller) admit(ctx context.Context) (done func(bool), shed *idv.VendorResult) {
	if c.guard == nil {
		return func(bool) {}, nil
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
