// Package jobs is what a worker does for each job kind: refuse stale jobs,
// open the sealed arguments, call the vendors, time each stage, store the
// sealed result and write one log line per job.
package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/idv-dev/idv"
)

// Runner holds what every job kind needs. Its zero value is not usable: set
// Sealer, Results and Logger.
type Runner struct {
	Sealer     idv.Sealer
	Results    idv.ResultStore
	Logger     *slog.Logger
	StaleAfter time.Duration    // default idv.StaleJobLimit
	Now        func() time.Time // default time.Now
	// Outcomes, if set, keeps the PII-free record of every finished attempt.
	Outcomes idv.OutcomeRecorder
	// Observer, if set, hears of every finished job (JobFinished) and every
	// vendor call of its result (VendorCalled).
	Observer idv.Observer
	// ProgressAfter is how long a job must have run before it tells the
	// waiting page which check it moved on to (Timings.Progress): a job
	// quicker than that is done before a person could read it, and skips
	// the write. Zero: 250 ms; negative: always tell.
	ProgressAfter time.Duration
}

func (r *Runner) observer() idv.Observer { return cmp.Or[idv.Observer](r.Observer, idv.NopObserver{}) }

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Outcomes that are not vendor outcomes, for logs and metrics.
const (
	outcomeStale    = "stale_discarded"
	outcomeTampered = "arguments_unreadable"
	outcomeError    = "error"
)

// work does the kind-specific part: args is the opened plaintext. It returns
// the result to store; an error is an infrastructure fault.
type work func(ctx context.Context, args []byte, t *Timings) (*idv.ProofingResult, error)

