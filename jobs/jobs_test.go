package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/results"
	"github.com/idv-dev/idv/results/memory"
)

// newResults is a result store in memory, as `idv dev` runs it.
func newResults(t *testing.T) *results.Store {
	t.Helper()
	s, err := memory.New(fake.Sealer{}, results.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type fixedProofer struct {
	res   idv.VendorResult
	calls int
}

func (f *fixedProofer) ProofResolution(context.Context, idv.Applicant) idv.VendorResult {
	f.calls++
	return f.res
}
func (f *fixedProofer) ProofStateID(context.Context, idv.Applicant) idv.VendorResult {
	f.calls++
	return f.res
}

func TestAdjudicate(t *testing.T) {
	t.Parallel()
	ok := idv.VendorResult{Success: true}
	tests := []struct {
		name       string
		resolution idv.VendorResult
		stateID    idv.VendorResult
		want       idv.Outcome
	}{
		{"both pass", ok, ok, idv.OutcomeSuccess},
		{"state id fails", ok, idv.VendorResult{Errors: map[string][]string{"state_id_number": {"invalid"}}}, idv.OutcomeFailure},
		{"state id times out", ok, idv.VendorResult{TimedOut: true}, idv.OutcomeTimedOut},
		{"state id exception", ok, idv.VendorResult{Exception: "connection failed"}, idv.OutcomeException},
		{"address failure covered by state", idv.VendorResult{Errors: map[string][]string{"address": {"not_found"}}},
			idv.VendorResult{Success: true, VerifiedAttributes: []string{"address", "dob"}}, idv.OutcomeSuccess},
		{"ssn failure not covered", idv.VendorResult{Errors: map[string][]string{"ssn": {"not_found"}}},
			idv.VendorResult{Success: true, VerifiedAttributes: []string{"address", "dob"}}, idv.OutcomeFailure},
		{"failure without attributes", idv.VendorResult{}, ok, idv.OutcomeFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got, _ := Adjudicate(tc.resolution, tc.stateID); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func newJob(t *testing.T, enqueued time.Time, a idv.Applicant) idv.Job {
	t.Helper()
	b, _ := json.Marshal(idv.ResolutionArguments{Applicant: a})
	j := idv.Job{Kind: idv.JobResolution, ResultID: idv.NewID(), TraceID: "trace-1", EnqueuedAt: enqueued}
	j.EncryptedArguments, _ = fake.Sealer{}.Seal(context.Background(), b, idv.JobAAD(j.Kind, j.ResultID))
	return j
}

func TestResolutionJob(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	canary := idv.Applicant{FirstName: "Canaryfirst", SSN: "900-77-1234"}
	tests := []struct {
		name        string
		job         func(t *testing.T) idv.Job
		resolution  idv.VendorResult
		wantErr     bool
		wantDiscard bool
		wantOutcome idv.Outcome
		wantCalls   int
		// wantReported is the outcome reported to the observer.
		wantReported string
	}{
		{"success", func(t *testing.T) idv.Job { return newJob(t, now.Add(-time.Second), canary) },
			idv.VendorResult{Success: true}, false, false, idv.OutcomeSuccess, 2, "success"},
		{"vendor timeout is a result", func(t *testing.T) idv.Job { return newJob(t, now.Add(-time.Second), canary) },
			idv.VendorResult{TimedOut: true}, false, false, idv.OutcomeTimedOut, 1, "timed_out"},
		{"vendor exception is a result", func(t *testing.T) idv.Job { return newJob(t, now.Add(-time.Second), canary) },
			idv.VendorResult{Exception: "connection failed"}, false, false, idv.OutcomeException, 1, "exception"},
		{"stale job discarded without vendor calls", func(t *testing.T) idv.Job { return newJob(t, now.Add(-301*time.Second), canary) },
			idv.VendorResult{Success: true}, true, true, "", 0, "stale_discarded"},
		{"arguments bound to another result id", func(t *testing.T) idv.Job {
			j := newJob(t, now, canary)
			j.ResultID = idv.NewID()
			return j
		}, idv.VendorResult{Success: true}, true, true, "", 0, "arguments_unreadable"},
		{"truncated arguments", func(t *testing.T) idv.Job {
			j := newJob(t, now, canary)
			j.EncryptedArguments = j.EncryptedArguments[:3]
			return j
		}, idv.VendorResult{Success: true}, true, true, "", 0, "arguments_unreadable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logger, logs := testenv.Logger(t)
			store := newResults(t)
			p := &fixedProofer{res: tc.resolution}
			obs := &fake.Observer{}
			h := &Resolution{
				Runner:     &Runner{Sealer: fake.Sealer{}, Results: store, Logger: logger, Now: func() time.Time { return now }, Observer: obs},
				Resolution: p, StateID: p,
			}
			job := tc.job(t)
			ctx := idv.WithJobInfo(context.Background(), idv.JobInfo{ID: 42, Attempt: 1, Queue: "resolution_proofing"})
			err := h.Handle(ctx, job)
			if (err != nil) != tc.wantErr || errors.Is(err, idv.ErrDiscardJob) != tc.wantDiscard {
				t.Fatalf("err = %v", err)
			}
			if p.calls != tc.wantCalls {
				t.Fatalf("vendor calls = %d, want %d", p.calls, tc.wantCalls)
			}
			want := []fake.FinishedJob{{Kind: idv.JobResolution, Outcome: tc.wantReported, Queued: now.Sub(job.EnqueuedAt)}}
			if got := obs.Finished(); !slices.Equal(got, want) {
				t.Errorf("finished jobs reported %+v, want %+v", got, want)
			}
			calls := obs.VendorCalls()
			if len(calls) != tc.wantCalls {
				t.Errorf("vendor calls reported %+v, want %d", calls, tc.wantCalls)
			}
			for _, c := range calls {
				if c.Outcome != tc.wantOutcome {
					t.Errorf("vendor call reported %+v, want outcome %s", c, tc.wantOutcome)
				}
			}
			r, lerr := store.Load(ctx, job.ResultID)
			if tc.wantOutcome == "" {
				if lerr == nil {
					t.Fatalf("stored a result for a discarded job: %+v", r)
				}
			} else if lerr != nil || r.Status != idv.StatusDone || r.Result.Outcome != tc.wantOutcome {
				t.Fatalf("stored %+v %v", r, lerr)
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
				t.Fatalf("want one JSON log line, got %q", logs.String())
			}
			for _, k := range []string{"kind", "job_id", "trace_id", "queue", "attempt", "queued_ms", "run_ms", "timing_ms", "outcome"} {
				if _, ok := line[k]; !ok {
					t.Errorf("log line lacks %q: %s", k, logs.String())
				}
			}
			if s := logs.String(); strings.Contains(s, "Canaryfirst") || strings.Contains(s, "900-77-1234") {
				t.Fatalf("PII in log: %s", s)
			}
		})
	}
}

type phoneProofer struct {
	res   idv.VendorResult
	calls int
}

func (p *phoneProofer) ProofPhone(context.Context, idv.Applicant) idv.VendorResult {
	p.calls++
	return p.res
}

func TestAddressJob(t *testing.T) {
	t.Parallel()
	ok := idv.VendorResult{Success: true}
	fail := idv.VendorResult{Errors: map[string][]string{"phone": {"phone_unverifiable"}}}
	tests := []struct {
		name               string
		primary, secondary idv.VendorResult
		withSecondary      bool
		want               idv.Outcome
		wantSecondaryCalls int
	}{
		{"primary verifies", ok, ok, true, idv.OutcomeSuccess, 0},
		{"primary fails, no secondary", fail, ok, false, idv.OutcomeFailure, 0},
		{"primary fails, secondary verifies", fail, ok, true, idv.OutcomeSuccess, 1},
		{"primary exception, secondary fails", idv.VendorResult{Exception: "connection failed"}, fail, true, idv.OutcomeFailure, 1},
		{"primary timeout is not retried", idv.VendorResult{TimedOut: true}, ok, true, idv.OutcomeTimedOut, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := time.Now()
			b, _ := json.Marshal(idv.AddressArguments{Applicant: idv.Applicant{Phone: "7035550000"}})
			job := idv.Job{Kind: idv.JobAddress, ResultID: idv.NewID(), EnqueuedAt: now}
			job.EncryptedArguments, _ = fake.Sealer{}.Seal(context.Background(), b, idv.JobAAD(job.Kind, job.ResultID))
			store := newResults(t)
			p, s := &phoneProofer{res: tc.primary}, &phoneProofer{res: tc.secondary}
			h := &Address{Runner: &Runner{Sealer: fake.Sealer{}, Results: store, Logger: slog.New(slog.DiscardHandler)}, Primary: p}
			if tc.withSecondary {
				h.Secondary = s
			}
			if err := h.Handle(context.Background(), job); err != nil {
				t.Fatal(err)
			}
			r, err := store.Load(context.Background(), job.ResultID)
			if err != nil || r.Result.Outcome != tc.want || s.calls != tc.wantSecondaryCalls {
				t.Fatalf("got %+v %v, secondary calls %d", r.Result, err, s.calls)
			}
		})
	}
}

// flakyResults fails its first stores as a Redis in failover does.
type flakyResults struct {
	inner    *results.Store
	failures int // stores still to fail
	tries    int
}

func (f *flakyResults) Load(ctx context.Context, id string) (idv.AsyncResult, error) {
	return f.inner.Load(ctx, id)
}

func (f *flakyResults) Changed(ctx context.Context, id string) <-chan struct{} {
	return f.inner.Changed(ctx, id)
}

func (f *flakyResults) Store(ctx context.Context, id string, r idv.AsyncResult) error {
	f.tries++
	if f.failures > 0 {
		f.failures--
		return idv.WrapError(idv.EUNAVAILABLE, "result store unavailable", errors.New("connection refused"))
	}
	return f.inner.Store(ctx, id, r)
}

// TestStoreRetriedWhileUnavailable: a result store that is away for a
// moment (a Redis failover) is tried again within StoreRetryFor, so the
// job, and its vendor calls, do not run twice.
func TestStoreRetriedWhileUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		failures  int
		retryFor  time.Duration
		wantErr   bool
		wantTries int // 0: more than one, as many as fit in retryFor
	}{
		{"stored at once", 0, 0, false, 1},
		{"stored after the store came back", 3, 0, false, 4},
		{"no retry when turned off", 1, -1, true, 1},
		{"gives up after StoreRetryFor", 1000, 500 * time.Millisecond, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, _ := json.Marshal(idv.AddressArguments{Applicant: idv.Applicant{Phone: "7035550000"}})
			job := idv.Job{Kind: idv.JobAddress, ResultID: idv.NewID(), EnqueuedAt: time.Now()}
			job.EncryptedArguments, _ = fake.Sealer{}.Seal(context.Background(), b, idv.JobAAD(job.Kind, job.ResultID))
			store := &flakyResults{inner: newResults(t), failures: tc.failures}
			p := &phoneProofer{res: idv.VendorResult{Success: true}}
			h := &Address{Runner: &Runner{Sealer: fake.Sealer{}, Results: store, Logger: slog.New(slog.DiscardHandler),
				StoreRetryFor: tc.retryFor}, Primary: p}
			err := h.Handle(context.Background(), job)
			triesOK := store.tries == tc.wantTries || (tc.wantTries == 0 && store.tries > 1)
			if (err != nil) != tc.wantErr || !triesOK || p.calls != 1 {
				t.Fatalf("err %v, %d tries, %d vendor calls; want error %v, %d tries, one vendor call", err, store.tries, p.calls, tc.wantErr, tc.wantTries)
			}
			if _, err := store.Load(context.Background(), job.ResultID); (err == nil) == tc.wantErr {
				t.Fatalf("stored: %v", err)
			}
		})
	}
}
