package queue

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
)

type ran struct {
	job  idv.Job
	info idv.JobInfo
	at   time.Time
}

func TestSubmitThenWorkerHandlesJob(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	got := make(chan ran, 1)
	startWorkers(t, q, WorkerConfig{
		Handlers: map[idv.JobKind]idv.JobHandler{idv.JobResolution: handlerFunc(func(ctx context.Context, job idv.Job) error {
			info, _ := idv.JobInfoFrom(ctx)
			got <- ran{job, info, time.Now()}
			return nil
		})},
		// A long fallback poll: the job must start because of NOTIFY.
		FetchPollInterval: 30 * time.Second,
	})
	// Let the worker's producers start listening before the insert.
	eventually(t, 10*time.Second, "worker did not register its queue", func() bool {
		return env.count(t, `SELECT count(*) FROM river_queue WHERE name = $1`, idv.JobResolution.Queue()) == 1
	})

	cs, job := newAttempt(idv.JobResolution)
	submitted := time.Now()
	if err := q.Submit(ctx(t), cs, job); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	r := receive(t, got, 10*time.Second, "handler was not called")
	t.Logf("pick-up latency: %s", r.at.Sub(submitted))
	if r.job.Kind != job.Kind || r.job.ResultID != job.ResultID || r.job.TraceID != job.TraceID ||
		!r.job.EnqueuedAt.Equal(job.EnqueuedAt) || !bytes.Equal(r.job.EncryptedArguments, job.EncryptedArguments) {
		t.Errorf("handler got %+v, want %+v", r.job, job)
	}
	if r.info.ID == 0 || r.info.Attempt != 1 || r.info.Queue != "resolution_proofing" {
		t.Errorf("JobInfo = %+v, want an id, attempt 1, queue resolution_proofing", r.info)
	}
	if n := env.count(t, `SELECT count(*) FROM idv_capture_sessions WHERE id = $1 AND job_id = $2`, cs.ID, r.info.ID); n != 1 {
		t.Errorf("capture session row with the job's id: %d rows", n)
	}
	eventually(t, 10*time.Second, "job not completed", func() bool {
		return env.count(t, `SELECT count(*) FROM river_job WHERE id = $1 AND state = 'completed'`, r.info.ID) == 1
	})
}

func TestCaptureSession(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	cs, job := newAttempt(idv.JobAddress)
	if err := q.Submit(ctx(t), cs, job); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	got, err := q.CaptureSession(ctx(t), cs.ID)
	if err != nil {
		t.Fatalf("CaptureSession: %v", err)
	}
	// PostgreSQL keeps microseconds.
	if got.ID != cs.ID || got.ResultID != cs.ResultID || got.Kind != cs.Kind || !got.RequestedAt.Equal(cs.RequestedAt.Truncate(time.Microsecond)) {
		t.Errorf("CaptureSession = %+v, want %+v", got, cs)
	}
	if _, err := q.CaptureSession(ctx(t), "no-such-id"); !errors.Is(err, idv.ErrNotFound) {
		t.Errorf("CaptureSession of an unknown id: %v, want idv.ErrNotFound", err)
	}
}

func TestSubmitIsAtomic(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	cs, job := newAttempt(idv.JobResolution)
	if err := q.Submit(ctx(t), cs, job); err != nil {
		t.Fatalf("Submit: %v", err)
	}

	// The River insert succeeds, then the capture session insert fails on
	// the duplicate id: the job must be rolled back with it.
	_, job2 := newAttempt(idv.JobResolution)
	cs2 := cs
	cs2.ResultID = job2.ResultID
	err := q.Submit(ctx(t), cs2, job2)
	if idv.ErrorCode(err) != idv.ECONFLICT {
		t.Fatalf("Submit with a used capture session id: %v, want ECONFLICT", err)
	}
	if n := env.count(t, `SELECT count(*) FROM river_job WHERE args->>'result_id' = $1`, job2.ResultID); n != 0 {
		t.Errorf("the failed submit left %d jobs behind", n)
	}
	if n := env.count(t, `SELECT count(*) FROM river_job`); n != 1 {
		t.Errorf("river_job has %d rows, want 1", n)
	}

	// A cancelled context fails before anything is written.
	cs3, job3 := newAttempt(idv.JobResolution)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Submit(cancelled, cs3, job3); idv.ErrorCode(err) != idv.EUNAVAILABLE {
		t.Errorf("Submit with a cancelled context: %v, want EUNAVAILABLE", err)
	}
	if _, err := q.CaptureSession(ctx(t), cs3.ID); !errors.Is(err, idv.ErrNotFound) {
		t.Errorf("capture session of the failed submit: %v, want not found", err)
	}
}

