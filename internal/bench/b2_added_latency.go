package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv/flow"
)

// B2, added latency: people arrive at a fixed rate whatever the system does
// (open loop), each with their own session. Each one POSTs the verify_info
// form, loads the waiting page and long-polls the status endpoint as the
// page's script does. The added latency is (status says done) - (scheduled
// arrival) - 2 x vendor latency: the resolution job calls two vendors in
// sequence (resolution, then state ID), each answering after the simulated
// latency. Measuring from the scheduled arrival, not from when the client
// got round to it, keeps a slow load generator from hiding delays.

type b2Sample struct {
	ok                bool
	status            string
	lag, submit, seen time.Duration // lag of the start; submit and seen since the scheduled arrival
	next              string
	err               error
}

func benchAddedLatency(ctx context.Context, env *env, o Settings) (*Result, error) {
	n := int(float64(o.B2Rate) * o.B2Duration.Seconds())
	res := &Result{Params: map[string]any{
		"rate_per_s": o.B2Rate, "duration": o.B2Duration.String(), "arrivals": n,
		"vendor_latency": o.B2Latency.String(), "vendor_calls_per_job": 2, "workers": o.B2Workers,
		"long_poll": env.cfg.Web.LongPoll.String(),
	}}
	if n < 1 {
		return res, fmt.Errorf("--b2-rate x --b2-duration gives no arrivals")
	}
	st, err := startStack(ctx, env, "b2", o.B2Latency, o.B2Workers, nil)
	if err != nil {
		return res, err
	}
	defer st.close()
	// Everything is bounded: setup, arrivals, then at most the result
	// window and a margin for the last ones.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute+o.B2Duration+idv.ResultTTL+30*time.Second)
	defer cancel()
	tr := transport(0)
	defer tr.CloseIdleConnections()

	// Setup, before the measured window: a relying party, one verification
	// per person (identity step only) made through the store, and each
	// person's session bound to it through its link.
	warm := min(n, 20)
	setupStart := time.Now()
	rp, err := newRelyingParty(ctx, st.cfg, st.queue, env.sealer, "")
	if err != nil {
		return res, err
	}
	steps := []idv.StepName{idv.StepIdentity}
	warmPeople, err := boundPeople(ctx, st, rp.RelyingParty.ID, "b2-warm", steps, warm, tr)
	if err != nil {
		return res, err
	}
	people, err := boundPeople(ctx, st, rp.RelyingParty.ID, "b2", steps, n, tr)
	if err != nil {
		return res, err
	}
	res.note("setup (not measured): %d verifications with the identity step only, created through the store in bulk (queue.CreateVerificationWithLink), "+
		"each person's link followed with their own cookie jar (GET /start/{token}), in %.1f s", n+warm, time.Since(setupStart).Seconds())

	// Warm up (not counted): connections, pools, the first data key.
	var wg sync.WaitGroup
	for i, p := range warmPeople {
		wg.Go(func() { b2Person(ctx, p, 990_000+i, time.Now(), 0) })
	}
	wg.Wait()

	samples := make([]b2Sample, n)
	t0 := time.Now().Add(50 * time.Millisecond)
	openLoop(ctx, &wg, t0, n, o.B2Rate, func(i int, at time.Time) { samples[i] = b2Person(ctx, people[i], i, at, 2*o.B2Latency) })
	arrivalSpan := time.Since(t0)
	wg.Wait()

	var added, submits []time.Duration
	var maxLag time.Duration
	counts := map[string]int{}
	var firstErr error
	for _, s := range samples {
		maxLag = max(maxLag, s.lag)
		switch {
		case s.err != nil:
			counts["error"]++
			if firstErr == nil {
				firstErr = s.err
			}
		case !s.ok:
			counts[s.status]++
		default:
			added = append(added, s.seen)
			submits = append(submits, s.submit)
			// identity was the verification's only step: verified. The
			// page may name the next step (phone), which a verification
			// without it passes over to the result page.
			if s.next == resultPath || s.next == phonePath {
				counts["success"]++
			} else {
				counts["sent to "+s.next]++
			}
		}
	}
	slices.Sort(added)
	slices.Sort(submits)
	res.metric("arrivals", float64(n), "people")
	res.metric("achieved arrival rate", float64(n)/max(arrivalSpan.Seconds(), 1/float64(o.B2Rate)), "people/s")
	res.metric("results seen done", float64(len(added)), "people")
	res.metric("added latency p50", ms(percentile(added, 50)), "ms")
	res.metric("added latency p90", ms(percentile(added, 90)), "ms")
	res.metric("added latency p99", ms(percentile(added, 99)), "ms")
	res.metric("added latency max", ms(percentile(added, 100)), "ms")
	res.metric("submit + waiting page p50", ms(percentile(submits, 50)), "ms")
	res.metric("submit + waiting page p99", ms(percentile(submits, 99)), "ms")
	res.metric("load generator lag max", ms(maxLag), "ms")
	if b, err := b2Breakdown(ctx, env, st.schema, t0, 2*o.B2Latency); err != nil {
		res.note("breakdown not available: %v", err)
	} else {
		res.metric("job pickup (enqueue to start) p50", ms(b[0]), "ms")
		res.metric("job pickup (enqueue to start) p99", ms(b[1]), "ms")
		res.metric("job run beyond vendor latency p50", ms(b[2]), "ms")
		res.metric("job run beyond vendor latency p99", ms(b[3]), "ms")
	}
	p99 := percentile(added, 99)
	res.Target = &Target{Text: fmt.Sprintf("p99 added latency <= 50 ms at %d/s with %s vendor latency", o.B2Rate, o.B2Latency), Met: len(added) == n && p99 <= 50*time.Millisecond}
	res.note("outcomes: %v", counts)
	res.note("added latency = status seen done - scheduled arrival - 2 x %s (two vendor calls in sequence per job: resolution, then state ID); it includes the POST, the waiting page and the long poll. Vendors are called directly, without the egress proxy.", o.B2Latency)
	if firstErr != nil {
		res.note("first error: %v", firstErr)
	}
	if len(added) < n {
		return res, fmt.Errorf("%d of %d people did not see a done result", n-len(added), n)
	}
	return res, nil
}

