package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/telemetry"
)

// B6, the slot cliff: people arrive at a fixed rate (open loop), each
// submitting a document job and, once its result is in, a resolution job, as
// the flow does. The jobs wait on simulated vendors (the handler sleeps the
// vendor latency: B6 measures queueing for worker slots, not job code)
// and run through River on PostgreSQL in several worker processes (each its
// own queue and pool, in this process), first with the old per-process
// slot defaults (document 5, resolution 10), then with the sized ones
// (queue.DefaultWorkers). A step whose result does not arrive within the
// result window (idv.ResultTTL, 60 s) is "missing" for the person, who stops
// there, as the waiting page gives up.
//
// With --b6-scale k, vendor latencies, the result window and the arrival
// span are divided by k and the arrival rate multiplied by k: utilisation
// (arrivals × latency ÷ slots) and so the cliff stay the same while the run
// is k times shorter; times are reported multiplied back by k.

// b6OldWorkers are the per-process slots idv shipped before they were sized
// by vendor latency.
var b6OldWorkers = map[idv.JobKind]int{idv.JobDocument: 5, idv.JobResolution: 10}

// b6Signal tells waiters when a result id's job finished.
type b6Signal struct{ m sync.Map } // result id -> chan struct{}

func (s *b6Signal) ch(id string) chan struct{} {
	c, _ := s.m.LoadOrStore(id, make(chan struct{}))
	return c.(chan struct{})
}

// sleepHandler is a job whose vendor takes latency.
type sleepHandler struct {
	latency time.Duration
	done    *b6Signal
}

