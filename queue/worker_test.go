package queue

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/internal/testenv"
)

// Two worker processes (separate pools and River clients) on one schema:
// every job runs exactly once.
func TestTwoWorkerProcessesRunEachJobOnce(t *testing.T) {
	t.Parallel()
	const jobs = 200
	env := newPGEnv(t)
	var (
		runs    sync.Map // result id -> *atomic.Int32
		handled atomic.Int32
		byProc  [2]atomic.Int32
	)
	for i := range 2 {
		q := env.open(t, Config{})
		startWorkers(t, q, WorkerConfig{
			ID: fmt.Sprintf("worker-%d", i),
			Handlers: map[idv.JobKind]idv.JobHandler{
				idv.JobResolution: handlerFunc(func(ctx context.Context, job idv.Job) error {
					n, _ := runs.LoadOrStore(job.ResultID, new(atomic.Int32))
					if n.(*atomic.Int32).Add(1) == 1 {
						handled.Add(1)
					}
					byProc[i].Add(1)
					return nil
				}),
			},
		})
	}
	submitter := env.open(t, Config{})
	want := make(map[string]bool, jobs)
	for range jobs {
		cs, job := newAttempt(idv.JobResolution)
		want[job.ResultID] = true
		if err := submitter.Submit(ctx(t), cs, job); err != nil {
			t.Fatalf("Submit: %v", err)
		}
	}
	eventually(t, 30*time.Second, "not every job ran", func() bool { return handled.Load() == jobs })
	// Runs are recorded before River marks the job completed: wait for all
	// to be completed, so a second run would have had its chance.
	eventually(t, 30*time.Second, "not every job completed", func() bool {
		return env.count(t, `SELECT count(*) FROM river_job WHERE state = 'completed' AND kind = 'resolution_proofing'`) == jobs
	})
	runs.Range(func(k, v any) bool {
		if !want[k.(string)] {
			t.Errorf("ran a job that was not submitted: %s", k)
		}
		if n := v.(*atomic.Int32).Load(); n != 1 {
			t.Errorf("job %s ran %d times", k, n)
		}
		return true
	})
	t.Logf("jobs per worker process: %d, %d", byProc[0].Load(), byProc[1].Load())
}

func TestFinishedJobsAreCleanedUp(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	var handled atomic.Int32
	handlers := map[idv.JobKind]idv.JobHandler{
		idv.JobAddress: handlerFunc(func(ctx context.Context, job idv.Job) error {
			handled.Add(1)
			if job.TraceID == "discard" {
				return fmt.Errorf("%w: test", idv.ErrDiscardJob)
			}
			return nil
		}),
	}
	w := startWorkers(t, q, WorkerConfig{Handlers: handlers})
	for i := range 5 {
		cs, job := newAttempt(idv.JobAddress)
		if i == 0 {
			job.TraceID = "discard"
		}
		if err := q.Submit(ctx(t), cs, job); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "jobs not finalized", func() bool {
		return env.count(t, `SELECT count(*) FROM river_job WHERE kind = 'address_proofing' AND finalized_at IS NOT NULL`) == 5
	})
	if err := w.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// River's cleaner runs on the elected leader when it starts and then
	// every 30 s: a new worker with a tiny retention cleans at once.
	startWorkers(t, q, WorkerConfig{Handlers: handlers, Retention: time.Millisecond, FailedRetention: time.Millisecond})
	eventually(t, 20*time.Second, "finished rows not deleted", func() bool {
		return env.count(t, `SELECT count(*) FROM river_job WHERE kind = 'address_proofing'`) == 0
	})
	if handled.Load() != 5 {
		t.Errorf("handled %d jobs, want 5", handled.Load())
	}
}

func TestGracefulStopWaitsForRunningJob(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	checkGracefulStop(t, q, func() int {
		return env.count(t, `SELECT count(*) FROM river_job WHERE state = 'completed'`)
	})
}

// checkGracefulStop runs a job that holds until released, stops the workers
// while it runs, and checks that Stop waits for the job, lets it finish with
// its context intact, and that it completes (completed counts the completed
// jobs in q's database).
func checkGracefulStop(t *testing.T, q *Queue, completed func() int) {
	t.Helper()
	started, release := make(chan struct{}), make(chan struct{})
	var cancelled atomic.Bool
	w := startWorkers(t, q, WorkerConfig{Handlers: map[idv.JobKind]idv.JobHandler{
		idv.JobDocument: handlerFunc(func(ctx context.Context, job idv.Job) error {
			close(started)
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				cancelled.Store(true)
				return ctx.Err()
			}
		}),
	}})
	cs, job := newAttempt(idv.JobDocument)
	if err := q.Submit(ctx(t), cs, job); err != nil {
		t.Fatal(err)
	}
	receive(t, started, 10*time.Second, "job did not start")

	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(ctx(t)) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a job was running", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := receive(t, stopped, 10*time.Second, "Stop did not return after the job finished"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if cancelled.Load() {
		t.Error("the running job's context was cancelled by a graceful stop")
	}
	if n := completed(); n != 1 {
		t.Errorf("%d completed jobs, want 1", n)
	}
}

