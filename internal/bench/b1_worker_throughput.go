package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/results"
	redisresults "github.com/idv-dev/idv/results/redis"
	"github.com/idv-dev/idv/telemetry"
)

// B1, worker throughput: a queue filled with N resolution jobs, then drained
// by workers through River and the production job code (stale guard,
// opening sealed arguments, two vendor calls to a zero-latency in-process
// vendor, adjudication, the sealed result written to Redis, the outcome row
// written to PostgreSQL, metrics, the job log line). Beside it, in the same
// run on the same database, two baselines of River working jobs that do
// nothing: as River's own benchmark runs it (many workers, a short fetch
// cooldown, a queue filled in bulk: the ceiling, and the headline ratio),
// and through idv's queue package with idv's worker count and cooldown (what
// River gives idv as idv runs it). Only the first says how close idv comes
// to River; the second, alone, would flatter idv.

// benchVendor answers every resolution and state-ID check at once, with
// success: the vendor's cost is not what B1 measures.
type benchVendor struct{}

var (
	benchResolutionAttrs = []string{"first_name", "last_name", "dob", "ssn", "address"}
	benchStateIDAttrs    = []string{"first_name", "last_name", "dob", "state_id_number"}
)

func (benchVendor) ProofResolution(context.Context, idv.Applicant) idv.VendorResult {
	return idv.VendorResult{Vendor: "bench_resolution", Success: true, TransactionID: "bench-res", VerifiedAttributes: benchResolutionAttrs}
}

func (benchVendor) ProofStateID(context.Context, idv.Applicant) idv.VendorResult {
	return idv.VendorResult{Vendor: "bench_state_id", Success: true, TransactionID: "bench-sid", VerifiedAttributes: benchStateIDAttrs}
}

// noopHandler is River's no-op worker, behind the queue package's thin
// wrapper (which only adds the job info to the context).
type noopHandler struct{}

func (noopHandler) Handle(context.Context, idv.Job) error { return nil }

// jobCounter wraps a handler and notes when the target number of jobs has
// finished, and how long each took.
type jobCounter struct {
	inner      idv.JobHandler
	target     int64
	done       chan struct{}
	firstStart atomic.Int64 // unix nanoseconds of the first job's start
	finished   atomic.Int64
	failed     atomic.Int64
	mu         sync.Mutex
	lastEnd    time.Time
	runs       []time.Duration
}

func newJobCounter(inner idv.JobHandler, target int) *jobCounter {
	return &jobCounter{inner: inner, target: int64(target), done: make(chan struct{}), runs: make([]time.Duration, 0, target)}
}

func (c *jobCounter) Handle(ctx context.Context, job idv.Job) error {
	start := time.Now()
	c.firstStart.CompareAndSwap(0, start.UnixNano())
	err := c.inner.Handle(ctx, job)
	end := time.Now()
	if err != nil {
		c.failed.Add(1)
		return err
	}
	c.mu.Lock()
	c.runs = append(c.runs, end.Sub(start))
	if end.After(c.lastEnd) {
		c.lastEnd = end
	}
	c.mu.Unlock()
	if c.finished.Add(1) == c.target {
		close(c.done)
	}
	return nil
}

// b1Outcome is one drained queue.
type b1Outcome struct {
	rate, submitRate float64
	runP50, runP99   time.Duration
	cpuPerJob        time.Duration // of this process, while draining
	failed           int64
	// unsuccessful counts the jobs whose stored result, read right after
	// the drain (results live idv.ResultTTL), is missing or not a success.
	unsuccessful int
	// outbox, for a bound run, says what is missing from the
	// verifications, events or delivery jobs after the drain ("" when
	// nothing is).
	outbox string
}

// b1BoundMetric is the rate of jobs bound to verifications.
const b1BoundMetric = "idv bound jobs (relying party, webhooks on)"

