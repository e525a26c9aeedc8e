package queue

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
)

// testHeartbeatTimeout is short so the tests run in seconds; RescueAfter is
// set far beyond it, so River's rescuer cannot be what re-ran a job.
const (
	testHeartbeatTimeout = 2 * time.Second
	testRescueAfter      = 10 * time.Minute
)

func TestSweepGate(t *testing.T) {
	t.Parallel()
	const timeout = 10 * time.Second
	t0 := time.Unix(1_700_000_000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type beat struct {
		at   float64
		ok   bool
		want bool // sweep?
	}
	for name, beats := range map[string][]beat{
		"steady beats sweep after a whole timeout": {
			{0, true, false}, {2, true, false}, {4, true, false}, {6, true, false}, {8, true, false}, {10, true, true}, {12, true, true},
		},
		"a failure restarts the wait": {
			{0, true, false}, {2, true, false}, {4, true, false}, {6, true, false}, {8, true, false}, {10, true, true},
			{12, false, false}, {14, true, false}, {16, true, false}, {18, true, false}, {20, true, false}, {22, true, false}, {24, true, true},
		},
		"a gap over half a timeout (a pause) restarts the wait": {
			{0, true, false}, {2, true, false}, {4, true, false}, {6, true, false}, {8, true, false}, {10, true, true},
			{40, true, false}, {42, true, false}, {44, true, false}, {46, true, false}, {48, true, false}, {50, true, true},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := sweepGate{timeout: timeout}
			for _, b := range beats {
				if got := g.observe(b.ok, at(b.at)); got != b.want {
					t.Errorf("beat at %vs (ok %v): sweep %v, want %v", b.at, b.ok, got, b.want)
				}
			}
		})
	}
}

// lostJobSpec is a job left running by a worker process, made by hand in the
// database.
type lostJobSpec struct {
	client     string        // last attempted_by
	attempt    int           // runs so far, this one included
	ranFor     time.Duration // since attempted_at
	cancelling bool          // a cancellation was requested while it ran
}

// leaveRunning submits a job (no worker runs it yet) and marks it running as
// spec says. It returns the job's id and trace id.
func leaveRunning(t *testing.T, env pgEnv, q *Queue, spec lostJobSpec) (int64, string) {
	t.Helper()
	cs, job := newAttempt(idv.JobResolution)
	if err := q.Submit(ctx(t), cs, job); err != nil {
		t.Fatal(err)
	}
	var id int64
	err := env.db.QueryRow(ctx(t), `UPDATE river_job SET state = 'running', attempt = $2,
		attempted_at = now() - $3::bigint * interval '1 millisecond', attempted_by = ARRAY[$4::text],
		metadata = CASE WHEN $5 THEN jsonb_build_object('cancel_attempted_at', now()) ELSE metadata END
		WHERE id = (SELECT job_id FROM idv_capture_sessions WHERE id = $1) RETURNING id`,
		cs.ID, spec.attempt, spec.ranFor.Milliseconds(), spec.client, spec.cancelling).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id, job.TraceID
}

// heartbeat records client's heartbeat as of age ago.
func heartbeat(t *testing.T, env pgEnv, client string, age time.Duration) {
	t.Helper()
	if _, err := env.db.Exec(ctx(t), `INSERT INTO idv_worker_heartbeats (client_id, beat_at)
		VALUES ($1, now() - $2::bigint * interval '1 millisecond')`, client, age.Milliseconds()); err != nil {
		t.Fatal(err)
	}
}

type rescuedRow struct {
	state        string
	attempt      int
	finalized    bool
	rescueCount  int
	lastError    string
	errorAttempt int
}

