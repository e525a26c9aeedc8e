package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/idv-dev/idv"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Defaults of WorkerConfig.
const (
	// DefaultJobTimeout bounds one run: a run longer than the person's
	// 60 s result window can no longer help them.
	DefaultJobTimeout = 60 * time.Second
	// DefaultRetryDelay is the wait before a failed job runs again.
	DefaultRetryDelay = time.Second
	// DefaultRetention keeps completed job rows for an hour: long enough
	// to look at recent work in the admin UI, short enough that river_job
	// stays small.
	DefaultRetention = time.Hour
	// DefaultFailedRetention keeps cancelled and discarded rows longer, for
	// operators investigating failures. Their errors are PII-free.
	DefaultFailedRetention = 24 * time.Hour
	// DefaultCaptureSessionRetention outlives any web session (12 h at
	// most), whose pointer would otherwise read as a missing result.
	DefaultCaptureSessionRetention = 24 * time.Hour
	// DefaultFetchCooldown is the least time between two fetches of one
	// queue in one process.
	DefaultFetchCooldown = 20 * time.Millisecond
	// DefaultDefaultQueueWorkers runs housekeeping jobs.
	DefaultDefaultQueueWorkers = 2
	// DefaultHardStopTimeout is how long Stop waits for cancelled jobs to
	// return after its own deadline.
	DefaultHardStopTimeout = 10 * time.Second
	// rescueMargin is how far RescueAfter defaults above the longest job
	// timeout: room for a timed-out run to return and be recorded.
	rescueMargin = 15 * time.Second
)

// DefaultWorkers is the concurrency of a kind's queue when
// WorkerConfig.Workers does not set it. Jobs wait on vendors rather than
// use CPU, so slots are sized by Little's law, not by cores: busy slots =
// arrivals per second × vendor latency. At the design peak (20 proofings/s,
// a 10 s document vendor, 2.5 s of resolution and state ID, 1 s of phone)
// a fleet needs 200, 50 and 20 busy slots; twice that lets a vendor slow
// to 2× its latency. These defaults give that (400, 100, 40) on three of
// four worker processes, so the fleet holds the peak with one process (or
// zone) lost. A slot that waits costs a goroutine and, for a document job,
// its images in memory (about 12 MB at 2 MB per side), not a database
// connection: River's executor holds none while a job runs. See
// docs/operations.md, "Sizing workers".
func DefaultWorkers(kind idv.JobKind) int {
	switch kind {
	case idv.JobDocument:
		return 135
	case idv.JobResolution:
		return 35
	default:
		return 15
	}
}

