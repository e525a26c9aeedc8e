package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/app"
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
//
// Beside it, in the same run: plain Redis GETs of a value the size of the
// sealed result a check reads, from this process with one connection per
// poller (RunRedisGet). Every check needs at least two such GETs (session
// and result) plus HTTP, two AES-GCM opens and a JSON answer, so the ratio
// says how much of what Redis alone gives this process the endpoint keeps.

func benchPollCapacity(ctx context.Context, env *env, o Settings) (*Result, error) {
	res := &Result{Params: map[string]any{
		"duration": o.B3Duration.String(), "clients": o.B3Clients, "sessions": o.B3Sessions,
	}}
	st, err := startStack(ctx, env, "b3", 0, env.cfg.Jobs.Workers.ResolutionProofing, nil)
	if err != nil {
		return res, err
	}
	defer st.close()
	ctx, cancel := context.WithTimeout(ctx, o.B3Duration+2*time.Minute)
	defer cancel()

	// People whose attempt is done: each bound to a verification (identity
	// step only, created through the store) through its link, submitted
	// and waited for, but the result not yet read (reading it would end
	// the attempt).
	setup := transport(0)
	defer setup.CloseIdleConnections()
	rp, err := newRelyingParty(ctx, st.cfg, st.queue, env.sealer, "")
	if err != nil {
		return res, err
	}
	people, err := boundPeople(ctx, st, rp.RelyingParty.ID, "b3", []idv.StepName{idv.StepIdentity}, o.B3Sessions, setup)
	if err != nil {
		return res, fmt.Errorf("preparing sessions: %w", err)
	}
	errs := make([]error, o.B3Sessions)
	var wg sync.WaitGroup
	for i, p := range people {
		wg.Go(func() {
			if err := p.Submit(ctx, verifyInfoPath, personForm(i)); err != nil {
				errs[i] = err
				return
			}
			s, err := p.Wait(ctx, verifyInfoPath)
			if err == nil && s != string(idv.StatusDone) {
				err = fmt.Errorf("attempt ended %q", s)
			}
			errs[i] = err
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
	res.note("the clients run in the same process as the server, on the same CPUs; in-progress attempts are not measured for rate (a check then long-polls; B2 covers it)")
	res.note("each session is bound to a verification (identity step only, created through the store before the window, entered through its link); a status check reads no PostgreSQL")
	if firstErr != nil {
		res.note("first error: %v", firstErr)
	}
	if nerr > 0 || notDone > 0 {
		return res, fmt.Errorf("%d errors and %d answers other than done", nerr, notDone)
	}

	// The baseline: plain GETs of a value the size of the sealed result
	// each check read, from this process with as many connections as there
	// were pollers, for as long. The stack is stopped first, so the
	// baseline has the CPUs the pollers and the server shared.
	sizes, err := valueSizes(ctx, env.redis, st.prefix+"result:*")
	if err != nil || len(sizes) == 0 {
		return res, fmt.Errorf("measuring the stored results: %d found: %v", len(sizes), err)
	}
	sessionSizes, _ := valueSizes(ctx, env.redis, st.prefix+"session:*")
	st.close()
	size := sizes[len(sizes)/2]
	gets, err := b3RedisGets(ctx, env, o, size)
	if err != nil {
		return res, err
	}
	res.baseline(Baseline{
		Name: "redis_get",
		What: fmt.Sprintf("plain Redis GETs of one %d-byte value (the median size of the sealed done results the checks read: %s bytes) "+
			"from %d goroutines of this process sharing one client with a pool of %d connections, for as long as the pollers ran (in runs of about a tenth of it, after one to warm up); "+
			"a check reads the session (%s bytes) and the result, two GETs",
			size, sizeRange(sizes), o.B3Clients, o.B3Clients, sizeRange(sessionSizes)),
		Params: map[string]any{"value_bytes": size, "conns": o.B3Clients, "gets": gets.Ops, "seconds": math.Round(gets.Elapsed.Seconds()*10) / 10},
		Value:  gets.PerSecond, Unit: "GETs/s", Goal: 0.25,
	}, rate)
	res.Target = &Target{Text: "status checks/s >= 0.25 x plain Redis GETs/s of the result's size (redis_get)",
		Met: rate >= 0.25*gets.PerSecond && nerr == 0 && notDone == 0}
	return res, nil
}

// b3RedisGets runs the GET baseline on a client of its own with a pool of
// one connection per poller, for at least B3's duration: a first short run
// warms the connections and is left out, then runs of about a tenth of the
// duration each (sized from the last run's rate) are summed.
func b3RedisGets(ctx context.Context, env *env, o Settings, size int) (RedisGetResult, error) {
	ropts := app.RedisOptions(env.cfg)
	ropts.PoolSize, ropts.MinIdleConns, ropts.MaxRetries = o.B3Clients, o.B3Clients, 0
	rc := goredis.NewUniversalClient(ropts)
	defer rc.Close()
	ro := RedisGetOptions{Prefix: env.redisPrefix("b3-redis-get"), ValueSize: size, Conns: o.B3Clients, Ops: 50 * o.B3Clients}
	last, err := RunRedisGet(ctx, rc, ro)
	if err != nil {
		return last, err
	}
	var total RedisGetResult
	for total.Elapsed < o.B3Duration {
		ro.Ops = max(10*o.B3Clients, int(last.PerSecond*o.B3Duration.Seconds()/10))
		if last, err = RunRedisGet(ctx, rc, ro); err != nil {
			return total, err
		}
		total.Ops += last.Ops
		total.Elapsed += last.Elapsed
	}
	total.PerSecond = float64(total.Ops) / total.Elapsed.Seconds()
	return total, nil
}

// valueSizes returns the sorted lengths of the values under the keys that
// match pattern.
func valueSizes(ctx context.Context, rc goredis.UniversalClient, pattern string) ([]int, error) {
	var sizes []int
	err := forEachKey(ctx, rc, pattern, func(ctx context.Context, node goredis.Cmdable, key string) error {
		n, err := node.StrLen(ctx, key).Result()
		sizes = append(sizes, int(n))
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(sizes)
	return sizes, nil
}

func sizeRange(sizes []int) string {
	switch {
	case len(sizes) == 0:
		return "unknown"
	case sizes[0] == sizes[len(sizes)-1]:
		return fmt.Sprint(sizes[0])
	}
	return fmt.Sprintf("%d to %d", sizes[0], sizes[len(sizes)-1])
}
