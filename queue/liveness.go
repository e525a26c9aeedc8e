package queue

// Liveness rescue: a fast path, beside River's stuck-job rescuer, for jobs
// whose worker process died (SIGKILL, OOM, lost host).
//
// River's rescuer can only judge a job by how long it has been running, so
// its threshold (RescueAfter) must exceed the longest job timeout and a
// killed worker's job re-runs after the person's 60 s result window. Here
// each worker process records a heartbeat in idv_worker_heartbeats under its
// River client id, which River appends to river_job.attempted_by when the
// process takes a job. A job that is running, has run for longer than
// HeartbeatTimeout, and whose last client has not beaten for HeartbeatTimeout
// (or never has) is made available again at once, so a live worker re-runs
// it within seconds. River's rescuer stays as the backstop.
//
// The sweep is one UPDATE whose conditions are re-checked under row locks,
// so every worker process runs it and two sweepers never rescue one job
// twice. A process sweeps only after its own heartbeats have succeeded
// without a gap for a whole HeartbeatTimeout: after a database outage every
// process gets that long to beat again before anyone is judged dead.
//
// The guarantee is at least once, as with River's rescuer: a worker that is
// alive but cannot reach the database for HeartbeatTimeout loses its running
// jobs to others, and may still finish them itself. Both runs store the
// result under the same result id, so the person sees one of them.

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/idv-dev/idv"
	"github.com/jackc/pgx/v5"
)

const (
	// DefaultHeartbeatTimeout is WorkerConfig.HeartbeatTimeout when it is
	// zero: five missed heartbeats, two seconds apart.
	DefaultHeartbeatTimeout = 10 * time.Second
	// minHeartbeatTimeout keeps heartbeats (HeartbeatTimeout/5 apart) from
	// hammering the database, and a short stall from costing a live
	// worker its jobs.
	minHeartbeatTimeout = time.Second
	// heartbeatsPerTimeout is how many heartbeats a process records per
	// HeartbeatTimeout; it also sweeps that often.
	heartbeatsPerTimeout = 5
	// lostWorkerError is the text appended to river_job.errors of a rescued
	// job, as River's rescuer appends its own. It carries no PII.
	lostWorkerError = "worker lost (no heartbeat)"
	// rescueBatch bounds the rows one sweep statement takes.
	rescueBatch = 500
	// heartbeatRetention is how long the row of a process that stopped
	// beating is kept (for operators) before a sweeper deletes it.
	heartbeatRetention = 24 * time.Hour
)

// livenessBackend is the part of a backend the liveness rescue needs. Only
// PostgreSQL has it: `idv dev` on SQLite is one process, whose death takes
// every worker with it, so there is no live worker to hand a job to.
type livenessBackend interface {
	// beat records that clientID is alive, by the database's clock.
	beat(ctx context.Context, clientID string) error
	// forget deletes clientID's heartbeat, on a clean stop.
	forget(ctx context.Context, clientID string) error
	// rescueLost makes available again (or discards, or cancels) up to
	// limit running jobs lost with a dead worker, and announces the
	// available ones to the queues' listeners.
	rescueLost(ctx context.Context, timeout time.Duration, limit int) ([]lostJob, error)
	// pruneHeartbeats deletes heartbeats older than age.
	pruneHeartbeats(ctx context.Context, age time.Duration) error
}

// lostJob is one job taken from a dead worker.
type lostJob struct {
	id      int64
	kind    string
	queue   string
	state   string // available, discarded or cancelled
	attempt int
	client  string // the lost worker's client id
}

// liveness is one worker process's heartbeat and sweep loop.
type liveness struct {
	b        livenessBackend
	id       string
	timeout  time.Duration
	log      *slog.Logger
	observer idv.Observer // hears of each rescued job
	cancel   context.CancelFunc
	done     chan struct{}
}