// WorkerConfig is how one worker process runs jobs. Only Handlers is
// required.
//
// Retries: a handler error is an infrastructure fault (vendor faults are
// results), so a job runs at most Config.MaxAttempts (3) times, RetryDelay
// apart.
// A re-run only helps the person if it finishes inside the 60 s result
// window, so the delay is short and the attempts few; there is no
// exponential back-off to pile work up behind an outage. Handler errors
// wrapping idv.ErrDiscardJob, and panics, end the job at once (River's
// "cancelled" state): running it again cannot help.
//
// Rescue: a job whose worker was killed (SIGKILL, OOM, lost host) stays
// "running" in the database. On PostgreSQL each worker process records a
// heartbeat every HeartbeatTimeout/5 and sweeps as often: a job running for
// longer than HeartbeatTimeout whose worker has not beaten for that long is
// made available again at once (or discarded after its last attempt), so
// with the 10 s default another worker re-runs it some 10-15 s after the
// kill, inside the person's 60 s window (see liveness.go). River's own
// rescuer stays as the backstop (and is the only rescue on SQLite): its
// leader, checking every 30 s, makes a job running for longer than
// RescueAfter available again. RescueAfter must exceed every timeout, or
// live jobs would be run twice; River has one threshold for all queues, so
// its rescue comes 75-110 s after the start with the 60 s default timeout.
// A graceful stop (SIGTERM) needs neither: Stop hands running jobs back at
// once.
type WorkerConfig struct {
	// Handlers does the work of each job kind. This process works the
	// queues of these kinds only. Give every worker process every kind:
	// when a process is the elected leader, its rescuer discards (rather
	// than retries) stuck jobs of kinds it has no handler for.
	Handlers map[idv.JobKind]idv.JobHandler
	// Workers is how many jobs of each kind run at once in this process.
	// Default DefaultWorkers(kind).
	Workers map[idv.JobKind]int
	// DefaultQueueWorkers is the concurrency of River's "default" queue,
	// which runs idv's housekeeping (pruning capture sessions). Default 2.
	DefaultQueueWorkers int
	// Timeouts bounds one run of each kind: its context is cancelled when
	// the time is up and the run counts as failed. Default
	// DefaultJobTimeout.
	Timeouts map[idv.JobKind]time.Duration
	// RetryDelay is the wait before a failed job runs again. Default 1 s.
	RetryDelay time.Duration
	// RescueAfter is how long a job may be running before it is assumed
	// lost with a dead worker and run again. Must exceed every timeout.
	// Default: the longest timeout plus 15 s.
	RescueAfter time.Duration
	// HeartbeatTimeout is how long a worker process may go without a
	// heartbeat before the jobs it runs are taken as lost and made
	// available again; it beats every HeartbeatTimeout/5. At least 1 s;
	// negative turns the liveness rescue off. Ignored on SQLite. Default
	// 10 s.
	HeartbeatTimeout time.Duration
	// Retention is how long completed job rows are kept. Default 1 h.
	Retention time.Duration
	// FailedRetention is how long cancelled and discarded job rows are
	// kept. Default 24 h.
	FailedRetention time.Duration
	// CaptureSessionRetention is how long capture sessions are kept; the
	// elected leader deletes older ones hourly. Negative: never. Default
	// 24 h.
	CaptureSessionRetention time.Duration
	// FetchPollInterval is the fallback poll for new jobs when no
	// notification arrives. Default 1 s on PostgreSQL, 100 ms on SQLite.
	FetchPollInterval time.Duration
	// FetchCooldown is the least time between two fetches of one queue:
	// the most a job submitted right after another waits for its fetch.
	// River's default is 100 ms; ours is 20 ms.
	FetchCooldown time.Duration
	// PollOnly turns LISTEN off, for PostgreSQL behind a pooler in
	// transaction mode (PgBouncer): jobs then wait up to FetchPollInterval.
	PollOnly bool
	// HardStopTimeout is how long Stop waits, after its context is done,
	// for cancelled jobs to return. Default 10 s.
	HardStopTimeout time.Duration
	// ID names this process among the workers of one database (and
	// schema); it must be unique. Default: host name, process id and a
	// random suffix.
	ID string
	// Observer, if set, hears of every run of a job (JobRan) and of every
	// job of a lost worker this process rescued (JobRescued), on the
	// worker's goroutine.
	Observer idv.Observer
	// Webhooks, if set, delivers relying parties' webhook events from the
	// "webhooks" queue, WebhookWorkers at once (default 10).
	Webhooks       WebhookDeliverer
	WebhookWorkers int
	// DataRetention is how long outcome rows, finished verifications and
	// webhook events are kept (zero fields: forever). The elected leader
	// enqueues a retention job every RetentionEvery (default 1 h) when any
	// field is set.
	DataRetention  Retention
	RetentionEvery time.Duration
	// ExpireEvery is how often the elected leader expires unfinished
	// verifications past their lifetime. Default 1 min; negative: never.
	ExpireEvery time.Duration
}

func (c WorkerConfig) withDefaults(pollInterval time.Duration) WorkerConfig {
	workers := make(map[idv.JobKind]int, len(c.Handlers))
	timeouts := make(map[idv.JobKind]time.Duration, len(c.Handlers))
	for kind := range c.Handlers {
		workers[kind] = DefaultWorkers(kind)
		timeouts[kind] = DefaultJobTimeout
	}
	for kind, n := range c.Workers {
		workers[kind] = n
	}
	for kind, d := range c.Timeouts {
		timeouts[kind] = d
	}
	c.Workers, c.Timeouts = workers, timeouts
	c.DefaultQueueWorkers = cmp.Or(c.DefaultQueueWorkers, DefaultDefaultQueueWorkers)
	if c.RescueAfter == 0 {
		c.RescueAfter = c.longestTimeout() + rescueMargin
	}
	c.HeartbeatTimeout = cmp.Or(c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	c.Observer = cmp.Or[idv.Observer](c.Observer, idv.NopObserver{})
	c.RetryDelay = cmp.Or(c.RetryDelay, DefaultRetryDelay)
	c.Retention = cmp.Or(c.Retention, DefaultRetention)
	c.FailedRetention = cmp.Or(c.FailedRetention, DefaultFailedRetention)
	c.CaptureSessionRetention = cmp.Or(c.CaptureSessionRetention, DefaultCaptureSessionRetention)
	c.FetchPollInterval = cmp.Or(c.FetchPollInterval, pollInterval)
	c.FetchCooldown = cmp.Or(c.FetchCooldown, DefaultFetchCooldown)
	c.HardStopTimeout = cmp.Or(c.HardStopTimeout, DefaultHardStopTimeout)
	c.ExpireEvery = cmp.Or(c.ExpireEvery, time.Minute)
	c.RetentionEvery = cmp.Or(c.RetentionEvery, time.Hour)
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%.60s_%d_%s", host, os.Getpid(), idv.NewID()[:8])
	}
	return c
}

