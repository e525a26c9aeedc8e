package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv/flow"
)

// B3, poll capacity: how many status checks per second the waiting page's
// endpoint answers for attempts that are done (each check: the session from
// Redis, the capture session from PostgreSQL, the sealed result from Redis,
// two AES-GCM opens). Concurrent clients, each on its own keep-alive
// connection, ask again as soon as they have an answer, for a fixed time.
//
// In-progress attempts are not measured for rate: a check then waits (long
// poll) until the result is written or web.long_poll passes, so its rate is
// set by the job, not by the endpoint; B2 measures how soon such a waiter
// sees the result.

func benchPollCapacity(ctx context.Context, env *env, o Settings) (*Result, error) {
	res := &Result{Params: map[string]any{
		"duration": o.B3Duration.String(), "clients": o.B3Clients, "sessions": o.B3Sessions,
	}}
	st, err := startStack(ctx, env, "b3", 0, env.cfg.Jobs.Workers.ResolutionProofing)
	if err != nil {
		return res, err
	}
	defer st.close()
	ctx, cancel := context.WithTimeout(ctx, o.B3Duration+2*time.Minute)
	defer cancel()

	// People whose attempt is done: submitted and waited for, but the
	// result not yet read (reading it would end the attempt).
	setup := transport(0)
	defer setup.CloseIdleConnections()
	people := make([]*flow.Person, o.B3Sessions)
	errs := make([]error, o.B3Sessions)
	var wg sync.WaitGroup
	for i := range people {
		wg.Go(func() {
			p := flow.New(st.base, setup)
			if err := p.Submit(ctx, verifyInfoPath, personForm(i)); err != nil {
				errs[i] = err
				return
			}
			s, err := p.Wait(ctx, verifyInfoPath)
			if err == nil && s != string(idv.StatusDone) {
				err = fmt.Errorf("attempt ended %q", s)
			}
			errs[i], people[i] = err, p
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return res, fmt.Errorf("preparing sessions: %w", err)
		}
	}

	// Each client: its own connection, a person's cookies.
	type clientStats struct {
		lat      []time.Duration
		notDone  int
		firstErr error
		errs     int
	}
	stats := make([]clientStats, o.B3Clients)
	start, cpu0 := time.Now(), processCPU()
	deadline := start.Add(o.B3Duration)
	for c := range stats {
		wg.Go(func() {
			tr := transport(1)
			defer tr.CloseIdleConnections()
			p := &flow.Person{Base: st.base, Client: &http.Client{Transport: tr, Jar: people[c%len(people)].Client.Jar, Timeout: 30 * time.Second}}
			cs := &stats[c]
			cs.lat = make([]time.Duration, 0, 1<<14)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				r, err := p.Do(ctx, http.MethodGet, verifyInfoPath+"/status", nil)
				d := time.Since(t)
				switch {
				case err != nil || r.Code != http.StatusOK:
					cs.errs++
					if cs.firstErr == nil {
						cs.firstErr = fmt.Errorf("HTTP %d: %v", r.Code, err)
					}
				case !bytes.Contains(r.Body, []byte(`"done"`)):
					cs.notDone++
				default:
					cs.lat = append(cs.lat, d)
				}
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpu0

	var all []time.Duration
	notDone, nerr := 0, 0
	var firstErr error
	for _, cs := range stats {
		all = append(all, cs.lat...)
		notDone += cs.notDone
		nerr += cs.errs
		if firstErr == nil {
			firstErr = cs.firstErr
		}
	}
	slices.Sort(all)
	rate := float64(len(all)) / elapsed.Seconds()
	res.metric("status checks (done)", rate, "checks/s")
	res.metric("latency p50", ms(percentile(all, 50)), "ms")
	res.metric("latency p99", ms(percentile(all, 99)), "ms")
	res.metric("checks", float64(len(all)), "")
	if len(all) > 0 {
		res.metric("CPU per check (server and client, this process)", float64(cpu.Microseconds())/float64(len(all)), "us")
	}
	res.metric("answers other than done", float64(notDone), "")
	res.metric("errors", float64(nerr), "")
	res.Target = &Target{Text: "at least 10000 status checks/s", Met: rate >= 10000 && nerr == 0 && notDone == 0}
	res.note("the clients run in the same process as the server, on the same CPUs; in-progress attempts are not measured for rate (a check then long-polls; B2 covers it)")
	if firstErr != nil {
		res.note("first error: %v", firstErr)
	}
	if nerr > 0 || notDone > 0 {
		return res, fmt.Errorf("%d errors and %d answers other than done", nerr, notDone)
	}
	return res, nil
}