func benchWorkerThroughput(ctx context.Context, env *env, o Settings) (*Result, error) {
	rb := o.B1RiverBench
	res := &Result{Params: map[string]any{
		"jobs": o.B1Jobs, "workers": o.B1Workers, "submitters": o.B1Submitters,
		"fetch_cooldown": queue.DefaultFetchCooldown.String(), "fetch_poll_interval": env.cfg.Jobs.FetchPollInterval.String(),
	}}
	store, err := redisresults.New(env.redis, env.sealer, results.Options{Prefix: env.redisPrefix("b1")})
	if err != nil {
		return res, err
	}
	defer store.Close()

	// The baselines first, then idv's run, each in a fresh schema: what
	// an earlier run leaves behind (rows to vacuum) then weighs on idv,
	// never on a baseline.
	riverBench, err := queue.RunNoopBaseline(ctx, env.cfg.DatabaseURL,
		queue.Config{Schema: env.schema("b1_river_bench"), Logger: env.log}, rb)
	if err != nil {
		return res, fmt.Errorf("river benchmark baseline: %w", err)
	}
	viaQueue, err := b1Drain(ctx, env, o, "noop", "noop", store)
	if err != nil {
		return res, fmt.Errorf("river no-op through the queue package: %w", err)
	}
	// idv's runs, unbound and bound, in pairs: on a shared machine one
	// drain's rate moves by a third from run to run, so one of each says
	// little about their ratio. Each round drains both, the order
	// alternating, and the headline is the median of the rounds' ratios.
	var idvRuns, boundRuns []*b1Outcome
	var ratios []float64
	for round := range o.B1Rounds {
		order := []string{"idv", "idv_bound"}
		if round%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		pair := map[string]*b1Outcome{}
		for _, kind := range order {
			out, err := b1Drain(ctx, env, o, kind, fmt.Sprintf("%s_r%d", kind, round+1), store)
			if err != nil {
				return res, fmt.Errorf("%s run, round %d: %w", kind, round+1, err)
			}
			pair[kind] = out
		}
		idvRuns, boundRuns = append(idvRuns, pair["idv"]), append(boundRuns, pair["idv_bound"])
		ratios = append(ratios, pair["idv_bound"].rate/pair["idv"].rate)
	}
	idvRun, bound := medianRun(idvRuns), medianRun(boundRuns)
	ratio := median(ratios)
	res.metric("idv resolution jobs", idvRun.rate, "jobs/s")
	res.metric("idv job run p50", ms(idvRun.runP50), "ms")
	res.metric("idv job run p99", ms(idvRun.runP99), "ms")
	res.metric("idv CPU per job (this process)", float64(idvRun.cpuPerJob.Microseconds()), "us")
	res.metric("river no-op via queue CPU per job (this process)", float64(viaQueue.cpuPerJob.Microseconds()), "us")
	res.metric("submit (fill) rate", idvRun.submitRate, "jobs/s")
	res.metric(b1BoundMetric, bound.rate, "jobs/s")
	res.metric("idv bound job run p50", ms(bound.runP50), "ms")
	res.metric("idv bound job run p99", ms(bound.runP99), "ms")
	res.metric("idv bound CPU per job (this process)", float64(bound.cpuPerJob.Microseconds()), "us")
	res.baseline(Baseline{
		Name: "river_bench",
		What: fmt.Sprintf("River %s working no-op jobs as River's own benchmark runs it: %d jobs inserted before the client starts (burn-down), "+
			"%d workers, %s fetch cooldown, %s fetch poll, its own pool with pgxpool's defaults; jobs/s = N / (client start - last completion event)",
			riverVersion(), rb.Jobs, rb.Workers, rb.FetchCooldown, rb.FetchPollInterval),
		Params: map[string]any{"jobs": rb.Jobs, "workers": rb.Workers, "fetch_cooldown": rb.FetchCooldown.String(),
			"fetch_poll_interval": rb.FetchPollInterval.String(), "insert_batch": rb.InsertBatch},
		Value: riverBench.PerSecond, Unit: "jobs/s", Goal: 0.5,
	}, idvRun.rate)
	res.baseline(Baseline{
		Name: "river_via_queue",
		What: fmt.Sprintf("River %s working no-op jobs through idv's queue package with idv's settings (%d workers, %s fetch cooldown), "+
			"filled and timed as idv's run: what River gives idv as idv runs it", riverVersion(), o.B1Workers, queue.DefaultFetchCooldown),
		Params: map[string]any{"jobs": o.B1Jobs, "workers": o.B1Workers, "fetch_cooldown": queue.DefaultFetchCooldown.String(),
			"fetch_poll_interval": env.cfg.Jobs.FetchPollInterval.String()},
		Value: viaQueue.rate, Unit: "jobs/s",
	}, idvRun.rate)
	res.baseline(Baseline{
		Name: "idv_unbound",
		What: "idv's own run above: the same N resolution jobs, handler and settings, without a verification (the outcome row alone); " +
			"compared with the jobs bound to verifications of a relying party with a webhook URL, whose outcome transaction also finishes the step, " +
			"moves the verification to verified and writes the event and its delivery job",
		Params: map[string]any{"jobs": o.B1Jobs, "workers": o.B1Workers},
		Value:  idvRun.rate, Unit: "jobs/s", Of: b1BoundMetric, Goal: 0.8,
	}, ratio*idvRun.rate) // the baseline's ratio is the median of the rounds' ratios
	res.Target = &Target{Text: "idv rate >= 0.5 x River no-op rate with River's benchmark settings (river_bench)", Met: idvRun.rate >= 0.5*riverBench.PerSecond}

	for i := range idvRuns {
		if bad := idvRuns[i].unsuccessful + boundRuns[i].unsuccessful; bad > 0 {
			return res, fmt.Errorf("round %d: %d of %d jobs did not store a successful result", i+1, bad, 2*o.B1Jobs)
		}
		if boundRuns[i].outbox != "" {
			return res, fmt.Errorf("bound run, round %d: %s", i+1, boundRuns[i].outbox)
		}
	}
	res.Params["rounds"] = o.B1Rounds
	if o.B1Rounds > 1 {
		rounds := make([]string, len(ratios))
		for i := range ratios {
			rounds[i] = fmt.Sprintf("%.0f/%.0f = %.2f", boundRuns[i].rate, idvRuns[i].rate, ratios[i])
		}
		res.note("idv bound / unbound in %d rounds (bound/unbound jobs/s; the order alternates, idv first in round 1): %s. "+
			"The ratio above is their median; the rates above are each run's median.", o.B1Rounds, strings.Join(rounds, ", "))
	}
	res.note("idv bound: each job belongs to a verification (identity step only) of a relying party with a webhook URL, created and its attempt begun through the store "+
		"(queue.BeginAttempt: the job, the step in flight, the verification.processing event and its delivery job) before the workers start; "+
		"checked after the drain: every verification verified with its verification.verified event and delivery job. "+
		"The webhook deliveries (%d jobs on the %q queue) are not worked during B1: they are another queue; the rate is the proofing jobs'. "+
		"Runs in order: river_bench, river_via_queue, then idv and idv bound in rounds, each in a fresh schema.", 2*o.B1Jobs, queue.WebhookQueue)
	res.note("idv and river_via_queue: jobs/s is N / (last job finished - first job started), the queue filled before the workers start, the same queue package and worker count.")
	if idvRun.failed+viaQueue.failed > 0 {
		res.note("handler errors (retried): idv %d, no-op via queue %d", idvRun.failed, viaQueue.failed)
	}
	return res, nil
}

