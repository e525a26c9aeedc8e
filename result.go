package idv

import "time"

// Status is the state of one proofing attempt as the web tier sees it.
// Only StatusInProgress and StatusDone are ever stored; StatusNone and
// StatusMissing are derived by the reader.
type Status string

const (
	StatusNone       Status = "none"        // no attempt pointer in the session: show the form
	StatusInProgress Status = "in_progress" // marker written at enqueue, job not finished
	StatusDone       Status = "done"        // the job stored its result
	StatusMissing    Status = "missing"     // the marker expired: the job timed out or crashed
)

// ResultTTL is how long a stored marker or result lives. It is the web
// timeout: no result within it means StatusMissing.
const ResultTTL = 60 * time.Second

// Outcome is what a finished proofing attempt means for the person.
type Outcome string

const (
	OutcomeSuccess   Outcome = "success"   // the vendors verified the person
	OutcomeFailure   Outcome = "failure"   // a vendor said no
	OutcomeTimedOut  Outcome = "timed_out" // a vendor request timed out
	OutcomeException Outcome = "exception" // the job could not talk to a vendor
)

// VendorResult is the one shape every vendor call returns. Vendor faults are
// results (Exception, TimedOut), never Go errors. Nothing in it may carry PII:
// Errors holds attribute names and codes, Exception a PII-free description.
type VendorResult struct {
	Vendor             string              `json:"vendor"`
	Success            bool                `json:"success"`
	Errors             map[string][]string `json:"errors,omitempty"`
	Exception          string              `json:"exception,omitempty"`
	TimedOut           bool                `json:"timed_out,omitempty"`
	TransactionID      string              `json:"transaction_id,omitempty"`
	Reference          string              `json:"reference,omitempty"`
	VerifiedAttributes []string            `json:"verified_attributes,omitempty"`
	DurationMS         int64               `json:"duration_ms"`
}

// Outcome classifies a single vendor result.
func (r VendorResult) Outcome() Outcome {
	switch {
	case r.TimedOut:
		return OutcomeTimedOut
	case r.Exception != "":
		return OutcomeException
	case r.Success:
		return OutcomeSuccess
	default:
		return OutcomeFailure
	}
}

// ProofingResult is what a job stores when it is done.
type ProofingResult struct {
	Outcome Outcome `json:"outcome"`
	// Stages holds each vendor call in the order made, keyed by stage name
	// (resolution, state_id, phone, document).
	Stages []Stage `json:"stages"`
	// Applicant is PII read from a document, when the job produces it.
	Applicant *Applicant `json:"applicant,omitempty"`
	// FailedAttributes lists attribute names that did not verify.
	FailedAttributes []string  `json:"failed_attributes,omitempty"`
	FinishedAt       time.Time `json:"finished_at"`
}

// Stage is one named vendor call inside a job.
type Stage struct {
	Name   string       `json:"name" pii:"false"` // a stage name (resolution, state_id, phone, document), not PII
	Result VendorResult `json:"result"`
}

// AsyncResult is the value stored in the result store under an attempt's
// result id.
type AsyncResult struct {
	Status Status          `json:"status"`
	Result *ProofingResult `json:"result,omitempty"`
	// Stage, while in progress, names the check the job is running when it
	// is past its first one (state_id, phone_secondary): the waiting page
	// says which. Empty: the job has not started, or runs its first check.
	Stage string `json:"stage,omitempty" pii:"false"`
}
