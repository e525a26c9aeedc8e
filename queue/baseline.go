package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// The no-op baseline is River working jobs that do nothing, set up the way
// River's own benchmark (`river bench`) sets itself up, so that idv's worker
// throughput (benchmark B1) is compared with the best River does on the same
// machine and database, not with River held back by idv's settings (100
// workers, a 20 ms fetch cooldown, a queue filled by single submits).
// It lives here because nothing else in idv imports River.

// Defaults of NoopBaselineOptions: those of River's benchmark.
const (
	DefaultBaselineJobs              = 100_000
	DefaultBaselineWorkers           = 2_000
	DefaultBaselineFetchCooldown     = 2 * time.Millisecond
	DefaultBaselineFetchPollInterval = 20 * time.Millisecond
	DefaultBaselineInsertBatch       = 5_000
)

// baselineQueue and baselineKind are the baseline's own, so its jobs never
// meet idv's handlers and its rows are easy to remove.
const (
	baselineQueue = "idv_noop_baseline"
	baselineKind  = "idv_noop_baseline"
)

// NoopBaselineOptions are River's benchmark settings; zero fields take the
// defaults above.
type NoopBaselineOptions struct {
	// Jobs is how many jobs are inserted before the client starts and
	// worked down (River's "burn-down" mode).
	Jobs int
	// Workers is how many jobs run at once (River allows 1 to 10,000).
	Workers int
	// FetchCooldown is the least time between two fetches; at least 1 ms.
	FetchCooldown time.Duration
	// FetchPollInterval is the poll for new jobs; at least 1 ms.
	FetchPollInterval time.Duration
	// InsertBatch is how many jobs one insert statement writes.
	InsertBatch int
}

func (o NoopBaselineOptions) withDefaults() NoopBaselineOptions {
	if o.Jobs == 0 {
		o.Jobs = DefaultBaselineJobs
	}
	if o.Workers == 0 {
		o.Workers = DefaultBaselineWorkers
	}
	if o.FetchCooldown == 0 {
		o.FetchCooldown = DefaultBaselineFetchCooldown
	}
	if o.FetchPollInterval == 0 {
		o.FetchPollInterval = DefaultBaselineFetchPollInterval
	}
	if o.InsertBatch == 0 {
		o.InsertBatch = DefaultBaselineInsertBatch
	}
	return o
}

func (o NoopBaselineOptions) validate() error {
	switch {
	case o.Jobs < 1:
		return fmt.Errorf("no-op baseline: jobs must be positive, not %d", o.Jobs)
	case o.Workers < 1 || o.Workers > river.QueueNumWorkersMax:
		return fmt.Errorf("no-op baseline: workers must be 1 to %d, not %d", river.QueueNumWorkersMax, o.Workers)
	case o.FetchCooldown < river.FetchCooldownMin:
		return fmt.Errorf("no-op baseline: fetch cooldown must be at least %s, not %s", river.FetchCooldownMin, o.FetchCooldown)
	case o.FetchPollInterval < river.FetchPollIntervalMin:
		return fmt.Errorf("no-op baseline: fetch poll interval must be at least %s, not %s", river.FetchPollIntervalMin, o.FetchPollInterval)
	case o.InsertBatch < 1:
		return fmt.Errorf("no-op baseline: insert batch must be positive, not %d", o.InsertBatch)
	}
	return nil
}

// NoopBaselineResult is one burn-down.
type NoopBaselineResult struct {
	// Jobs is how many jobs completed: all that were inserted.
	Jobs int
	// Elapsed runs from the client's start to the last job's completion
	// event (River's completer has written it), as River's benchmark
	// measures.
	Elapsed time.Duration
	// PerSecond is Jobs / Elapsed.
	PerSecond float64
}

// baselineArgs is the no-op job; Num only makes the rows differ, as real
// jobs do.
type baselineArgs struct {
	Num int `json:"num"`
}

func (baselineArgs) Kind() string { return baselineKind }

func (baselineArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: baselineQueue} }

type baselineWorker struct {
	river.WorkerDefaults[baselineArgs]
}

func (baselineWorker) Work(context.Context, *river.Job[baselineArgs]) error { return nil }

// baselineMinRate bounds a run that has no deadline of its own: a minute
// plus the jobs at this rate, far below what River does on any machine that
// can run idv.
const baselineMinRate = 500 // jobs/s