func (c WorkerConfig) longestTimeout() time.Duration {
	var longest time.Duration
	for _, d := range c.Timeouts {
		longest = max(longest, d)
	}
	return longest
}

// validate names the setting at fault, in WorkerConfig's words.
func (c WorkerConfig) validate() error {
	bad := func(format string, args ...any) error {
		return idv.Errorf(idv.EINVALID, "queue workers: "+format, args...)
	}
	if len(c.Handlers) == 0 {
		return bad("Handlers is empty: give a handler for at least one job kind")
	}
	for kind, h := range c.Handlers {
		if !slices.Contains(idv.JobKinds, kind) {
			return bad("Handlers has unknown job kind %q", kind)
		}
		if h == nil {
			return bad("Handlers[%q] is nil", kind)
		}
	}
	for kind, n := range c.Workers {
		if c.Handlers[kind] == nil {
			return bad("Workers[%q] is set but there is no handler for that kind", kind)
		}
		if n < 1 || n > 10000 {
			return bad("Workers[%q] must be between 1 and 10000, got %d", kind, n)
		}
	}
	if c.DefaultQueueWorkers < 1 || c.DefaultQueueWorkers > 10000 {
		return bad("DefaultQueueWorkers must be between 1 and 10000, got %d", c.DefaultQueueWorkers)
	}
	for kind, d := range c.Timeouts {
		if c.Handlers[kind] == nil {
			return bad("Timeouts[%q] is set but there is no handler for that kind", kind)
		}
		if d <= 0 {
			return bad("Timeouts[%q] must be positive, got %s", kind, d)
		}
	}
	if c.RescueAfter <= c.longestTimeout() {
		return bad("RescueAfter (%s) must be longer than the longest job timeout (%s), or running jobs would be run twice", c.RescueAfter, c.longestTimeout())
	}
	if c.HeartbeatTimeout > 0 && c.HeartbeatTimeout < minHeartbeatTimeout {
		return bad("HeartbeatTimeout must be at least %s (or negative: off), got %s", minHeartbeatTimeout, c.HeartbeatTimeout)
	}
	for name, d := range map[string]time.Duration{
		"RetryDelay": c.RetryDelay, "Retention": c.Retention, "RetentionEvery": c.RetentionEvery, "FailedRetention": c.FailedRetention,
		"FetchPollInterval": c.FetchPollInterval, "FetchCooldown": c.FetchCooldown, "HardStopTimeout": c.HardStopTimeout,
	} {
		if d <= 0 {
			return bad("%s must be positive, got %s", name, d)
		}
	}
	if r := c.DataRetention; r.Outcomes < 0 || r.Verifications < 0 || r.WebhookEvents < 0 {
		return bad("DataRetention must not be negative (zero keeps rows forever)")
	}
	if r := c.DataRetention.WebhookEvents; r > 0 && r < WebhookRetryHorizon {
		return bad("DataRetention.WebhookEvents (%s) must be at least the webhook retry horizon (%s), or events still being retried are deleted", r, WebhookRetryHorizon)
	}
	if c.FetchPollInterval < c.FetchCooldown {
		return bad("FetchPollInterval (%s) must not be shorter than FetchCooldown (%s)", c.FetchPollInterval, c.FetchCooldown)
	}
	return nil
}

// Workers is a running set of job workers: one River client working the
// queues of the configured kinds plus the default queue.
type Workers struct {
	client          riverClient
	hardStopTimeout time.Duration
	liveness        *liveness // nil on SQLite or when off
}

// ErrStopTimeout is returned by Workers.Stop when running jobs did not
// finish before its context was done: they were cancelled and handed back
// to the queue, where another worker picks them up.
var ErrStopTimeout = errors.New("queue: running jobs did not finish in time and were handed back")

