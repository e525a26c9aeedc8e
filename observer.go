package idv

import "time"

// Observer hears every event idv reports, for metrics: the one way the web
// tier, the queue's workers and the job handlers report, so that what idv
// measures is listed here and nowhere else. The web tier (web.Options), the
// workers (queue.WorkerConfig) and the job handlers (jobs.Runner) each take
// one; telemetry.Metrics is the one that counts.
//
// Arguments are names, codes, counts and durations only: job kinds, outcomes,
// vendor, step and limit names, job states and error codes. Never an id, a
// value a person typed or anything else that is PII: they become metric
// labels. Methods are called on the reporting goroutine (a worker's, a
// request's), so they must be quick and safe for concurrent use.
//
// Embed NopObserver to hear only some events.
type Observer interface {
	// JobFinished: a proofing job's handler (jobs.Runner) finished one run,
	// with what it means: a vendors' Outcome, or stale_discarded,
	// arguments_unreadable or error. queued is from the job's enqueue to
	// the run's start, ran the run's duration.
	JobFinished(kind JobKind, outcome string, queued, ran time.Duration)
	// VendorCalled: a job made one vendor call (a stage of its result),
	// which took took.
	VendorCalled(vendor string, outcome Outcome, took time.Duration)
	// JobRan: the queue's worker ended one run of a job, whatever handler
	// ran it, panics included.
	JobRan(run JobRun)
	// JobRescued: this process made a job of a lost worker (no heartbeat)
	// available again, or discarded or cancelled it (state). kind is the
	// queue's job kind: a JobKind, or a housekeeping job's kind.
	JobRescued(kind, state string)
	// ResultRead: the web tier read the done result of a step's attempt.
	ResultRead(step, outcome string)
	// ResultMissing: a step's result did not arrive within ResultTTL.
	ResultMissing(step string)
	// RateLimited: the attempt limit named limit refused a submit.
	RateLimited(limit string)
	// WebhookDelivered: the queue's worker made one delivery attempt of a
	// webhook event, with its outcome: delivered, failed (tried again
	// later) or gave_up (no further attempt: the last one failed, or the
	// relying party takes no webhooks or its destination is refused).
	WebhookDelivered(outcome string)
	// WorkerSlots: a job of queue started or ended in this worker process;
	// busy of its slots (the queue's concurrency in this process) are now
	// taken. Busy near slots for long is the slot cliff: jobs queue behind
	// slow vendors while the CPUs idle (docs/operations.md, "Sizing").
	WorkerSlots(queue string, busy, slots int)
	// VendorShed: a vendor call was not made because the vendor's circuit
	// breaker is open (reason VendorShedOpen) or its fleet-wide concurrency
	// limit is reached (VendorShedLimit); the call's answer is an exception.
	VendorShed(vendor, reason string)
	// VendorBreaker: this process saw the vendor's circuit breaker move to
	// state (closed, open or half_open).
	VendorBreaker(vendor, state string)
}

// Vendor shedding reasons (Observer.VendorShed).
const (
	VendorShedOpen  = "circuit_open"
	VendorShedLimit = "concurrency_limit"
)

// Webhook delivery outcomes (Observer.WebhookDelivered).
const (
	WebhookDelivered = "delivered"
	WebhookFailed    = "failed"
	WebhookGaveUp    = "gave_up"
)

// JobRun describes one run of a job as the queue's worker saw it.
type JobRun struct {
	Kind    JobKind
	Queue   string
	Attempt int // 1 for the first run
	// Code is the error code (ErrorCode) of what the handler returned, or
	// EINTERNAL for a panic; "" on success.
	Code string
	// Final is true when no further run follows: success, a discard
	// (ErrDiscardJob), a panic or the last attempt.
	Final bool
	// Queued is how long the job waited for this run: from when it became
	// available (enqueue, or the end of its retry delay) to its start.
	Queued time.Duration
	// Ran is how long the handler took.
	Ran time.Duration
}

// NopObserver hears nothing: the Observer of code given none, and a base to
// embed for an Observer that hears only some events.
type NopObserver struct{}

var _ Observer = NopObserver{}

func (NopObserver) JobFinished(JobKind, string, time.Duration, time.Duration) {}
func (NopObserver) VendorCalled(string, Outcome, time.Duration)               {}
func (NopObserver) JobRan(JobRun)                                             {}
func (NopObserver) JobRescued(string, string)                                 {}
func (NopObserver) ResultRead(string, string)                                 {}
func (NopObserver) ResultMissing(string)                                      {}
func (NopObserver) RateLimited(string)                                        {}
func (NopObserver) WebhookDelivered(string)                                   {}
func (NopObserver) WorkerSlots(string, int, int)                              {}
func (NopObserver) VendorShed(string, string)                                 {}
func (NopObserver) VendorBreaker(string, string)                              {}