// When Stop's context ends first, the running job is cancelled and handed
// back: another worker runs it, and the interrupted run does not count as an
// attempt.
func TestStopTimeoutHandsJobBack(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	started := make(chan struct{}, 1)
	w := startWorkers(t, q, WorkerConfig{Handlers: map[idv.JobKind]idv.JobHandler{
		idv.JobDocument: handlerFunc(func(ctx context.Context, job idv.Job) error {
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}),
	}})
	cs, job := newAttempt(idv.JobDocument)
	if err := q.Submit(ctx(t), cs, job); err != nil {
		t.Fatal(err)
	}
	receive(t, started, 10*time.Second, "job did not start")
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.Stop(short); !errors.Is(err, ErrStopTimeout) {
		t.Fatalf("Stop with a short deadline: %v, want ErrStopTimeout", err)
	}
	if n := env.count(t, `SELECT count(*) FROM river_job WHERE state = 'available' AND attempt = 0`); n != 1 {
		t.Fatalf("%d available jobs with no attempt counted, want the handed-back job", n)
	}

	again := make(chan idv.JobInfo, 1)
	startWorkers(t, q, WorkerConfig{Handlers: map[idv.JobKind]idv.JobHandler{
		idv.JobDocument: handlerFunc(func(ctx context.Context, job idv.Job) error {
			info, _ := idv.JobInfoFrom(ctx)
			again <- info
			return nil
		}),
	}})
	if info := receive(t, again, 10*time.Second, "handed-back job did not run again"); info.Attempt != 1 {
		t.Errorf("re-run attempt = %d, want 1", info.Attempt)
	}
}

// A failed run is retried after RetryDelay, up to MaxAttempts; discards and
// panics are final; River's log and river_job.errors never see the sealed
// arguments or a panic's value.
func TestRetriesDiscardsAndPanics(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	logger, logs := testenv.Logger(t)
	q := env.open(t, Config{Logger: logger, MaxAttempts: 2})
	const canary = "PANIC-VALUE-123-45-6789"
	obs := &fake.Observer{}
	startWorkers(t, q, WorkerConfig{
		RetryDelay: 50 * time.Millisecond,
		Observer:   obs,
		Handlers: map[idv.JobKind]idv.JobHandler{
			idv.JobResolution: handlerFunc(func(ctx context.Context, job idv.Job) error {
				info, _ := idv.JobInfoFrom(ctx)
				switch job.TraceID {
				case "flaky":
					if info.Attempt == 1 {
						return errors.New("redis: connection refused")
					}
					return nil
				case "broken":
					return errors.New("redis: connection refused")
				case "discard":
					return fmt.Errorf("%w: stale", idv.ErrDiscardJob)
				case "panic":
					panic(canary)
				}
				return nil
			}),
		},
	})
	var sealed [][]byte
	submit := func(trace string) {
		cs, job := newAttempt(idv.JobResolution)
		job.TraceID = trace
		sealed = append(sealed, job.EncryptedArguments)
		if err := q.Submit(ctx(t), cs, job); err != nil {
			t.Fatal(err)
		}
	}
	for _, trace := range []string{"flaky", "broken", "discard", "panic"} {
		submit(trace)
	}
	states := map[string]string{"flaky": "completed", "broken": "discarded", "discard": "cancelled", "panic": "cancelled"}
	attempts := map[string]int{"flaky": 2, "broken": 2, "discard": 1, "panic": 1}
	eventually(t, 20*time.Second, "jobs did not reach their final states", func() bool {
		for trace, state := range states {
			if env.count(t, `SELECT count(*) FROM river_job WHERE args->>'trace_id' = $1 AND state = $2 AND attempt = $3`, trace, state, attempts[trace]) != 1 {
				return false
			}
		}
		return true
	})

	// A run is reported before River records its end, so every run is in.
	runs := obs.Runs()
	if len(runs) != 6 { // flaky 2, broken 2, discard 1, panic 1
		t.Errorf("%d runs reported, want 6: %+v", len(runs), runs)
	}
	var finals int
	codes := map[string]int{}
	for _, r := range runs {
		if r.Final {
			finals++
		}
		codes[r.Code]++
		if r.Kind != idv.JobResolution || r.Queue != idv.JobResolution.Queue() || r.Attempt < 1 || r.Attempt > 2 || r.Ran <= 0 {
			t.Errorf("run %+v", r)
		}
	}
	if finals != 4 {
		t.Errorf("%d final runs, want 4", finals)
	}
	// flaky's second run succeeded; flaky's first, broken's two and the
	// panic are internal; the discard is invalid (idv.ErrDiscardJob).
	if want := map[string]int{"": 1, idv.EINTERNAL: 4, idv.EINVALID: 1}; !maps.Equal(codes, want) {
		t.Errorf("runs' error codes %v, want %v", codes, want)
	}

	var errs string
	if err := env.db.QueryRow(ctx(t), `SELECT coalesce(string_agg(errors::text, ' '), '') FROM river_job`).Scan(&errs); err != nil {
		t.Fatal(err)
	}
	all := logs.String() + errs
	if strings.Contains(all, canary) {
		t.Errorf("a panic value reached River's log or errors column")
	}
	if !strings.Contains(errs, "job handler panicked (string)") || !strings.Contains(errs, "redis: connection refused") {
		t.Errorf("river_job.errors = %s", errs)
	}
	for _, s := range sealed {
		if strings.Contains(all, base64.StdEncoding.EncodeToString(s)) {
			t.Errorf("sealed job arguments appear in River's log or errors column")
		}
	}
}