func (h sleepHandler) Handle(ctx context.Context, job idv.Job) error {
	t := time.NewTimer(h.latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	close(h.done.ch(job.ResultID))
	return nil
}

// b6Person is what happened to one person: each step's time to result
// (the window when it went missing) and whether one went missing.
type b6Person struct {
	doc, res time.Duration
	reached  int // steps that got a result: 0, 1 or 2
	missing  bool
	err      error
}

type b6Outcome struct {
	docP50, docP99, resP50, resP99, personP99 time.Duration
	missingShare                              float64
	people, reachedEnd                        int
	errs                                      int
	firstErr                                  error
	// pickup is p50 and p99 of enqueue to start, document then
	// resolution, from River's rows: the wait for a slot.
	pickup    [4]time.Duration
	pickupErr error
}

func benchSlotCliff(ctx context.Context, env *env, o Settings) (*Result, error) {
	k := o.B6Scale
	scaled := func(d time.Duration) time.Duration { return d / time.Duration(k) }
	n := int(float64(o.B6Rate) * o.B6Duration.Seconds())
	sized := map[idv.JobKind]int{idv.JobDocument: queue.DefaultWorkers(idv.JobDocument), idv.JobResolution: queue.DefaultWorkers(idv.JobResolution)}
	res := &Result{Params: map[string]any{
		"rate_per_s": o.B6Rate, "duration": o.B6Duration.String(), "arrivals": n, "processes": o.B6Processes,
		"document_latency": o.B6DocLatency.String(), "resolution_latency": o.B6ResLatency.String(),
		"result_window": idv.ResultTTL.String(), "scale": k,
		"old_slots_per_process":   map[string]int{"document": b6OldWorkers[idv.JobDocument], "resolution": b6OldWorkers[idv.JobResolution]},
		"sized_slots_per_process": map[string]int{"document": sized[idv.JobDocument], "resolution": sized[idv.JobResolution]},
	}}
	if n < 1 {
		return res, fmt.Errorf("--b6-rate x --b6-duration gives no arrivals")
	}
	runs := []struct {
		name    string
		workers map[idv.JobKind]int
		part    string
	}{{"old defaults", b6OldWorkers, "b6_old"}, {"sized defaults", sized, "b6_sized"}}
	var outs []*b6Outcome
	for _, r := range runs {
		out, err := b6Run(ctx, env, o, r.workers, r.name, r.part)
		if err != nil {
			return res, fmt.Errorf("%s: %w", r.name, err)
		}
		outs = append(outs, out)
		unscale := func(d time.Duration) float64 { return ms(d * time.Duration(k)) }
		res.metric(r.name+": people missing a result", 100*out.missingShare, "%")
		res.metric(r.name+": people with both results", float64(out.reachedEnd), "people")
		res.metric(r.name+": document time to result p50", unscale(out.docP50), "ms")
		res.metric(r.name+": document time to result p99", unscale(out.docP99), "ms")
		res.metric(r.name+": resolution time to result p50", unscale(out.resP50), "ms")
		res.metric(r.name+": resolution time to result p99", unscale(out.resP99), "ms")
		res.metric(r.name+": arrival to last result p99", unscale(out.personP99), "ms")
		if out.pickupErr != nil {
			res.note("%s: pickup times not available: %v", r.name, out.pickupErr)
		} else {
			res.metric(r.name+": document job pickup p50", unscale(out.pickup[0]), "ms")
			res.metric(r.name+": document job pickup p99", unscale(out.pickup[1]), "ms")
			res.metric(r.name+": resolution job pickup p99", unscale(out.pickup[3]), "ms")
		}
		if out.errs > 0 {
			res.note("%s: %d people hit errors; first: %v", r.name, out.errs, out.firstErr)
		}
	}
	old, sz := outs[0], outs[1]
	res.Target = &Target{Text: fmt.Sprintf("sized defaults on %d processes: nobody missing at %d proofings/s with a %s document and %s resolution vendor",
		o.B6Processes, o.B6Rate, o.B6DocLatency, o.B6ResLatency), Met: sz.missingShare == 0 && sz.errs == 0}
	res.note("Little's law: busy slots = arrivals/s x vendor latency: document %.0f, resolution %.0f at %d/s; old defaults give %d and %d over %d processes, sized %d and %d.",
		float64(o.B6Rate)*o.B6DocLatency.Seconds(), float64(o.B6Rate)*o.B6ResLatency.Seconds(), o.B6Rate,
		o.B6Processes*b6OldWorkers[idv.JobDocument], o.B6Processes*b6OldWorkers[idv.JobResolution], o.B6Processes,
		o.B6Processes*sized[idv.JobDocument], o.B6Processes*sized[idv.JobResolution])
	res.note("time to result = job done - submit, per step; a step with no result within the %s window counts as the window (it is 'missing'), and the person stops there. "+
		"Vendors are simulated by the handler sleeping the latency; jobs go through River on PostgreSQL (submit, fetch, complete), %d worker processes as separate queues and pools in this process.",
		idv.ResultTTL, o.B6Processes)
	if k > 1 {
		res.note("scaled by %d: vendor latencies %s and %s, window %s, arrivals %d/s for %s; times above are multiplied back by %d. Utilisation is unchanged, River's per-job costs are not scaled.",
			k, scaled(o.B6DocLatency), scaled(o.B6ResLatency), scaled(idv.ResultTTL), o.B6Rate*k, scaled(o.B6Duration), k)
	}
	if old.missingShare > 0 {
		res.note("old defaults: %.1f%% of people miss a result; sized: %.1f%%", 100*old.missingShare, 100*sz.missingShare)
	}
	return res, nil
}

// b6Run runs the arrivals against o.B6Processes worker processes with
// workers slots each, in a fresh schema named after part.
func b6Run(ctx context.Context, env *env, o Settings, workers map[idv.JobKind]int, name, part string) (*b6Outcome, error) {
	k := time.Duration(o.B6Scale)
	window, docLat, resLat := idv.ResultTTL/k, o.B6DocLatency/k, o.B6ResLatency/k
	rate, n := o.B6Rate*o.B6Scale, int(float64(o.B6Rate)*o.B6Duration.Seconds())
	cfg := env.cfg
	// A schema per run: the jobs the old defaults leave queued must not
	// land on the sized run's workers.
	cfg.DatabaseSchema = env.schema(part)
	signal := &b6Signal{}
	handlers := map[idv.JobKind]idv.JobHandler{
		idv.JobDocument:   sleepHandler{latency: docLat, done: signal},
		idv.JobResolution: sleepHandler{latency: resLat, done: signal},
	}
	var submitter *queue.Queue
	var stops []func()
	defer func() {
		for _, stop := range slices.Backward(stops) {
			stop()
		}
	}()
	for i := range o.B6Processes {
		q, err := app.OpenQueue(ctx, cfg, env.log)
		if err != nil {
			return nil, err
		}
		stops = append(stops, q.Close)
		if i == 0 {
			if err := q.Migrate(ctx); err != nil {
				return nil, err
			}
			submitter = q
		}
		c := &app.Components{Config: cfg, Log: env.log, Queue: q, Metrics: telemetry.NewMetrics()}
		wc := c.WorkerConfig(handlers)
		wc.Workers = workers
		wc.ID = fmt.Sprintf("b6-%d-%s", i, randomID())
		wc.CaptureSessionRetention = -1
		w, err := q.StartWorkers(ctx, wc)
		if err != nil {
			return nil, err
		}
		stops = append(stops, func() {
			// Jobs still queued or running no longer matter: hand them back.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			_ = w.Stop(sctx)
		})
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute+o.B6Duration/k+2*window+30*time.Second)
	defer cancel()

	step := func(pctx context.Context, kind idv.JobKind, i int) (time.Duration, bool, error) {
		now := time.Now()
		cs := idv.CaptureSession{ID: idv.NewID(), ResultID: idv.NewID(), Kind: kind, RequestedAt: now}
		job := idv.Job{Kind: kind, ResultID: cs.ResultID, TraceID: "bench-b6", EnqueuedAt: now, EncryptedArguments: []byte("sealed-elsewhere")}
		done := signal.ch(cs.ResultID)
		if err := submitter.Submit(pctx, cs, job); err != nil {
			return 0, false, err
		}
		t := time.NewTimer(window)
		defer t.Stop()
		select {
		case <-done:
			return time.Since(now), true, nil
		case <-t.C:
			return window, false, nil
		case <-pctx.Done():
			return window, false, pctx.Err()
		}
	}
	people := make([]b6Person, n)
	var wg sync.WaitGroup
	t0 := time.Now().Add(50 * time.Millisecond)
	openLoop(ctx, &wg, t0, n, rate, func(i int, at time.Time) {
		p := &people[i]
		var ok bool
		if p.doc, ok, p.err = step(ctx, idv.JobDocument, i); p.err != nil || !ok {
			p.missing = p.err == nil
			return
		}
		p.reached = 1
		if p.res, ok, p.err = step(ctx, idv.JobResolution, i); p.err != nil || !ok {
			p.missing = p.err == nil
			return
		}
		p.reached = 2
	})
	wg.Wait()

	out := &b6Outcome{people: n}
	var docs, ress, totals []time.Duration
	missing := 0
	for _, p := range people {
		if p.err != nil {
			out.errs++
			if out.firstErr == nil {
				out.firstErr = p.err
			}
			continue
		}
		docs = append(docs, p.doc)
		if p.reached >= 1 {
			ress = append(ress, p.res)
		}
		totals = append(totals, p.doc+p.res)
		if p.missing {
			missing++
		}
		if p.reached == 2 {
			out.reachedEnd++
		}
	}
	for _, s := range [][]time.Duration{docs, ress, totals} {
		slices.Sort(s)
	}
	out.docP50, out.docP99 = percentile(docs, 50), percentile(docs, 99)
	out.resP50, out.resP99 = percentile(ress, 50), percentile(ress, 99)
	out.personP99 = percentile(totals, 99)
	out.missingShare = float64(missing) / float64(max(n-out.errs, 1))
	out.pickup, out.pickupErr = b6Pickup(ctx, env, cfg.DatabaseSchema)
	env.log.Info("bench: B6 run done", "run", name, "people", n, "missing", missing, "errors", out.errs)
	return out, ctx.Err()
}

// b6Pickup reads p50 and p99 of each kind's wait from enqueue to the start
// of its first run, from River's rows (the database's clock), for the jobs
// that started.
func b6Pickup(ctx context.Context, env *env, schema string) ([4]time.Duration, error) {
	var out [4]time.Duration
	conn, err := env.connect(ctx)
	if err != nil {
		return out, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	s := pgx.Identifier{schema}.Sanitize()
	for i, kind := range []idv.JobKind{idv.JobDocument, idv.JobResolution} {
		var p50, p99 *float64
		err := conn.QueryRow(ctx, `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY w), percentile_cont(0.99) WITHIN GROUP (ORDER BY w)
			FROM (SELECT extract(epoch FROM attempted_at - created_at) AS w FROM `+s+`.river_job
			      WHERE kind = $1 AND attempted_at IS NOT NULL) t`, string(kind)).Scan(&p50, &p99)
		if err != nil {
			return out, err
		}
		if p50 != nil && p99 != nil {
			out[2*i] = time.Duration(*p50 * float64(time.Second))
			out[2*i+1] = time.Duration(*p99 * float64(time.Second))
		}
	}
	return out, nil
}
