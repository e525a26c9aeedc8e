package queue

import (
	"context"
	"errors"

	"github.com/idv-dev/idv"
)

// Inline is an idv.Queue that runs each job in the caller (the web request)
// instead of handing it to a worker: `jobs.async: false`, the seeds'
// ruby_workers_idv_enabled switched off. The capture session is recorded as
// usual and the job stores its result in the same result store, so the web
// tier's enqueue-then-poll contract does not change; the job has simply
// finished by the time the person reaches the waiting page.
type Inline struct {
	Queue    *Queue
	Handlers map[idv.JobKind]idv.JobHandler
}

// Submit records cs and runs job now. An infrastructure error is returned
// (the person sees a "try again" page); a discarded job is not an error for
// the person: its attempt ends as "missing".
func (i Inline) Submit(ctx context.Context, cs idv.CaptureSession, job idv.Job) error {
	if err := validateSubmit(cs, job); err != nil {
		return err
	}
	h, ok := i.Handlers[job.Kind]
	if !ok {
		return idv.Errorf(idv.EINVALID, "no inline handler for job kind %q", job.Kind)
	}
	if err := i.Queue.record(ctx, cs); err != nil {
		if i.Queue.b.isUniqueViolation(err) {
			return idv.WrapError(idv.ECONFLICT, "capture session already exists", err)
		}
		return unavailable(err)
	}
	ctx = idv.WithJobInfo(ctx, idv.JobInfo{Attempt: 1, Queue: "inline"})
	if err := h.Handle(ctx, job); err != nil && !errors.Is(err, idv.ErrDiscardJob) {
		return err
	}
	return nil
}

// BeginAttempt begins a verification's attempt (the store's one guarded
// statement) and then runs its job now, as Submit does.
func (i Inline) BeginAttempt(ctx context.Context, a idv.Attempt) (idv.StepRecord, error) {
	h, ok := i.Handlers[a.Job.Kind]
	if !ok {
		return idv.StepRecord{}, idv.Errorf(idv.EINVALID, "no inline handler for job kind %q", a.Job.Kind)
	}
	a.RunInline = true
	rec, err := i.Queue.BeginAttempt(ctx, a)
	if err != nil {
		return rec, err
	}
	a.Job.VerificationID = a.VerificationID
	ctx = idv.WithJobInfo(ctx, idv.JobInfo{Attempt: 1, Queue: "inline"})
	if err := h.Handle(ctx, a.Job); err != nil && !errors.Is(err, idv.ErrDiscardJob) {
		return rec, err
	}
	return rec, nil
}

// Verification implements idv.VerificationStore.
func (i Inline) Verification(ctx context.Context, id string) (idv.Verification, error) {
	return i.Queue.Verification(ctx, id)
}

// AbandonAttempt implements idv.VerificationStore.
func (i Inline) AbandonAttempt(ctx context.Context, verificationID string, step idv.StepName, resultID string) (idv.Verification, error) {
	return i.Queue.AbandonAttempt(ctx, verificationID, step, resultID)
}

// CaptureSession implements idv.Queue.
func (i Inline) CaptureSession(ctx context.Context, id string) (idv.CaptureSession, error) {
	return i.Queue.CaptureSession(ctx, id)
}
