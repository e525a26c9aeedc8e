package fake

import (
	"slices"
	"sync"
	"time"

	"github.com/idv-dev/idv"
)

// Observer is an idv.Observer that records every event, for tests of what
// code reports. It is safe for concurrent use; the zero value is ready.
type Observer struct {
	mu       sync.Mutex
	finished []FinishedJob
	vendors  []VendorCall
	runs     []idv.JobRun
	rescues  []Rescue
	reads    []ResultRead
	missing  []string
	limited  []string
	webhooks []string
	slots    []Slots
	shed     []Shed
	breaker  []Shed
}

var _ idv.Observer = (*Observer)(nil)

// FinishedJob is one JobFinished event.
type FinishedJob struct {
	Kind        idv.JobKind
	Outcome     string
	Queued, Ran time.Duration
}

// VendorCall is one VendorCalled event.
type VendorCall struct {
	Vendor  string
	Outcome idv.Outcome
	Took    time.Duration
}

// Rescue is one JobRescued event.
type Rescue struct{ Kind, State string }

// ResultRead is one ResultRead event.
type ResultRead struct{ Step, Outcome string }

// record appends v to *events under the lock.
func record[T any](o *Observer, events *[]T, v T) {
	o.mu.Lock()
	defer o.mu.Unlock()
	*events = append(*events, v)
}

// recorded returns a copy of events taken under the lock.
func recorded[T any](o *Observer, events *[]T) []T {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(*events)
}

func (o *Observer) JobFinished(kind idv.JobKind, outcome string, queued, ran time.Duration) {
	record(o, &o.finished, FinishedJob{kind, outcome, queued, ran})
}

func (o *Observer) VendorCalled(vendor string, outcome idv.Outcome, took time.Duration) {
	record(o, &o.vendors, VendorCall{vendor, outcome, took})
}

func (o *Observer) JobRan(run idv.JobRun)           { record(o, &o.runs, run) }
func (o *Observer) JobRescued(kind, state string)   { record(o, &o.rescues, Rescue{kind, state}) }
func (o *Observer) ResultRead(step, outcome string) { record(o, &o.reads, ResultRead{step, outcome}) }
func (o *Observer) ResultMissing(step string)       { record(o, &o.missing, step) }
func (o *Observer) RateLimited(limit string)        { record(o, &o.limited, limit) }
func (o *Observer) WebhookDelivered(outcome string) { record(o, &o.webhooks, outcome) }
func (o *Observer) WorkerSlots(queue string, busy, slots int) {
	record(o, &o.slots, Slots{queue, busy, slots})
}
func (o *Observer) VendorShed(vendor, reason string) { record(o, &o.shed, Shed{vendor, reason}) }
func (o *Observer) VendorBreaker(vendor, state string) {
	record(o, &o.breaker, Shed{vendor, state})
}

// Slots is one WorkerSlots event.
type Slots struct {
	Queue       string
	Busy, Slots int
}

// Shed is one VendorShed event (Reason) or VendorBreaker event (Reason is
// the state).
type Shed struct{ Vendor, Reason string }

// SlotEvents, ShedCalls and BreakerMoves are the events recorded so far.
func (o *Observer) SlotEvents() []Slots  { return recorded(o, &o.slots) }
func (o *Observer) ShedCalls() []Shed    { return recorded(o, &o.shed) }
func (o *Observer) BreakerMoves() []Shed { return recorded(o, &o.breaker) }

// The events recorded so far, oldest first.

func (o *Observer) Finished() []FinishedJob   { return recorded(o, &o.finished) }
func (o *Observer) VendorCalls() []VendorCall { return recorded(o, &o.vendors) }
func (o *Observer) Runs() []idv.JobRun        { return recorded(o, &o.runs) }
func (o *Observer) Rescues() []Rescue         { return recorded(o, &o.rescues) }
func (o *Observer) Reads() []ResultRead       { return recorded(o, &o.reads) }
func (o *Observer) Missing() []string         { return recorded(o, &o.missing) }
func (o *Observer) Limited() []string         { return recorded(o, &o.limited) }
func (o *Observer) WebhookOutcomes() []string { return recorded(o, &o.webhooks) }