func TestSubmitRejectsMismatchedJob(t *testing.T) {
	t.Parallel()
	q := &Queue{} // validation happens before the database
	for name, mutate := range map[string]func(*idv.CaptureSession, *idv.Job){
		"unknown kind":     func(cs *idv.CaptureSession, j *idv.Job) { cs.Kind, j.Kind = "bad kind", "bad kind" },
		"other kind":       func(cs *idv.CaptureSession, j *idv.Job) { j.Kind = idv.JobAddress },
		"other result id":  func(cs *idv.CaptureSession, j *idv.Job) { j.ResultID = "other" },
		"no id":            func(cs *idv.CaptureSession, j *idv.Job) { cs.ID = "" },
		"no request time":  func(cs *idv.CaptureSession, j *idv.Job) { cs.RequestedAt = time.Time{} },
		"empty result ids": func(cs *idv.CaptureSession, j *idv.Job) { cs.ResultID, j.ResultID = "", "" },
	} {
		cs, job := newAttempt(idv.JobResolution)
		mutate(&cs, &job)
		if err := q.Submit(context.Background(), cs, job); idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := OpenPostgres(c, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", Config{})
	if idv.ErrorCode(err) != idv.EUNAVAILABLE {
		t.Fatalf("OpenPostgres of a closed port: %v, want EUNAVAILABLE", err)
	}
}

func TestPingAndStats(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	if err := q.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	for range 3 {
		cs, job := newAttempt(idv.JobDocument)
		if err := q.Submit(ctx(t), cs, job); err != nil {
			t.Fatal(err)
		}
	}
	cs, job := newAttempt(idv.JobAddress)
	if err := q.Submit(ctx(t), cs, job); err != nil {
		t.Fatal(err)
	}
	stats, err := q.Stats(ctx(t))
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	want := map[string]QueueStats{
		"document_proofing": {Available: 3}, "address_proofing": {Available: 1},
		"resolution_proofing": {}, "default": {},
	}
	for name, w := range want {
		got := stats[name]
		if (got.OldestAvailable > 0) != (w.Available > 0) || got.OldestAvailable > time.Minute {
			t.Errorf("Stats[%s].OldestAvailable = %s with %d available", name, got.OldestAvailable, got.Available)
		}
		got.OldestAvailable = 0
		if got != w {
			t.Errorf("Stats[%s] = %+v, want %+v", name, got, w)
		}
	}

	// A database that answers but is not migrated is not healthy.
	schema, url := testenv.Schema(t)
	bare := pgEnv{schema: schema, url: url}.open(t, Config{})
	if err := bare.Ping(ctx(t)); idv.ErrorCode(err) != idv.EUNAVAILABLE {
		t.Errorf("Ping of an unmigrated schema: %v, want EUNAVAILABLE", err)
	}
}

func TestPruneCaptureSessions(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	old, oldJob := newAttempt(idv.JobResolution)
	old.RequestedAt = time.Now().Add(-48 * time.Hour)
	fresh, freshJob := newAttempt(idv.JobResolution)
	for _, a := range []struct {
		cs  idv.CaptureSession
		job idv.Job
	}{{old, oldJob}, {fresh, freshJob}} {
		if err := q.Submit(ctx(t), a.cs, a.job); err != nil {
			t.Fatal(err)
		}
	}
	n, err := q.PruneCaptureSessions(ctx(t), time.Now().Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneCaptureSessions = %d, %v; want 1", n, err)
	}
	if _, err := q.CaptureSession(ctx(t), old.ID); !errors.Is(err, idv.ErrNotFound) {
		t.Errorf("old capture session: %v, want not found", err)
	}
	if _, err := q.CaptureSession(ctx(t), fresh.ID); err != nil {
		t.Errorf("fresh capture session: %v", err)
	}
}

func BenchmarkSubmit(b *testing.B) {
	env := newPGEnv(b)
	q := env.open(b, Config{})
	c := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			cs, job := newAttempt(idv.JobResolution)
			if err := q.Submit(c, cs, job); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