// RunNoopBaseline inserts o.Jobs no-op jobs into cfg.Schema, then starts a
// River client with River's benchmark settings and waits until every job has
// completed. It migrates the schema first (safe if it already is) and
// removes its job and queue rows at the end, whatever happened. Give it a
// schema no worker process uses: the client takes part in leader elections.
//
// It opens its own pool on databaseURL with pgxpool's defaults, as River's
// benchmark does (settings such as pool_max_conns may be given in the URL):
// a no-op worker holds no connection, only the fetches, completions and
// LISTEN do. cfg.Logger receives River's log lines; cfg.MaxAttempts is
// stored with the jobs.
//
// It returns an error when a job fails or is cancelled, when ctx ends, or
// when the jobs are not done within a minute plus one per 2 ms.
func RunNoopBaseline(ctx context.Context, databaseURL string, cfg Config, o NoopBaselineOptions) (NoopBaselineResult, error) {
	cfg, o = cfg.withDefaults(), o.withDefaults()
	if err := o.validate(); err != nil {
		return NoopBaselineResult{}, err
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return NoopBaselineResult{}, errors.New("no-op baseline: database URL is not a valid PostgreSQL URL")
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return NoopBaselineResult{}, fmt.Errorf("no-op baseline: %w", err)
	}
	p := &postgres{pool: pool, schema: cfg.Schema}
	if cfg.Schema != "" {
		p.prefix = pgx.Identifier{cfg.Schema}.Sanitize() + "."
	}
	if err := p.migrate(ctx, cfg.Logger); err != nil {
		return NoopBaselineResult{}, fmt.Errorf("no-op baseline: migrate: %w", err)
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, baselineWorker{})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Schema:            cfg.Schema,
		Logger:            cfg.Logger,
		MaxAttempts:       cfg.MaxAttempts,
		FetchCooldown:     o.FetchCooldown,
		FetchPollInterval: o.FetchPollInterval,
		Queues:            map[string]river.QueueConfig{baselineQueue: {MaxWorkers: o.Workers}},
		Workers:           workers,
	})
	if err != nil {
		return NoopBaselineResult{}, fmt.Errorf("no-op baseline: %w", err)
	}
	// Rows are removed whatever happens, even after ctx ended.
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := p.removeBaselineRows(cctx); err != nil {
			cfg.Logger.Warn("no-op baseline: removing its rows failed", "schema", cfg.Schema, "error", err)
		}
	}()

	if err := insertBaselineJobs(ctx, client, o); err != nil {
		return NoopBaselineResult{}, fmt.Errorf("no-op baseline: insert: %w", err)
	}
	return burnDown(ctx, client, o.Jobs)
}

// insertBaselineJobs writes n jobs in batches, with COPY: the client is not
// started, so none is worked before all are there.
func insertBaselineJobs(ctx context.Context, client *river.Client[pgx.Tx], o NoopBaselineOptions) error {
	batch := make([]river.InsertManyParams, 0, min(o.InsertBatch, o.Jobs))
	for num := 0; num < o.Jobs; {
		batch = batch[:0]
		for ; num < o.Jobs && len(batch) < o.InsertBatch; num++ {
			batch = append(batch, river.InsertManyParams{Args: baselineArgs{Num: num}})
		}
		n, err := client.InsertManyFast(ctx, batch)
		if err != nil {
			return err
		}
		if n != len(batch) {
			return fmt.Errorf("inserted %d of %d jobs", n, len(batch))
		}
	}
	return nil
}

// burnDown starts the client, counts completion events until n jobs are
// done, and stops the client.
func burnDown(ctx context.Context, client *river.Client[pgx.Tx], n int) (res NoopBaselineResult, err error) {
	// The channel holds every event, so none is dropped however far the
	// counting falls behind.
	events, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: n,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled},
	})
	defer unsubscribe()

	wait := time.Minute + time.Duration(n)*time.Second/baselineMinRate
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := client.Start(ctx); err != nil {
		return res, fmt.Errorf("no-op baseline: start: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if serr := client.Stop(sctx); serr != nil && err == nil {
			err = fmt.Errorf("no-op baseline: stop: %w", serr)
		}
	}()
	start := time.Now()

	done, last := 0, start
	for done < n {
		select {
		case ev, ok := <-events:
			if !ok {
				return res, fmt.Errorf("no-op baseline: River closed the event subscription after %d of %d jobs", done, n)
			}
			if ev.Kind != river.EventKindJobCompleted {
				return res, fmt.Errorf("no-op baseline: job %d %s (state %s)", ev.Job.ID, ev.Kind, ev.Job.State)
			}
			done++
			last = time.Now()
		case <-ctx.Done():
			err := ctx.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%w (limit %s)", err, wait)
			}
			return res, fmt.Errorf("no-op baseline: %d of %d jobs done: %w", done, n, err)
		}
	}
	res.Jobs, res.Elapsed = n, last.Sub(start)
	res.PerSecond = float64(n) / res.Elapsed.Seconds()
	return res, nil
}

// removeBaselineRows deletes the baseline's jobs (of any state) and its
// queue's row.
func (p *postgres) removeBaselineRows(ctx context.Context) error {
	if _, err := p.pool.Exec(ctx, `DELETE FROM `+p.prefix+`river_job WHERE kind = $1`, baselineKind); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, `DELETE FROM `+p.prefix+`river_queue WHERE name = $1`, baselineQueue)
	return err
}