// StartWorkers starts working jobs. ctx only bounds the start: stopping is
// Stop's job, so that a cancelled signal context does not cut running jobs
// short before Stop's grace period.
func (q *Queue) StartWorkers(ctx context.Context, cfg WorkerConfig) (*Workers, error) {
	cfg = cfg.withDefaults(q.b.defaultFetchPollInterval())
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	queues := map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.DefaultQueueWorkers}}
	for kind, h := range cfg.Handlers {
		slots := &slotCount{size: cfg.Workers[kind]}
		cfg.Observer.WorkerSlots(kind.Queue(), 0, slots.size)
		river.AddWorkerArgs(workers, jobArgs{JobKind: kind}, &kindWorker{
			handler:  h,
			timeout:  cfg.Timeouts[kind],
			cfg:      q.cfg,
			observer: cfg.Observer,
			slots:    slots,
		})
		queues[kind.Queue()] = river.QueueConfig{MaxWorkers: cfg.Workers[kind]}
	}
	// The prune worker is registered even where pruning is off, so a prune
	// job enqueued by another process's leader still runs here.
	river.AddWorker(workers, &pruneWorker{q: q})
	river.AddWorker(workers, &expireWorker{q: q})
	river.AddWorker(workers, &retentionWorker{q: q})
	if cfg.Webhooks != nil {
		river.AddWorker(workers, &deliveryWorker{q: q, d: cfg.Webhooks, observer: cfg.Observer})
		queues[WebhookQueue] = river.QueueConfig{MaxWorkers: cmp.Or(cfg.WebhookWorkers, 10)}
	}
	var periodic []*river.PeriodicJob
	if cfg.CaptureSessionRetention > 0 {
		retention := cfg.CaptureSessionRetention
		periodic = append(periodic, river.NewPeriodicJob(
			river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return pruneArgs{Before: retention}, nil },
			&river.PeriodicJobOpts{RunOnStart: true},
		))
	}
	if r := cfg.DataRetention; r.Outcomes > 0 || r.Verifications > 0 || r.WebhookEvents > 0 {
		periodic = append(periodic, river.NewPeriodicJob(
			river.PeriodicInterval(cfg.RetentionEvery),
			func() (river.JobArgs, *river.InsertOpts) { return retentionArgs{Retention: r}, nil },
			&river.PeriodicJobOpts{RunOnStart: true},
		))
	}
	if cfg.ExpireEvery > 0 {
		periodic = append(periodic, river.NewPeriodicJob(
			river.PeriodicInterval(cfg.ExpireEvery),
			func() (river.JobArgs, *river.InsertOpts) { return expireArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true},
		))
	}
	client, err := q.b.newClient(&river.Config{
		ID:                          cfg.ID,
		Schema:                      q.cfg.Schema,
		Logger:                      q.cfg.Logger,
		MaxAttempts:                 q.cfg.MaxAttempts,
		Queues:                      queues,
		Workers:                     workers,
		PeriodicJobs:                periodic,
		JobTimeout:                  cfg.longestTimeout(),
		RescueStuckJobsAfter:        cfg.RescueAfter,
		RetryPolicy:                 retryPolicy{delay: cfg.RetryDelay},
		CompletedJobRetentionPeriod: cfg.Retention,
		CancelledJobRetentionPeriod: cfg.FailedRetention,
		DiscardedJobRetentionPeriod: cfg.FailedRetention,
		FetchPollInterval:           cfg.FetchPollInterval,
		FetchCooldown:               cfg.FetchCooldown,
		PollOnly:                    cfg.PollOnly,
	})
	if err != nil {
		return nil, idv.WrapError(idv.EINVALID, "queue workers: configuration", err)
	}
	// The first heartbeat precedes the first fetch, so no sweeper ever sees
	// a job of this process without one.
	live, err := startLiveness(ctx, q.b, cfg.ID, cfg.HeartbeatTimeout, q.cfg.Logger, cfg.Observer)
	if err != nil {
		return nil, unavailable(err)
	}
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		live.stop()
		return nil, unavailable(err)
	}
	return &Workers{client: client, hardStopTimeout: cfg.HardStopTimeout, liveness: live}, nil
}