// b2Person is the arrival of person p, bound to their verification, at
// time at; vendor is the vendor latency to take off.
func b2Person(ctx context.Context, p *flow.Person, i int, at time.Time, vendor time.Duration) b2Sample {
	s := b2Sample{lag: time.Since(at)}
	ctx, cancel := context.WithTimeout(ctx, idv.ResultTTL+20*time.Second)
	defer cancel()
	if s.err = p.Submit(ctx, verifyInfoPath, personForm(i)); s.err != nil {
		return s
	}
	waiting, next, err := p.Page(ctx, verifyInfoPath)
	s.submit = time.Since(at)
	if s.err = err; err != nil {
		return s
	}
	if !waiting { // done before the waiting page loaded
		s.seen, s.ok, s.status, s.next = time.Since(at)-vendor, true, string(idv.StatusDone), next
		return s
	}
	s.status, s.err = p.Wait(ctx, verifyInfoPath)
	s.seen = time.Since(at) - vendor
	if s.err != nil || s.status != string(idv.StatusDone) {
		return s
	}
	s.ok = true
	s.next, s.err = nextPage(ctx, p, verifyInfoPath)
	return s
}

// nextPage loads the step page at path after the result, as the waiting page does,
// and returns where it sends the person (on success, the next step or, after
// the verification's last step, the result page).
func nextPage(ctx context.Context, p *flow.Person, path string) (string, error) {
	waiting, loc, err := p.Page(ctx, path)
	if err == nil && waiting {
		err = errors.New("result page still waiting after the status said done")
	}
	return loc, err
}

// b2Breakdown reads where the time went inside the system, from what the
// run left in its schema: how long each job waited to be picked up (River's
// created_at to attempted_at, both the database's clock) and how long it ran
// until its result was ready beyond the vendor latency (attempted_at to the
// outcome's finished_at). It returns p50 and p99 of each.
func b2Breakdown(ctx context.Context, env *env, schema string, since time.Time, vendor time.Duration) ([4]time.Duration, error) {
	var out [4]time.Duration
	conn, err := env.connect(ctx)
	if err != nil {
		return out, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	s := pgx.Identifier{schema}.Sanitize()
	var v [4]float64
	err = conn.QueryRow(ctx, `WITH t AS (
		SELECT extract(epoch FROM j.attempted_at - j.created_at) AS pickup,
		       extract(epoch FROM o.finished_at - j.attempted_at) - $2::float8 AS run
		FROM `+s+`.river_job j JOIN `+s+`.idv_outcomes o ON o.result_id = j.args->>'result_id'
		WHERE j.kind = 'resolution_proofing' AND j.created_at >= $1 AND j.attempted_at IS NOT NULL)
		SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY pickup), percentile_cont(0.99) WITHIN GROUP (ORDER BY pickup),
		       percentile_cont(0.5) WITHIN GROUP (ORDER BY run), percentile_cont(0.99) WITHIN GROUP (ORDER BY run) FROM t`,
		since, vendor.Seconds()).Scan(&v[0], &v[1], &v[2], &v[3])
	for i, x := range v {
		out[i] = time.Duration(x * float64(time.Second))
	}
	return out, err
}
