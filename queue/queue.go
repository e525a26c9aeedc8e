// Package queue is idv's thin layer over River (riverqueue.com): it records a
// proofing attempt and enqueues its job in one transaction, runs workers per
// job kind, and applies the schema. Nothing else in idv imports River.
//
// Two backends share one API: PostgreSQL (pgx, production; new jobs are
// announced with LISTEN/NOTIFY so a worker starts them within milliseconds)
// and a SQLite file (`idv dev`, nothing to install).
//
// Job arguments hold only routing fields in clear; the person's data travels
// sealed in EncryptedArguments, so neither river_job nor River's logs ever see
// it. idv_capture_sessions holds no PII either.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/idv-dev/idv"
	"github.com/riverqueue/river"
)

// Config is what both backends need. The zero value works.
type Config struct {
	// Schema is the PostgreSQL schema holding River's and idv's tables.
	// Empty: the connection's search_path (normally public). Ignored by
	// SQLite.
	Schema string
	// Logger receives River's own log lines and this package's. River logs
	// job ids, kinds and error strings, never job arguments. Default:
	// slog.Default().
	Logger *slog.Logger
	// MaxAttempts is how many times a job may run, the first run included.
	// It is stored with each job when it is inserted, so it belongs here
	// and not to the workers. A failed run only helps the person if its
	// re-run finishes inside the 60 s result window, so keep it small.
	// Default 3.
	MaxAttempts int
}

// DefaultMaxAttempts is Config.MaxAttempts when it is zero.
const DefaultMaxAttempts = 3

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	return c
}

// Queue records proofing attempts and enqueues their jobs; it implements
// idv.Queue. It is safe for concurrent use. StartWorkers runs jobs from the
// same database.
type Queue struct {
	b   backend
	cfg Config
}

var _ idv.Queue = (*Queue)(nil)

// backend is what differs between PostgreSQL and SQLite. Its methods return
// raw driver errors; Queue gives them idv codes.
type backend interface {
	// cancelJob cancels a job that has not finished (a no-op otherwise).
	cancelJob(ctx context.Context, id int64) error
	jobCounts(ctx context.Context) ([]stateCount, error)
	// leader returns errNoRows when no worker holds a live leadership.
	leader(ctx context.Context) (string, error)
	migrate(ctx context.Context, logger *slog.Logger) error
	// newClient returns a River client on this backend for working jobs.
	newClient(cfg *river.Config) (riverClient, error)
	isUniqueViolation(err error) bool
	// defaultFetchPollInterval is WorkerConfig.FetchPollInterval when it
	// is zero.
	defaultFetchPollInterval() time.Duration
	txRunner
	// inJobTx runs fn in the job path's transaction: on PostgreSQL a
	// pipelined one whose execAll and insertJob writes go out with the
	// next statement or COMMIT (pipetx.go), on SQLite inTx.
	inJobTx(ctx context.Context, fn func(sqlTx) error) error
	close()
}

// riverClient is the part of *river.Client[TTx] the workers use, so they
// need not know the transaction type.
type riverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}

var errNoRows = errors.New("no rows")

// unavailable wraps a database error. Driver errors may quote values of the
// failing statement: ours are ids, kinds and sealed bytes, never PII.
func unavailable(err error) error {
	return idv.WrapError(idv.EUNAVAILABLE, "job queue unavailable", err)
}

// Submit records cs and enqueues job on its kind's queue in one transaction:
// a worker never sees a job whose capture session is missing, and a failed
// insert leaves neither behind. A capture session id that already exists is
// an ECONFLICT; database failures are EUNAVAILABLE.
func (q *Queue) Submit(ctx context.Context, cs idv.CaptureSession, job idv.Job) error {
	if err := validateSubmit(cs, job); err != nil {
		return err
	}
	opts := &river.InsertOpts{Queue: job.Kind.Queue(), MaxAttempts: q.cfg.MaxAttempts}
	err := q.submit(ctx, cs, argsFromJob(job), opts)
	switch {
	case err == nil:
		return nil
	case q.b.isUniqueViolation(err):
		return idv.WrapError(idv.ECONFLICT, "capture session already exists", err)
	default:
		return unavailable(err)
	}
}

// RecordOutcome implements idv.OutcomeRecorder. A re-run job (rescued or
// retried) replaces its earlier record.
func (q *Queue) RecordOutcome(ctx context.Context, r idv.OutcomeRecord) error {
	stages, err := json.Marshal(r.Stages)
	if err != nil {
		return idv.WrapError(idv.EINTERNAL, "encode outcome stages", err)
	}
	if r.FailedAttributes == nil {
		r.FailedAttributes = []string{}
	}
	failed, _ := json.Marshal(r.FailedAttributes)
	row := stmt{`INSERT INTO {p}idv_outcomes
		(result_id, kind, trace_id, outcome, stages, failed_attributes, finished_at, verification_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (result_id) DO UPDATE SET outcome = EXCLUDED.outcome, stages = EXCLUDED.stages,
		failed_attributes = EXCLUDED.failed_attributes, finished_at = EXCLUDED.finished_at`,
		[]any{r.ResultID, string(r.Kind), r.TraceID, string(r.Outcome), string(stages), string(failed), r.FinishedAt,
			nullString(r.VerificationID)}}
	err = q.b.inJobTx(ctx, func(tx sqlTx) error {
		if r.VerificationID == "" {
			return tx.execAll(ctx, row)
		}
		// The outcome row goes in the same round trip as the step's move.
		_, err := q.finishIn(ctx, tx, r.VerificationID, idv.StepOf(r.Kind), r.ResultID, r.Outcome, r.Identity, r.FinishedAt, row)
		return err
	})
	if err != nil {
		return storeError(err, "verification")
	}
	return nil
}