// startLiveness records a first heartbeat, so that this process's jobs are
// never taken for lost ones, and then keeps beating and sweeping until stop.
// It returns nil, nil when the backend has no liveness rescue or it is off.
func startLiveness(ctx context.Context, b backend, id string, timeout time.Duration, log *slog.Logger, observer idv.Observer) (*liveness, error) {
	lb, ok := b.(livenessBackend)
	if !ok || timeout <= 0 {
		return nil, nil
	}
	if err := lb.beat(ctx, id); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &liveness{b: lb, id: id, timeout: timeout, log: log, observer: observer, cancel: cancel, done: make(chan struct{})}
	go l.run(lctx, time.Now())
	return l, nil
}

func (l *liveness) run(ctx context.Context, firstBeat time.Time) {
	defer close(l.done)
	interval := l.timeout / heartbeatsPerTimeout
	gate := sweepGate{timeout: l.timeout}
	gate.observe(true, firstBeat)
	lastPrune := firstBeat
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		bctx, cancel := context.WithTimeout(ctx, interval)
		err := l.b.beat(bctx, l.id)
		cancel()
		now := time.Now()
		wasHealthy := gate.healthy
		if err != nil {
			if wasHealthy && ctx.Err() == nil {
				l.log.WarnContext(ctx, "worker heartbeat failed; not judging other workers until it has succeeded for a whole heartbeat timeout",
					"worker_id", l.id, "error", err.Error())
			}
			gate.observe(false, now)
			continue
		}
		if !gate.observe(true, now) {
			continue
		}
		l.sweep(ctx)
		if now.Sub(lastPrune) > time.Hour {
			lastPrune = now
			pctx, cancel := context.WithTimeout(ctx, l.timeout)
			if err := l.b.pruneHeartbeats(pctx, heartbeatRetention); err != nil && ctx.Err() == nil {
				l.log.WarnContext(ctx, "pruning old worker heartbeats failed", "error", err.Error())
			}
			cancel()
		}
	}
}

// sweep rescues the jobs of dead workers, a batch at a time.
func (l *liveness) sweep(ctx context.Context) {
	for {
		sctx, cancel := context.WithTimeout(ctx, l.timeout)
		jobs, err := l.b.rescueLost(sctx, l.timeout, rescueBatch)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				l.log.WarnContext(ctx, "rescuing jobs of lost workers failed", "error", err.Error())
			}
			return
		}
		for _, j := range jobs {
			l.log.WarnContext(ctx, "job of a lost worker rescued", "job_id", j.id, "kind", j.kind, "queue", j.queue,
				"attempt", j.attempt, "lost_worker_id", j.client, "state", j.state, "rescued_by", l.id)
			l.observer.JobRescued(j.kind, j.state)
		}
		if len(jobs) < rescueBatch {
			return
		}
	}
}

// stop ends the loop and deletes this process's heartbeat: its jobs have
// finished or been handed back, and any left running are then lost ones.
func (l *liveness) stop() {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.b.forget(ctx, l.id); err != nil {
		l.log.WarnContext(ctx, "deleting the worker heartbeat failed; it ages out", "worker_id", l.id, "error", err.Error())
	}
}

// sweepGate decides when a process may judge other workers dead: only after
// its own heartbeats have succeeded, with no gap over half a timeout, for a
// whole timeout. After a database outage, or a pause of this process, the
// other workers have had as long to beat again.
type sweepGate struct {
	timeout      time.Duration
	healthy      bool
	healthySince time.Time
	lastBeat     time.Time
}

// observe records one heartbeat's success and says whether to sweep now.
func (g *sweepGate) observe(ok bool, now time.Time) bool {
	if !ok {
		g.healthy = false
		return false
	}
	if !g.healthy || now.Sub(g.lastBeat) > g.timeout/2 {
		g.healthySince = now
	}
	g.healthy, g.lastBeat = true, now
	return now.Sub(g.healthySince) >= g.timeout
}

func (p *postgres) beat(ctx context.Context, clientID string) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO `+p.prefix+`idv_worker_heartbeats (client_id) VALUES ($1)
		ON CONFLICT (client_id) DO UPDATE SET beat_at = now()`, clientID)
	return err
}

func (p *postgres) forget(ctx context.Context, clientID string) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM `+p.prefix+`idv_worker_heartbeats WHERE client_id = $1`, clientID)
	return err
}