// run wraps w with the stale guard, argument opening, result storing and the
// job log line.
func (r *Runner) run(ctx context.Context, job idv.Job, w work) (err error) {
	start := r.now()
	info, _ := idv.JobInfoFrom(ctx)
	progressAfter := r.ProgressAfter
	if progressAfter == 0 {
		progressAfter = 250 * time.Millisecond
	}
	timings := &Timings{progress: func(stage string) {
		if r.now().Sub(start) < progressAfter {
			return
		}
		// The waiting page says which check runs. A lost write only
		// leaves the page on the check before: the job goes on.
		if err := r.Results.Store(ctx, job.ResultID, idv.AsyncResult{Status: idv.StatusInProgress, Stage: stage}); err != nil {
			r.Logger.DebugContext(ctx, "progress not stored", "stage", stage, "error", err.Error())
		}
	}}
	outcome := outcomeError
	defer func() {
		ran := r.now().Sub(start)
		queued := start.Sub(job.EnqueuedAt)
		attrs := []slog.Attr{
			slog.String("kind", string(job.Kind)),
			slog.Int64("job_id", info.ID),
			slog.String("trace_id", job.TraceID),
			slog.String("queue", info.Queue),
			slog.Int("attempt", info.Attempt),
			slog.Int64("queued_ms", queued.Milliseconds()),
			slog.Int64("run_ms", ran.Milliseconds()),
			slog.Any("timing_ms", timings.Map()),
			slog.String("outcome", outcome),
		}
		level := slog.LevelInfo
		if err != nil {
			level = slog.LevelWarn
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		r.Logger.LogAttrs(ctx, level, "job finished", attrs...)
		r.observer().JobFinished(job.Kind, outcome, queued, ran)
	}()

	limit := r.StaleAfter
	if limit <= 0 {
		limit = idv.StaleJobLimit
	}
	if job.Stale(start, limit) {
		outcome = outcomeStale
		return fmt.Errorf("%w: enqueued %s ago, over the stale limit of %s", idv.ErrDiscardJob, start.Sub(job.EnqueuedAt).Round(time.Second), limit)
	}

	var args []byte
	err = timings.Time("decrypt_arguments", func() error {
		var e error
		args, e = r.Sealer.Open(ctx, job.EncryptedArguments, idv.JobAAD(job.Kind, job.ResultID))
		return e
	})
	if err != nil {
		if idv.ErrorCode(err) == idv.ETAMPERED {
			outcome = outcomeTampered
			// Retrying cannot help: let the attempt end as "missing".
			return fmt.Errorf("%w: %v", idv.ErrDiscardJob, err)
		}
		return err
	}

	res, err := w(ctx, args, timings)
	if err != nil {
		return err
	}
	res.FinishedAt = r.now()
	outcome = string(res.Outcome)
	for _, st := range res.Stages {
		r.observer().VendorCalled(st.Result.Vendor, st.Result.Outcome(), time.Duration(st.Result.DurationMS)*time.Millisecond)
	}
	rec := idv.OutcomeRecord{ResultID: job.ResultID, Kind: job.Kind, TraceID: job.TraceID, Outcome: res.Outcome,
		Stages: res.Stages, FailedAttributes: res.FailedAttributes, FinishedAt: res.FinishedAt, VerificationID: job.VerificationID}
	if job.VerificationID != "" {
		// The verification is the truth the pages and the relying party
		// read: its step moves (with the outcome row, the event and its
		// delivery job) before the waiting page is told the result exists.
		if err := r.bindIdentity(ctx, job, res, &rec); err != nil {
			outcome = outcomeError
			return err
		}
		if err := timings.Time("record_outcome", func() error { return r.Outcomes.RecordOutcome(ctx, rec) }); err != nil {
			outcome = outcomeError
			return err
		}
	}
	err = timings.Time("store_result", func() error {
		return r.Results.Store(ctx, job.ResultID, idv.AsyncResult{Status: idv.StatusDone, Result: res})
	})
	if err != nil {
		outcome = outcomeError
		return err
	}
	if r.Outcomes != nil && job.VerificationID == "" {
		// The person has their result; a failed audit write must not re-run
		// the vendors, so it is logged, not returned.
		if e := timings.Time("record_outcome", func() error { return r.Outcomes.RecordOutcome(ctx, rec) }); e != nil {
			r.Logger.ErrorContext(ctx, "outcome not recorded", "result_id", job.ResultID, "error", e.Error())
		}
	}
	return nil
}

// bindIdentity seals the identity a passed document step read from the ID
// into the outcome record, under the verification's AAD: it becomes the
// identity the later steps check, whatever a form posts.
func (r *Runner) bindIdentity(ctx context.Context, job idv.Job, res *idv.ProofingResult, rec *idv.OutcomeRecord) error {
	if r.Outcomes == nil {
		return fmt.Errorf("%w: a verification's job needs an outcome recorder", idv.ErrDiscardJob)
	}
	if job.Kind != idv.JobDocument || res.Outcome != idv.OutcomeSuccess || res.Applicant == nil {
		return nil
	}
	plain, err := json.Marshal(res.Applicant)
	if err != nil {
		return idv.WrapError(idv.EINTERNAL, "encode identity", err)
	}
	rec.Identity, err = r.Sealer.Seal(ctx, plain, idv.VerificationAAD(job.VerificationID))
	return err
}

// decode unmarshals opened arguments, with a PII-free error.
func decode(args []byte, v any) error {
	if err := json.Unmarshal(args, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		if errors.As(err, &se) || errors.As(err, &te) {
			return fmt.Errorf("%w: arguments are not valid JSON for this job kind", idv.ErrDiscardJob)
		}
		return fmt.Errorf("%w: arguments do not decode", idv.ErrDiscardJob)
	}
	return nil
}

// Timings records how long each stage of a job took.
type Timings struct {
	stages   []stageTiming
	progress func(stage string)
}

// Progress tells the waiting page that the job moves on to the named check
// (a check after the job's first: the page assumes the first until told).
// It costs one result-store write, which also restarts the attempt's 60 s
// window (the job is alive), and is skipped while the job is younger than
// Runner.ProgressAfter.
func (t *Timings) Progress(stage string) {
	if t.progress != nil {
		t.progress(stage)
	}
}

type stageTiming struct {
	name string
	d    time.Duration
}

// Time runs f and records its duration under name.
func (t *Timings) Time(name string, f func() error) error {
	start := time.Now()
	err := f()
	t.stages = append(t.stages, stageTiming{name, time.Since(start)})
	return err
}

// Map returns stage durations in milliseconds (fractional) by name.
func (t *Timings) Map() map[string]float64 {
	m := make(map[string]float64, len(t.stages))
	for _, s := range t.stages {
		m[s.name] = float64(s.d.Microseconds()) / 1000
	}
	return m
}