// validateSubmit catches programming errors before they reach the database:
// a job for another attempt, or a kind no worker runs (its job would sit in
// a queue nobody works until the person gives up).
func validateSubmit(cs idv.CaptureSession, job idv.Job) error {
	switch {
	case cs.ID == "" || cs.ResultID == "":
		return idv.Errorf(idv.EINVALID, "capture session needs an id and a result id")
	case cs.RequestedAt.IsZero():
		return idv.Errorf(idv.EINVALID, "capture session needs a request time")
	case !slices.Contains(idv.JobKinds, job.Kind):
		return idv.Errorf(idv.EINVALID, "unknown job kind %q", job.Kind)
	case cs.Kind != job.Kind || cs.ResultID != job.ResultID:
		return idv.Errorf(idv.EINVALID, "job does not belong to its capture session")
	}
	return nil
}

// CaptureSession returns the attempt with the given id, or idv.ErrNotFound.
func (q *Queue) CaptureSession(ctx context.Context, id string) (idv.CaptureSession, error) {
	cs, err := q.captureSession(ctx, id)
	switch {
	case errors.Is(err, errNoRows):
		return idv.CaptureSession{}, idv.ErrNotFound
	case err != nil:
		return idv.CaptureSession{}, unavailable(err)
	}
	return cs, nil
}

// PruneCaptureSessions deletes capture sessions requested before t and
// returns how many went. Workers do this periodically (see
// WorkerConfig.CaptureSessionRetention); it is exported for `idv migrate`
// style maintenance and tests.
func (q *Queue) PruneCaptureSessions(ctx context.Context, before time.Time) (int64, error) {
	n, err := q.pruneCaptureSessions(ctx, before)
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

// Ping checks that the database answers and that the schema is migrated
// (it reads idv's table), for health checks.
func (q *Queue) Ping(ctx context.Context) error {
	if err := q.ping(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// Migrate applies River's migrations and idv's, up to the latest. It is safe
// to run again and, on PostgreSQL, from several processes at once (they take
// turns on an advisory lock). On PostgreSQL it creates Config.Schema if it
// does not exist.
func (q *Queue) Migrate(ctx context.Context) error {
	if err := q.b.migrate(ctx, q.cfg.Logger); err != nil {
		return idv.WrapError(idv.EUNAVAILABLE, "job queue migration failed", err)
	}
	return nil
}

// Close releases what the constructor opened (a pool given to NewPostgres
// stays open). Stop workers first.
func (q *Queue) Close() { q.b.close() }

// Leader returns the id (WorkerConfig.ID) of the worker process that River
// elected to run maintenance, or idv.ErrNotFound when none holds a live
// leadership: then no worker process is running (or none has been for
// about 15 s), which is what /api/health/jobs needs to know.
func (q *Queue) Leader(ctx context.Context) (string, error) {
	id, err := q.b.leader(ctx)
	switch {
	case errors.Is(err, errNoRows):
		return "", idv.ErrNotFound
	case err != nil:
		return "", unavailable(err)
	}
	return id, nil
}

// QueueStats is the depth of one queue.
type QueueStats struct {
	// Available jobs are waiting for a worker (including failed jobs
	// waiting out their short retry delay).
	Available int
	// Running jobs are being worked (or were, by a worker that died and
	// whose jobs have not been rescued yet).
	Running int
	// Retryable jobs failed and wait for a later retry.
	Retryable int
	// OldestAvailable is how long the oldest available job has been
	// waiting for a worker (since it became available); zero when none
	// waits. It grows at once when a queue runs out of slots, before any
	// waiting job starts and shows in the queued-time histogram.
	OldestAvailable time.Duration
}

type stateCount struct {
	queue, state string
	n            int
	oldest       dbTime // the earliest scheduled_at in the group
}

// Stats returns the depth of every queue that has waiting or running jobs,
// plus every job kind's queue and the default queue (zero when empty), for
// metrics and health checks.
func (q *Queue) Stats(ctx context.Context) (map[string]QueueStats, error) {
	rows, err := q.b.jobCounts(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	stats := map[string]QueueStats{river.QueueDefault: {}}
	for _, k := range idv.JobKinds {
		stats[k.Queue()] = QueueStats{}
	}
	for _, r := range rows {
		s := stats[r.queue]
		switch r.state {
		case "available":
			s.Available += r.n
			if !r.oldest.IsZero() {
				s.OldestAvailable = max(s.OldestAvailable, time.Since(r.oldest.Time))
			}
		case "running":
			s.Running += r.n
		case "retryable":
			s.Retryable += r.n
		}
		stats[r.queue] = s
	}
	return stats, nil
}

// jobCountsSQL is the same on both backends: river_job's columns and state
// names are River's public schema.
const jobCountsSQL = `SELECT queue, state, count(*), min(scheduled_at) FROM %sriver_job
WHERE state IN ('available', 'running', 'retryable') GROUP BY queue, state`
