package queue

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
)

// Jobs run through a real PgBouncer in transaction pooling mode: two worker
// processes in poll-only mode (no LISTEN, which a transaction pooler cannot
// hold) and a submitter, all through a pool of 3 server connections, run
// every job once and record its outcome. Migrations ran directly against
// PostgreSQL, as docs/operations.md says (they hold a session lock).
func TestJobsThroughPgBouncerTransactionMode(t *testing.T) {
	t.Parallel()
	const jobs = 60
	env := newPGEnv(t)
	bouncer := testenv.StartPgBouncer(t, 3)
	open := func() *Queue {
		q, err := OpenPostgres(ctx(t), bouncer.URL, Config{Schema: env.schema, Logger: quietLogger(t)})
		if err != nil {
			t.Fatalf("OpenPostgres through PgBouncer: %v", err)
		}
		t.Cleanup(q.Close)
		return q
	}
	var runs sync.Map // result id -> *atomic.Int32
	var handled atomic.Int32
	for i := range 2 {
		q := open()
		startWorkers(t, q, WorkerConfig{
			ID:                fmt.Sprintf("bounced-%d", i),
			PollOnly:          true,
			FetchPollInterval: 100 * time.Millisecond,
			Handlers: map[idv.JobKind]idv.JobHandler{
				idv.JobResolution: handlerFunc(func(ctx context.Context, job idv.Job) error {
					n, _ := runs.LoadOrStore(job.ResultID, new(atomic.Int32))
					if n.(*atomic.Int32).Add(1) == 1 {
						handled.Add(1)
					}
					return q.RecordOutcome(ctx, idv.OutcomeRecord{ResultID: job.ResultID, Kind: job.Kind, TraceID: job.TraceID,
						Outcome: idv.OutcomeSuccess, FinishedAt: time.Now()})
				}),
			},
		})
	}
	submitter := open()
	for range jobs {
		cs, job := newAttempt(idv.JobResolution)
		if err := submitter.Submit(ctx(t), cs, job); err != nil {
			t.Fatalf("Submit through PgBouncer: %v", err)
		}
	}
	eventually(t, 60*time.Second, "not every job ran", func() bool { return handled.Load() == jobs })
	eventually(t, 30*time.Second, "not every job completed", func() bool {
		return env.count(t, `SELECT count(*) FROM river_job WHERE state = 'completed' AND kind = 'resolution_proofing'`) == jobs
	})
	if n := env.count(t, `SELECT count(*) FROM idv_outcomes`); n != jobs {
		t.Errorf("%d outcome rows, want %d", n, jobs)
	}
	runs.Range(func(k, v any) bool {
		if n := v.(*atomic.Int32).Load(); n != 1 {
			t.Errorf("job %s ran %d times", k, n)
		}
		return true
	})
	if err := submitter.Ping(ctx(t)); err != nil {
		t.Errorf("Ping through PgBouncer: %v", err)
	}
}
