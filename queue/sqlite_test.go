package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

func (q *Queue) sqliteCount(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := q.b.(*sqliteDB).db.QueryRowContext(ctx(t), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// The embedded `idv dev` backend: the same flow as on PostgreSQL.
func TestSQLite(t *testing.T) {
	t.Parallel()
	q := openSQLite(t, Config{})
	for i := range 2 {
		if err := q.Migrate(ctx(t)); err != nil {
			t.Fatalf("Migrate %d: %v", i+1, err)
		}
	}
	if err := q.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	got := make(chan ran, 10)
	w := startWorkers(t, q, WorkerConfig{Handlers: map[idv.JobKind]idv.JobHandler{
		idv.JobResolution: handlerFunc(func(ctx context.Context, job idv.Job) error {
			info, _ := idv.JobInfoFrom(ctx)
			got <- ran{job, info, time.Now()}
			return nil
		}),
	}})

	cs, job := newAttempt(idv.JobResolution)
	submitted := time.Now()
	if err := q.Submit(ctx(t), cs, job); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	r := receive(t, got, 10*time.Second, "handler was not called")
	t.Logf("pick-up latency: %s", r.at.Sub(submitted))
	if r.job.ResultID != job.ResultID || r.job.TraceID != job.TraceID || !r.job.EnqueuedAt.Equal(job.EnqueuedAt) ||
		!bytes.Equal(r.job.EncryptedArguments, job.EncryptedArguments) {
		t.Errorf("handler got %+v, want %+v", r.job, job)
	}
	if r.info.ID == 0 || r.info.Attempt != 1 || r.info.Queue != "resolution_proofing" {
		t.Errorf("JobInfo = %+v", r.info)
	}

	gotCS, err := q.CaptureSession(ctx(t), cs.ID)
	if err != nil {
		t.Fatalf("CaptureSession: %v", err)
	}
	if gotCS.ID != cs.ID || gotCS.ResultID != cs.ResultID || gotCS.Kind != cs.Kind || !gotCS.RequestedAt.Equal(cs.RequestedAt) {
		t.Errorf("CaptureSession = %+v, want %+v", gotCS, cs)
	}
	if _, err := q.CaptureSession(ctx(t), "nope"); !errors.Is(err, idv.ErrNotFound) {
		t.Errorf("CaptureSession of an unknown id: %v", err)
	}

	// Atomic: the duplicate capture session rolls its job back.
	_, job2 := newAttempt(idv.JobResolution)
	cs2 := cs
	cs2.ResultID = job2.ResultID
	if err := q.Submit(ctx(t), cs2, job2); idv.ErrorCode(err) != idv.ECONFLICT {
		t.Fatalf("Submit with a used id: %v, want ECONFLICT", err)
	}
	if n := q.sqliteCount(t, `SELECT count(*) FROM river_job WHERE json_extract(args, '$.result_id') = ?`, job2.ResultID); n != 0 {
		t.Errorf("the failed submit left %d jobs", n)
	}

	// A burst from several goroutines: every job runs once.
	const burst = 30
	var wg sync.WaitGroup
	for range burst {
		wg.Go(func() {
			cs, job := newAttempt(idv.JobResolution)
			if err := q.Submit(ctx(t), cs, job); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for range burst {
		r := receive(t, got, 10*time.Second, "burst job not handled")
		if seen[r.job.ResultID] {
			t.Errorf("job %s ran twice", r.job.ResultID)
		}
		seen[r.job.ResultID] = true
	}
	stats, err := q.Stats(ctx(t))
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	t.Logf("stats: %+v", stats)
	if err := w.Stop(ctx(t)); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestSQLiteRetriesAndDiscards(t *testing.T) {
	t.Parallel()
	q := openSQLite(t, Config{})
	if err := q.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	startWorkers(t, q, WorkerConfig{
		RetryDelay: 20 * time.Millisecond,
		Handlers: map[idv.JobKind]idv.JobHandler{
			idv.JobAddress: handlerFunc(func(ctx context.Context, job idv.Job) error {
				calls.Add(1)
				info, _ := idv.JobInfoFrom(ctx)
				if job.TraceID == "discard" {
					return fmt.Errorf("%w: test", idv.ErrDiscardJob)
				}
				if info.Attempt < 2 {
					return errors.New("try again")
				}
				return nil
			}),
		},
	})
	for _, trace := range []string{"retry", "discard"} {
		cs, job := newAttempt(idv.JobAddress)
		job.TraceID = trace
		if err := q.Submit(ctx(t), cs, job); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "jobs did not finish", func() bool {
		return q.sqliteCount(t, `SELECT count(*) FROM river_job WHERE json_extract(args, '$.trace_id') = 'retry' AND state = 'completed' AND attempt = 2`) == 1 &&
			q.sqliteCount(t, `SELECT count(*) FROM river_job WHERE json_extract(args, '$.trace_id') = 'discard' AND state = 'cancelled' AND attempt = 1`) == 1
	})
	if calls.Load() != 3 {
		t.Errorf("handler called %d times, want 3", calls.Load())
	}
}

func TestSQLiteGracefulStop(t *testing.T) {
	t.Parallel()
	q := openSQLite(t, Config{})
	if err := q.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	checkGracefulStop(t, q, func() int {
		return q.sqliteCount(t, `SELECT count(*) FROM river_job WHERE state = 'completed'`)
	})
}

// PollOnly works too (River's SQLite driver otherwise announces jobs through
// its outbox table).
func TestSQLitePollOnly(t *testing.T) {
	t.Parallel()
	q := openSQLite(t, Config{})
	if err := q.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	got := make(chan idv.Job, 1)
	startWorkers(t, q, WorkerConfig{PollOnly: true, FetchPollInterval: 50 * time.Millisecond, Handlers: map[idv.JobKind]idv.JobHandler{
		idv.JobAddress: handlerFunc(func(ctx context.Context, job idv.Job) error { got <- job; return nil }),
	}})
	cs, job := newAttempt(idv.JobAddress)
	start := time.Now()
	if err := q.Submit(ctx(t), cs, job); err != nil {
		t.Fatal(err)
	}
	if r := receive(t, got, 10*time.Second, "job not handled"); r.ResultID != job.ResultID {
		t.Errorf("handled %s, want %s", r.ResultID, job.ResultID)
	}
	t.Logf("pick-up latency: %s", time.Since(start))
}