// medianRun is the run of median rate.
func medianRun(runs []*b1Outcome) *b1Outcome {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b *b1Outcome) int { return cmp.Compare(a.rate, b.rate) })
	return sorted[len(sorted)/2]
}

// median of vs (the upper one of an even count).
func median(vs []float64) float64 {
	sorted := slices.Clone(vs)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}

// b1Drain fills a fresh queue with N resolution jobs and times workers
// draining it, with the real handler ("idv"), the real handler and jobs
// bound to verifications of a relying party with a webhook URL
// ("idv_bound"), or a no-op one ("noop").
func b1Drain(ctx context.Context, env *env, o Settings, kind, name string, store *results.Store) (*b1Outcome, error) {
	cfg := env.cfg
	cfg.DatabaseSchema = env.schema("b1_" + name)
	cfg.Jobs.Workers.ResolutionProofing = o.B1Workers
	q, err := app.OpenQueue(ctx, cfg, env.log)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	if err := q.Migrate(ctx); err != nil {
		return nil, err
	}
	c := &app.Components{Config: cfg, Log: env.log, Sealer: env.sealer, Results: store, Queue: q, Metrics: telemetry.NewMetrics()}

	var rpID string
	if kind == "idv_bound" {
		// The webhook is never called: B1 works no webhook queue.
		rp, err := newRelyingParty(ctx, cfg, q, env.sealer, "http://127.0.0.1:9/bench-webhook")
		if err != nil {
			return nil, err
		}
		rpID = rp.RelyingParty.ID
	}
	var inner idv.JobHandler = noopHandler{}
	if kind != "noop" {
		// The production handler, with the zero-latency vendor in place
		// of the HTTP clients.
		h, err := c.Handlers(app.Proofers{Resolution: benchVendor{}, StateID: benchVendor{}})
		if err != nil {
			return nil, err
		}
		inner = h[idv.JobResolution]
	}
	counter := newJobCounter(inner, o.B1Jobs)

	out := &b1Outcome{}
	submitStart := time.Now()
	ids, err := b1Fill(ctx, env, q, o.B1Jobs, o.B1Submitters, rpID)
	if err != nil {
		return nil, err
	}
	out.submitRate = float64(len(ids)) / time.Since(submitStart).Seconds()

	wc := c.WorkerConfig(map[idv.JobKind]idv.JobHandler{idv.JobResolution: counter})
	wc.CaptureSessionRetention = -1 // no housekeeping job in the measurement
	cpu0 := processCPU()
	// The workers' goroutines carry the run's name, so a CPU profile
	// (--cpuprofile) can be read per run: go tool pprof -tagfocus=b1=idv_bound.
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("b1", kind)))
	workers, err := q.StartWorkers(ctx, wc)
	pprof.SetGoroutineLabels(ctx)
	if err != nil {
		return nil, err
	}
	// Bounded: at 20 jobs/s or better, plus a minute.
	wait := time.Minute + time.Duration(o.B1Jobs)*50*time.Millisecond
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var waitErr error
	select {
	case <-counter.done:
	case <-timer.C:
		waitErr = fmt.Errorf("only %d of %d jobs finished within %s", counter.finished.Load(), o.B1Jobs, wait)
	case <-ctx.Done():
		waitErr = ctx.Err()
	}
	out.cpuPerJob = (processCPU() - cpu0) / time.Duration(o.B1Jobs)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = workers.Stop(sctx)
	if waitErr != nil {
		return nil, waitErr
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	span := counter.lastEnd.Sub(time.Unix(0, counter.firstStart.Load()))
	out.rate = float64(o.B1Jobs) / span.Seconds()
	slices.Sort(counter.runs)
	out.runP50, out.runP99 = percentile(counter.runs, 50), percentile(counter.runs, 99)
	out.failed = counter.failed.Load()
	if kind != "noop" {
		// Every job stored a sealed, successful result.
		for _, id := range ids {
			r, err := store.Load(ctx, id)
			if err != nil || r.Status != idv.StatusDone || r.Result == nil || r.Result.Outcome != idv.OutcomeSuccess {
				out.unsuccessful++
			}
		}
	}
	if rpID != "" {
		if out.outbox, err = b1CheckOutbox(ctx, env, cfg.DatabaseSchema, o.B1Jobs); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// b1CheckOutbox says what a bound run's drain left undone: every
// verification verified, with its two events (processing, verified) and
// their delivery jobs, waiting on the webhook queue.
func b1CheckOutbox(ctx context.Context, env *env, schema string, n int) (string, error) {
	conn, err := env.connect(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	s := pgx.Identifier{schema}.Sanitize() + "."
	var verified, events, deliveries int
	err = conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM `+s+`idv_verifications WHERE status = 'verified'),
		(SELECT count(*) FROM `+s+`idv_webhook_events WHERE type = 'verification.verified'),
		(SELECT count(*) FROM `+s+`river_job WHERE queue = $1 AND state = 'available')`, queue.WebhookQueue).Scan(&verified, &events, &deliveries)
	if err != nil {
		return "", err
	}
	if verified != n || events != n || deliveries != 2*n {
		return fmt.Sprintf("%d verified verifications, %d verification.verified events and %d delivery jobs waiting, want %d, %d and %d",
			verified, events, deliveries, n, n, 2*n), nil
	}
	return "", nil
}

// b1Fill submits n resolution jobs with sealed arguments, as the web tier
// does, from several goroutines, and returns their result ids. With rpID,
// each job is the identity attempt of a new verification of that relying
// party, begun as the web tier begins it (queue.BeginAttempt).
func b1Fill(ctx context.Context, env *env, q *queue.Queue, n, submitters int, rpID string) ([]string, error) {
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, submitters)
	for range submitters {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				cs, job, err := benchResolutionJob(ctx, env, i)
				switch {
				case err != nil:
				case rpID == "":
					err = q.Submit(ctx, cs, job)
				default:
					err = beginBoundAttempt(ctx, q, rpID, i, cs, job)
				}
				if err != nil {
					errs <- err
					return
				}
				ids[i] = cs.ResultID
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return ids, ctx.Err()
}

// benchApplicant is obviously fake: an SSN starting 900 is never issued.
// Each person gets their own SSN, so per-SSN attempt limits do not trip.
func benchApplicant(i int) idv.Applicant {
	return idv.Applicant{
		FirstName: "Bench", LastName: "Person", DOB: "1980-01-02", SSN: fmt.Sprintf("900-%02d-%04d", (i/10000)%100, i%10000),
		Address1: "1 Bench St", City: "Benchville", State: "VA", ZIPCode: "22201",
		StateIDNumber: fmt.Sprintf("B%08d", i), StateIDJurisdiction: "VA",
	}
}

func benchResolutionJob(ctx context.Context, env *env, i int) (idv.CaptureSession, idv.Job, error) {
	now := time.Now()
	cs := idv.CaptureSession{ID: idv.NewID(), ResultID: idv.NewID(), Kind: idv.JobResolution, RequestedAt: now}
	plain, err := json.Marshal(idv.ResolutionArguments{Applicant: benchApplicant(i)})
	if err != nil {
		return cs, idv.Job{}, err
	}
	sealed, err := env.sealer.Seal(ctx, plain, idv.JobAAD(idv.JobResolution, cs.ResultID))
	if err != nil {
		return cs, idv.Job{}, err
	}
	return cs, idv.Job{Kind: idv.JobResolution, ResultID: cs.ResultID, TraceID: "bench", EnqueuedAt: now, EncryptedArguments: sealed}, nil
}

// beginBoundAttempt creates verification i of rpID (identity step only) and
// begins its attempt with cs and job.
func beginBoundAttempt(ctx context.Context, q *queue.Queue, rpID string, i int, cs idv.CaptureSession, job idv.Job) error {
	v, _, err := q.CreateVerification(ctx, queue.NewVerification{Verification: newVerification(rpID, "b1", i, []idv.StepName{idv.StepIdentity})})
	if err != nil {
		return err
	}
	_, err = q.BeginAttempt(ctx, idv.Attempt{VerificationID: v.ID, Step: idv.StepIdentity, CaptureSession: cs, Job: job})
	return err
}