// Stop shuts the workers down gracefully: no new jobs are fetched and
// running ones finish. If ctx is done first, running jobs are cancelled and
// handed back to the queue (available again, the attempt not counted), Stop
// waits up to HardStopTimeout for them to return, and returns
// ErrStopTimeout.
func (w *Workers) Stop(ctx context.Context) error {
	// The heartbeat outlives the jobs: it ends once they have finished or
	// been handed back (or abandoned after HardStopTimeout: then they are
	// lost jobs, and a sweeper takes them).
	defer w.liveness.stop()
	err := w.client.Stop(ctx)
	if err == nil {
		return nil
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.hardStopTimeout)
	defer cancel()
	if herr := w.client.StopAndCancel(hctx); herr != nil {
		return fmt.Errorf("%w; cancelled jobs did not return within %s: %v", ErrStopTimeout, w.hardStopTimeout, herr)
	}
	return ErrStopTimeout
}

// retryPolicy re-runs a failed job after a fixed short delay (see
// WorkerConfig). The elected leader applies it to rescued jobs too.
type retryPolicy struct{ delay time.Duration }

func (p retryPolicy) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(p.delay) }

// kindWorker runs one job kind's handler.
type kindWorker struct {
	river.WorkerDefaults[jobArgs]
	handler  idv.JobHandler
	timeout  time.Duration
	cfg      Config
	observer idv.Observer
	slots    *slotCount
}

// slotCount counts a queue's running jobs in this process, for the
// saturation metric.
type slotCount struct {
	busy atomic.Int64
	size int
}

func (w *kindWorker) Timeout(*river.Job[jobArgs]) time.Duration { return w.timeout }

// Work calls the handler with the idv.Job and, in ctx, the run's
// idv.JobInfo. River stores a returned error's text in river_job.errors:
// handlers must return PII-free errors (see idv.ErrDiscardJob).
func (w *kindWorker) Work(ctx context.Context, j *river.Job[jobArgs]) (err error) {
	start := time.Now()
	ctx = idv.WithJobInfo(ctx, idv.JobInfo{ID: j.ID, Attempt: j.Attempt, Queue: j.Queue})
	final := false
	if w.slots != nil {
		w.observer.WorkerSlots(j.Queue, int(w.slots.busy.Add(1)), w.slots.size)
		defer func() { w.observer.WorkerSlots(j.Queue, int(w.slots.busy.Add(-1)), w.slots.size) }()
	}
	defer func() {
		if r := recover(); r != nil {
			// A panic value may hold anything the handler had in hand,
			// so neither River's log nor river_job.errors gets it: only
			// its type, and the stack (function names and addresses) in
			// our log.
			w.cfg.Logger.ErrorContext(ctx, "job handler panicked",
				"kind", j.Kind, "job_id", j.ID, "attempt", j.Attempt,
				"panic_type", fmt.Sprintf("%T", r), "stack", string(debug.Stack()))
			err = fmt.Errorf("job handler panicked (%T)", r)
			final = true
		}
		var queued time.Duration
		if j.AttemptedAt != nil {
			queued = max(j.AttemptedAt.Sub(j.ScheduledAt), 0)
		}
		w.observer.JobRan(idv.JobRun{
			Kind: j.Args.JobKind, Queue: j.Queue, Attempt: j.Attempt, Code: idv.ErrorCode(err),
			Final:  err == nil || final || j.Attempt >= j.MaxAttempts,
			Queued: queued, Ran: time.Since(start),
		})
		if final {
			err = river.JobCancel(err)
		}
	}()
	err = w.handler.Handle(ctx, j.Args.job())
	final = errors.Is(err, idv.ErrDiscardJob)
	return err
}

// pruneWorker deletes old capture sessions and expired OpenID Connect
// authorization requests.
type pruneWorker struct {
	river.WorkerDefaults[pruneArgs]
	q *Queue
}

func (w *pruneWorker) Work(ctx context.Context, j *river.Job[pruneArgs]) error {
	n, err := w.q.PruneCaptureSessions(ctx, time.Now().Add(-j.Args.Before))
	if err != nil {
		return err
	}
	if n > 0 {
		w.q.cfg.Logger.InfoContext(ctx, "pruned capture sessions", "deleted", n, "older_than", j.Args.Before.String())
	}
	// OpenID Connect authorization requests (and their tokens) past
	// their lifetime go on the same schedule.
	if n, err = w.q.PruneOIDC(ctx, time.Now()); err != nil {
		return err
	}
	if n > 0 {
		w.q.cfg.Logger.InfoContext(ctx, "pruned expired OIDC authorization requests", "deleted", n)
	}
	return nil
}