func (p *postgres) pruneHeartbeats(ctx context.Context, age time.Duration) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM `+p.prefix+`idv_worker_heartbeats
		WHERE beat_at < now() - $1::bigint * interval '1 millisecond'`, age.Milliseconds())
	return err
}

// rescueLost updates rows as River's rescuer does (JobRescueMany in
// riverpgxv5): it appends an error entry, bumps metadata's
// river:rescue_count, cancels a job whose cancellation was requested,
// discards one on its last attempt, and otherwise, where River's rescuer
// schedules a retry for the leader's scheduler to release, makes the job
// available at once, as River's JobRetry does. attempt and attempted_by are
// left alone: River counts the next run when a worker takes it. Every
// condition is checked again on the locked row (FOR UPDATE SKIP LOCKED,
// then state = 'running'), so concurrent sweepers, River's rescuer and
// River's completer never both act on one run. The NOTIFY is River's insert
// notification, so workers LISTENing take the job within milliseconds; it is
// sent on commit.
func (p *postgres) rescueLost(ctx context.Context, timeout time.Duration, limit int) ([]lostJob, error) {
	var out []lostJob
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, fmt.Sprintf(rescueLostSQL, p.prefix), timeout.Milliseconds(), limit, lostWorkerError)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (lostJob, error) {
			var j lostJob
			err := r.Scan(&j.id, &j.kind, &j.queue, &j.state, &j.attempt, &j.client)
			return j, err
		})
		if err != nil {
			return err
		}
		queues := map[string]bool{}
		for _, j := range out {
			if j.state == "available" && !queues[j.queue] {
				queues[j.queue] = true
				if _, err := tx.Exec(ctx, `SELECT pg_notify(concat(coalesce(nullif($1, ''), current_schema()), '.river_insert'), $2)`,
					p.schema, fmt.Sprintf(`{"queue": %q}`, j.queue)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return out, err
}

// rescueLostSQL takes the schema prefix (%[1]s); $1 is the heartbeat
// timeout in milliseconds, $2 the batch size, $3 the error text.
const rescueLostSQL = `WITH lost AS (
	SELECT j.id
	FROM %[1]sriver_job j
	WHERE j.state = 'running'
		AND j.attempted_at < now() - $1::bigint * interval '1 millisecond'
		AND NOT EXISTS (
			SELECT 1 FROM %[1]sidv_worker_heartbeats h
			WHERE h.client_id = j.attempted_by[array_length(j.attempted_by, 1)]
				AND h.beat_at >= now() - $1::bigint * interval '1 millisecond'
		)
	ORDER BY j.id
	LIMIT $2
	FOR UPDATE OF j SKIP LOCKED
), decided AS (
	SELECT j.id, CASE
		WHEN j.metadata ? 'cancel_attempted_at' THEN 'cancelled'
		WHEN j.attempt >= j.max_attempts THEN 'discarded'
		ELSE 'available'
	END AS state
	FROM %[1]sriver_job j JOIN lost ON lost.id = j.id
)
UPDATE %[1]sriver_job j SET
	state = decided.state::%[1]sriver_job_state,
	finalized_at = CASE WHEN decided.state = 'available' THEN NULL ELSE now() END,
	scheduled_at = CASE WHEN decided.state = 'available' THEN now() ELSE j.scheduled_at END,
	errors = array_append(j.errors, jsonb_build_object(
		'at', now(), 'attempt', greatest(j.attempt, 0), 'error', $3::text, 'trace', '')),
	metadata = j.metadata || jsonb_build_object('river:rescue_count', coalesce(
		CASE WHEN jsonb_typeof(j.metadata -> 'river:rescue_count') = 'number'
			THEN (j.metadata ->> 'river:rescue_count')::int END, 0) + 1)
FROM decided
WHERE j.id = decided.id AND j.state = 'running'
RETURNING j.id, j.kind, j.queue, j.state::text, j.attempt, coalesce(j.attempted_by[array_length(j.attempted_by, 1)], '')`