func readJob(t *testing.T, env pgEnv, id int64) rescuedRow {
	t.Helper()
	var r rescuedRow
	err := env.db.QueryRow(ctx(t), `SELECT state::text, attempt, finalized_at IS NOT NULL,
		coalesce((metadata->>'river:rescue_count')::int, 0),
		coalesce(errors[array_length(errors, 1)]->>'error', ''),
		coalesce((errors[array_length(errors, 1)]->>'attempt')::int, 0)
		FROM river_job WHERE id = $1`, id).
		Scan(&r.state, &r.attempt, &r.finalized, &r.rescueCount, &r.lastError, &r.errorAttempt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Jobs left running by worker processes that stopped heartbeating (or never
// did) are run again by a live worker within seconds, long before
// RescueAfter; a job on its last attempt is discarded and one being
// cancelled is cancelled, as River's rescuer would.
func TestLostWorkersJobsAreRescued(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	heartbeat(t, env, "dead-stale", time.Minute)
	ids := map[string]int64{}
	traces := map[string]string{}
	for name, spec := range map[string]lostJobSpec{
		"stale heartbeat": {client: "dead-stale", attempt: 1, ranFor: 5 * time.Second},
		"no heartbeat":    {client: "dead-none", attempt: 2, ranFor: 5 * time.Second},
		"last attempt":    {client: "dead-stale", attempt: DefaultMaxAttempts, ranFor: 5 * time.Second},
		"cancelling":      {client: "dead-stale", attempt: 1, ranFor: 5 * time.Second, cancelling: true},
	} {
		ids[name], traces[name] = leaveRunning(t, env, q, spec)
	}
	reruns := make(chan idv.JobInfo, 10)
	started := time.Now()
	obs := &fake.Observer{}
	startWorkers(t, env.open(t, Config{}), WorkerConfig{
		ID: "live", HeartbeatTimeout: testHeartbeatTimeout, RescueAfter: testRescueAfter,
		Observer: obs,
		Handlers: map[idv.JobKind]idv.JobHandler{idv.JobResolution: handlerFunc(func(ctx context.Context, job idv.Job) error {
			info, _ := idv.JobInfoFrom(ctx)
			reruns <- info
			return nil
		})},
	})
	want := map[int64]int{ids["stale heartbeat"]: 2, ids["no heartbeat"]: 3}
	for range len(want) {
		info := receive(t, reruns, 30*time.Second, "a lost job was not run again")
		if want[info.ID] != info.Attempt {
			t.Errorf("re-ran job %d as attempt %d; want %v (job id: attempt)", info.ID, info.Attempt, want)
		}
		delete(want, info.ID)
	}
	t.Logf("lost jobs re-ran %s after a live worker started (heartbeat timeout %s, RescueAfter %s)",
		time.Since(started).Round(10*time.Millisecond), testHeartbeatTimeout, testRescueAfter)
	eventually(t, 10*time.Second, "re-run jobs did not complete", func() bool {
		return readJob(t, env, ids["stale heartbeat"]).state == "completed" && readJob(t, env, ids["no heartbeat"]).state == "completed"
	})
	for name, want := range map[string]rescuedRow{
		"stale heartbeat": {state: "completed", attempt: 2, finalized: true, rescueCount: 1, lastError: lostWorkerError, errorAttempt: 1},
		"no heartbeat":    {state: "completed", attempt: 3, finalized: true, rescueCount: 1, lastError: lostWorkerError, errorAttempt: 2},
		"last attempt":    {state: "discarded", attempt: 3, finalized: true, rescueCount: 1, lastError: lostWorkerError, errorAttempt: 3},
		"cancelling":      {state: "cancelled", attempt: 1, finalized: true, rescueCount: 1, lastError: lostWorkerError, errorAttempt: 1},
	} {
		if got := readJob(t, env, ids[name]); got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	select {
	case info := <-reruns:
		t.Errorf("job %d (attempt %d) ran, but it was discarded or cancelled", info.ID, info.Attempt)
	default:
	}
	// The sweep reports a batch once it is committed: the re-runs may
	// overtake the report, so wait for it.
	wantRescues := map[fake.Rescue]int{
		{Kind: "resolution_proofing", State: "available"}: 2,
		{Kind: "resolution_proofing", State: "discarded"}: 1,
		{Kind: "resolution_proofing", State: "cancelled"}: 1,
	}
	eventually(t, 10*time.Second, "four rescues were not reported", func() bool { return len(obs.Rescues()) >= 4 })
	rescued := map[fake.Rescue]int{}
	for _, r := range obs.Rescues() {
		rescued[r]++
	}
	if !maps.Equal(rescued, wantRescues) {
		t.Errorf("rescues reported %v, want %v", rescued, wantRescues)
	}
}

// A worker process whose heartbeat stops (as when it is killed) loses its
// running job to another process within seconds; while it still beats, its
// job is never taken, however long it runs.
func TestKilledWorkersJobRerunsElsewhere(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	release := make(chan struct{})
	started := make(chan idv.JobInfo, 1)
	qa := env.open(t, Config{})
	a := startWorkers(t, qa, WorkerConfig{
		ID: "doomed", HeartbeatTimeout: testHeartbeatTimeout, RescueAfter: testRescueAfter,
		// One slot, held by the job: this process cannot take the job
		// back once it is rescued, as a killed one could not.
		Workers: map[idv.JobKind]int{idv.JobResolution: 1},
		Handlers: map[idv.JobKind]idv.JobHandler{idv.JobResolution: handlerFunc(func(ctx context.Context, job idv.Job) error {
			info, _ := idv.JobInfoFrom(ctx)
			started <- info
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		})},
	})
	t.Cleanup(func() { close(release) }) // before a's Stop: cleanups run last in, first out
	cs, job := newAttempt(idv.JobResolution)
	if err := qa.Submit(ctx(t), cs, job); err != nil {
		t.Fatal(err)
	}
	first := receive(t, started, 10*time.Second, "the job did not start")

	reruns := make(chan idv.JobInfo, 1)
	startWorkers(t, env.open(t, Config{}), WorkerConfig{
		ID: "survivor", HeartbeatTimeout: testHeartbeatTimeout, RescueAfter: testRescueAfter,
		Handlers: map[idv.JobKind]idv.JobHandler{idv.JobResolution: handlerFunc(func(ctx context.Context, job idv.Job) error {
			info, _ := idv.JobInfoFrom(ctx)
			reruns <- info
			return nil
		})},
	})
	// The doomed process is alive and beating: three heartbeat timeouts
	// pass (the survivor sweeps after one) and its job stays its own.
	select {
	case info := <-reruns:
		t.Fatalf("a live worker's job was taken: job %d ran again as attempt %d", info.ID, info.Attempt)
	case <-time.After(3 * testHeartbeatTimeout):
	}
	var holder string
	if err := env.db.QueryRow(ctx(t), `SELECT attempted_by[array_length(attempted_by, 1)] FROM river_job
		WHERE id = $1 AND state = 'running'`, first.ID).Scan(&holder); err != nil || holder != "doomed" {
		t.Fatalf("the live worker's job: holder %q, %v", holder, err)
	}

	// "Kill" it: the heartbeat stops, and its row ages as a dead
	// process's would.
	a.liveness.cancel()
	<-a.liveness.done
	killed := time.Now()
	info := receive(t, reruns, 30*time.Second, "the lost job was not run again")
	took := time.Since(killed)
	if info.ID != first.ID || info.Attempt != 2 {
		t.Errorf("re-run: job %d attempt %d, want job %d attempt 2", info.ID, info.Attempt, first.ID)
	}
	if took >= testRescueAfter {
		t.Errorf("re-run %s after the kill: River's rescuer, not the liveness rescue", took)
	}
	t.Logf("job re-ran %s after its worker's heartbeat stopped (timeout %s)", took.Round(10*time.Millisecond), testHeartbeatTimeout)
	eventually(t, 10*time.Second, "the re-run did not complete", func() bool { return readJob(t, env, first.ID).state == "completed" })
}

// Sweepers on every worker process may run at once: each lost job is
// rescued exactly once, and jobs of live workers (fresh heartbeat) and jobs
// that have not run for a whole timeout are left alone.
func TestConcurrentSweepsRescueEachJobOnce(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	heartbeat(t, env, "dead", time.Minute)
	heartbeat(t, env, "alive", 0)
	const lost = 20
	lostIDs := map[int64]bool{}
	for range lost {
		id, _ := leaveRunning(t, env, q, lostJobSpec{client: "dead", attempt: 1, ranFor: 30 * time.Second})
		lostIDs[id] = true
	}
	alive, _ := leaveRunning(t, env, q, lostJobSpec{client: "alive", attempt: 1, ranFor: time.Hour})
	young, _ := leaveRunning(t, env, q, lostJobSpec{client: "just-started", attempt: 1, ranFor: 0})

	const sweepers = 4
	results := make([][]lostJob, sweepers)
	errs := make([]error, sweepers)
	var wg sync.WaitGroup
	for i := range sweepers {
		p := env.open(t, Config{}).b.(*postgres)
		wg.Go(func() { results[i], errs[i] = p.rescueLost(ctx(t), time.Minute/2, rescueBatch) })
	}
	wg.Wait()
	seen := map[int64]int{}
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("sweeper %d: %v", i, errs[i])
		}
		for _, j := range r {
			seen[j.id]++
			if j.state != "available" || j.client != "dead" || j.kind != string(idv.JobResolution) || j.attempt != 1 {
				t.Errorf("rescued %+v", j)
			}
		}
	}
	if len(seen) != lost {
		t.Errorf("%d jobs rescued, want %d", len(seen), lost)
	}
	for id, n := range seen {
		if !lostIDs[id] || n != 1 {
			t.Errorf("job %d rescued %d times (lost: %v)", id, n, lostIDs[id])
		}
		if r := readJob(t, env, id); r.state != "available" || r.rescueCount != 1 || r.finalized {
			t.Errorf("job %d after rescue: %+v", id, r)
		}
	}
	for name, id := range map[string]int64{"live worker's": alive, "young": young} {
		if r := readJob(t, env, id); r.state != "running" || r.rescueCount != 0 {
			t.Errorf("%s job was touched: %+v", name, r)
		}
	}
}

// A worker's heartbeat exists while it runs and goes with a clean stop; on
// SQLite (`idv dev`, one process) there is no liveness rescue.
func TestHeartbeatLifecycle(t *testing.T) {
	t.Parallel()
	h := map[idv.JobKind]idv.JobHandler{idv.JobAddress: handlerFunc(func(context.Context, idv.Job) error { return nil })}
	env := newPGEnv(t)
	w := startWorkers(t, env.open(t, Config{}), WorkerConfig{ID: "w1", Handlers: h})
	if n := env.count(t, `SELECT count(*) FROM idv_worker_heartbeats WHERE client_id = 'w1'`); n != 1 {
		t.Fatalf("%d heartbeat rows for a running worker, want 1", n)
	}
	if err := w.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := env.count(t, `SELECT count(*) FROM idv_worker_heartbeats`); n != 0 {
		t.Errorf("%d heartbeat rows after a clean stop, want 0", n)
	}
	off := startWorkers(t, env.open(t, Config{}), WorkerConfig{ID: "w2", Handlers: h, HeartbeatTimeout: -1})
	if off.liveness != nil || env.count(t, `SELECT count(*) FROM idv_worker_heartbeats`) != 0 {
		t.Error("a negative HeartbeatTimeout did not turn the liveness rescue off")
	}

	lite := openSQLite(t, Config{})
	if err := lite.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if lw := startWorkers(t, lite, WorkerConfig{Handlers: h}); lw.liveness != nil {
		t.Error("SQLite workers run the liveness rescue")
	}
}