func TestWorkerConfigValidation(t *testing.T) {
	t.Parallel()
	h := handlerFunc(func(context.Context, idv.Job) error { return nil })
	ok := map[idv.JobKind]idv.JobHandler{idv.JobResolution: h}
	for name, cfg := range map[string]WorkerConfig{
		"no handlers":          {},
		"unknown kind":         {Handlers: map[idv.JobKind]idv.JobHandler{"nope": h}},
		"workers without kind": {Handlers: ok, Workers: map[idv.JobKind]int{idv.JobDocument: 1}},
		"too many workers":     {Handlers: ok, Workers: map[idv.JobKind]int{idv.JobResolution: 10001}},
		"negative timeout":     {Handlers: ok, Timeouts: map[idv.JobKind]time.Duration{idv.JobResolution: -1}},
		"rescue before timeout": {Handlers: ok, Timeouts: map[idv.JobKind]time.Duration{idv.JobResolution: time.Minute},
			RescueAfter: 30 * time.Second},
		"poll under cooldown": {Handlers: ok, FetchPollInterval: time.Millisecond, FetchCooldown: 10 * time.Millisecond},
		"heartbeat too short": {Handlers: ok, HeartbeatTimeout: 100 * time.Millisecond},
	} {
		if err := cfg.withDefaults(time.Second).validate(); idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
	cfg := WorkerConfig{Handlers: ok, Timeouts: map[idv.JobKind]time.Duration{idv.JobResolution: 20 * time.Second}}.withDefaults(time.Second)
	if err := cfg.validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if cfg.RescueAfter != 35*time.Second || cfg.Workers[idv.JobResolution] != 35 || cfg.DefaultQueueWorkers != 2 || cfg.HeartbeatTimeout != 10*time.Second {
		t.Errorf("defaults: rescue %s, workers %d, default queue %d, heartbeat timeout %s", cfg.RescueAfter, cfg.Workers[idv.JobResolution], cfg.DefaultQueueWorkers, cfg.HeartbeatTimeout)
	}
}

func TestLeaderShowsRunningWorkers(t *testing.T) {
	t.Parallel()
	h := map[idv.JobKind]idv.JobHandler{idv.JobAddress: handlerFunc(func(context.Context, idv.Job) error { return nil })}
	env := newPGEnv(t)
	lite := openSQLite(t, Config{})
	if err := lite.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]*Queue{"postgres": env.open(t, Config{}), "sqlite": lite} {
		if _, err := q.Leader(ctx(t)); !errors.Is(err, idv.ErrNotFound) {
			t.Errorf("%s: Leader with no workers: %v, want not found", name, err)
		}
		w := startWorkers(t, q, WorkerConfig{ID: "w-" + name, Handlers: h})
		eventually(t, 10*time.Second, name+": no leader elected", func() bool {
			id, err := q.Leader(ctx(t))
			return err == nil && id == "w-"+name
		})
		if err := w.Stop(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Leader(ctx(t)); !errors.Is(err, idv.ErrNotFound) {
			t.Errorf("%s: Leader after Stop: %v, want not found (the leader resigns)", name, err)
		}
	}
}
