package main

// Fault tests: bounded chaos against the real binary on loopback. A worker
// SIGKILLed mid-job, Redis and PostgreSQL restarted under load, a vendor
// that hangs. Each is bounded in count and time; the PostgreSQL and Redis
// that get restarted are private to the test (internal/testenv), never the
// shared servers other tests use.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idv-dev/idv/internal/testenv"
)

// Outcome pages of the verify_info step, and the first names that lead to
// them: people with different triggers see different pages, so a result
// delivered to the wrong session shows up as a wrong page.
const (
	pagePhone     = "/verify/phone"
	pageWarning   = "/verify/errors/warning?step=verify_info"
	pageException = "/verify/errors/exception?step=verify_info"
	pageTimeout   = "/verify/errors/timeout?step=verify_info"
	pageResult    = "/verify/result"
	// What a person sees instead of an outcome: no result within 60 s; an
	// empty form (their session, kept in Redis, was lost); a 503 page.
	seenMissing     = "missing"
	seenForm        = "form"
	seenUnavailable = "unavailable"
)

// unavailableText is the start of the 503 page's message.
const unavailableText = "We can&#39;t reach one of our systems right now"

// chaosPerson gives person i of a test a first name, the page it must lead
// to, and an SSN no other person of the test uses (the SSN attempt limit
// counts per SSN).
func chaosPerson(test, i int) (url.Values, string) {
	names := []struct{ first, page string }{
		{"Xylocanary", pagePhone}, {"Badcanary", pageWarning}, {"Failcanary", pageException},
	}
	n := names[i%len(names)]
	return canaryForm(n.first, fmt.Sprintf("900-%02d-%04d", test, i), "22201", "CANARYID77"), n.page
}

// try is person.do for other goroutines and outages: a transport error is
// returned, not fatal.
func try(p *person, method, path string, form url.Values) (int, string, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, p.base+path, body)
	if err != nil {
		return 0, "", "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := p.c.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b), nil
}

// submit posts a step's form. It returns "" when the attempt was enqueued
// (303 to the waiting page), seenUnavailable for a 503 with the clear
// message, and a description of anything else.
func submit(p *person, path string, form url.Values) string {
	code, loc, body, err := try(p, "POST", path, form)
	switch {
	case err != nil:
		return "error: " + err.Error()
	case code == http.StatusSeeOther && loc == path:
		return ""
	case code == http.StatusServiceUnavailable && strings.Contains(body, unavailableText):
		return seenUnavailable
	}
	return fmt.Sprintf("submit answered %d %q %.200s", code, loc, body)
}

// awaitOutcome waits as the waiting page does (long polls of the status
// endpoint; on errors it asks again a little later) until the attempt leaves
// in_progress or deadline passes, then reads the step's page: it returns the
// outcome page's path, seenMissing, seenForm, or what went wrong.
func awaitOutcome(p *person, path string, deadline time.Time) string {
	for {
		code, _, body, err := try(p, "GET", path+"/status", nil)
		if err == nil && code == http.StatusOK {
			var st struct{ Status string }
			if json.Unmarshal([]byte(body), &st) == nil && st.Status != "in_progress" {
				break
			}
			if time.Now().Before(deadline) {
				continue // the long poll ended with the attempt in progress
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond) // polling through an outage, as the page's script does
	}
	for {
		code, loc, body, err := try(p, "GET", path, nil)
		switch {
		case err != nil:
		case code == http.StatusSeeOther:
			return loc
		case code == http.StatusOK && strings.Contains(body, "taking longer than usual"):
			return seenMissing
		case code == http.StatusOK && !strings.Contains(body, `http-equiv="refresh"`):
			return seenForm
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("no outcome by the deadline (%d %v %.200s)", code, err, body)
		}
		time.Sleep(250 * time.Millisecond) // polling through an outage
	}
}

// waitHealth polls url until it answers want, and returns the last body.
func waitHealth(t *testing.T, url string, want int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		res, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == want {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %d within %s (last: %v)", url, want, within, err)
		}
		time.Sleep(100 * time.Millisecond) // polling a health endpoint
	}
}

// metric returns the value of one sample line of Prometheus text (0 if absent).
func metric(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

var jobFinishedRE = regexp.MustCompile(`"msg":"job finished".*?"job_id":(\d+)`)

// finishedJobs counts "job finished" log lines per job id in procs' output.
func finishedJobs(procs ...*proc) map[int64]int {
	n := map[int64]int{}
	for _, p := range procs {
		for _, m := range jobFinishedRE.FindAllStringSubmatch(p.out.String(), -1) {
			id, _ := strconv.ParseInt(m[1], 10, 64)
			n[id]++
		}
	}
	return n
}

// TestChaosKillWorkerMidJob SIGKILLs a worker process with a person's job
// running, 20 times. A second worker stays alive throughout and, by the
// liveness rescue (queue/liveness.go), re-runs each lost job once the dead
// worker's heartbeat is jobs.heartbeat_timeout (10 s) old. Every attempt ends
// as the outcome the person's own input implies, or as missing; no job stays
// running; none is delivered twice.
func TestChaosKillWorkerMidJob(t *testing.T) {
	t.Parallel()
	const rounds = 20
	pe := setupProduction(t)
	// Slow vendors, so a job is mid-run (in a vendor call) when it is
	// killed; a generous vendor timeout, so the latency is not a timeout.
	slow := start(t, []string{"IDV_VENDORS_SIMULATOR_LATENCY=1500ms"}, "vendors", "vendors", "--addr", "127.0.0.1:0")
	env := slices.Concat(pe.env, []string{"IDV_VENDORS_BASE_URL=" + slow.waitURL(t), "IDV_VENDORS_RESOLUTION_TIMEOUT=10s"})
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", "127.0.0.1:0")
	survivor := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	base := web.waitURL(t)
	survivor.waitURL(t)
	t.Cleanup(func() { _ = survivor.cmd.Process.Signal(syscall.SIGCONT) })

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	db, err := pgx.Connect(ctx, pe.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())

	type round struct {
		want, got        string
		jobID            int64
		killed, resolved time.Time
	}
	rs := make([]round, rounds)
	var killedProcs []*proc
	var people sync.WaitGroup
	// A round whose job another worker took (seen about once in 60 rounds)
	// kills nothing mid-job: it is run again, a bounded number of times, so
	// that every one of the rounds kills the worker holding the job.
	const maxRedos = 5
	redos := 0
rounds:
	for i := 0; i < rounds; i++ {
		r := &rs[i]
		form, want := chaosPerson(1, i)
		r.want = want
		w := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
		w.waitURL(t)
		killedProcs = append(killedProcs, w)
		holder := fmt.Sprintf("%%\\_%d\\_%%", w.cmd.Process.Pid) // River client id: host_PID_random
		p := newPerson(t, base)
		// The survivor pauses while the job is handed out, so that this
		// round's worker is the one that takes it.
		if err := survivor.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		if s := submit(p, "/verify/verify_info", form); s != "" {
			t.Fatalf("round %d: %s", i, s)
		}
		// Rounds submit one at a time, so the newest job is this person's.
		if err := db.QueryRow(ctx, `SELECT max(id) FROM river_job WHERE kind = 'resolution_proofing'`).Scan(&r.jobID); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; {
			var state string
			var mine bool
			if err := db.QueryRow(ctx, `SELECT state::text, coalesce(attempted_by[array_length(attempted_by, 1)] LIKE $2, false)
				FROM river_job WHERE id = $1`, r.jobID, holder).Scan(&state, &mine); err != nil {
				t.Fatal(err)
			}
			if state == "running" && mine {
				break
			}
			if state == "running" && redos < maxRedos {
				redos++
				t.Logf("round %d: job %d was taken by another worker; running the round again", i, r.jobID)
				_ = w.cmd.Process.Kill()
				_ = w.cmd.Wait()
				if err := survivor.cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
				i--
				continue rounds
			}
			if state != "available" || time.Now().After(deadline) {
				t.Fatalf("round %d: job %d is %s (held by this round's worker: %v), want it running on that worker", i, r.jobID, state, mine)
			}
			time.Sleep(10 * time.Millisecond) // polling the jobs table
		}
		if err := w.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = w.cmd.Wait()
		r.killed = time.Now()
		if err := survivor.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		people.Go(func() {
			r.got = awaitOutcome(p, "/verify/verify_info", r.killed.Add(90*time.Second))
			r.resolved = time.Now()
		})
	}
	people.Wait()

	// No job stays running: every one ends completed (re-run) or discarded.
	var open int
	for deadline := time.Now().Add(60 * time.Second); ; {
		if err := db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'resolution_proofing'
			AND state NOT IN ('completed', 'discarded', 'cancelled')`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the jobs table
	}
	if open != 0 {
		t.Errorf("%d jobs still not finished a minute after the people were answered", open)
	}

	finished := finishedJobs(append(killedProcs, survivor)...)
	var inWindow, liveness, stuckRescuer int
	var waits []time.Duration
	for i, r := range rs {
		var state string
		var attempt int
		var lost, stuck bool
		if err := db.QueryRow(ctx, `SELECT state::text, attempt, errors::text LIKE '%worker lost (no heartbeat)%',
			errors::text LIKE '%Stuck job rescued%' FROM river_job WHERE id = $1`, r.jobID).Scan(&state, &attempt, &lost, &stuck); err != nil {
			t.Fatal(err)
		}
		if lost {
			liveness++
		}
		if stuck {
			stuckRescuer++
		}
		switch r.got {
		case r.want:
			inWindow++
			waits = append(waits, r.resolved.Sub(r.killed))
		case seenMissing:
		default:
			t.Errorf("round %d: the person saw %q, want %q or %q", i, r.got, r.want, seenMissing)
		}
		if state != "completed" && state != "discarded" {
			t.Errorf("round %d: job %d ended %s", i, r.jobID, state)
		}
		if finished[r.jobID] > 1 {
			t.Errorf("round %d: job %d finished %d times", i, r.jobID, finished[r.jobID])
		}
		if state == "completed" && finished[r.jobID] != 1 {
			t.Errorf("round %d: job %d completed but logged %d finished runs", i, r.jobID, finished[r.jobID])
		}
	}
	sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
	summary := fmt.Sprintf("%d/%d killed attempts (%.0f%%) were re-run and answered inside the 60 s window; %d rescued by heartbeat, %d by River's rescuer",
		inWindow, rounds, 100*float64(inWindow)/rounds, liveness, stuckRescuer)
	if len(waits) > 0 {
		summary += fmt.Sprintf("; kill to outcome page: median %s, max %s",
			waits[len(waits)/2].Round(100*time.Millisecond), waits[len(waits)-1].Round(100*time.Millisecond))
	}
	t.Log(summary)
	if liveness == 0 {
		t.Error("no job was rescued by the liveness rescue")
	}
}

// TestChaosRestartRedisAndPostgres stops the private Redis, then the private
// PostgreSQL, of a web tier and a worker with people in flight. While one is
// down, pages and /api/health answer 503 with a clear message; after it is
// back, new people complete the step. Nobody ever sees an outcome other than
// the one their own input implies.
func TestChaosRestartRedisAndPostgres(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	rs := testenv.StartRedisServer(t)
	pg := testenv.StartPostgresCluster(t)
	// Vendors answer after a second, so the attempts in flight when a
	// server stops have jobs mid-run.
	slow := start(t, []string{"IDV_VENDORS_SIMULATOR_LATENCY=1s"}, "vendors", "vendors", "--addr", "127.0.0.1:0")
	env := slices.Concat(pe.env, []string{"IDV_DATABASE_URL=" + pg.URL, "IDV_DATABASE_SCHEMA=", "IDV_REDIS_ADDR=" + rs.Addr,
		"IDV_VENDORS_BASE_URL=" + slow.waitURL(t), "IDV_VENDORS_RESOLUTION_TIMEOUT=10s", "IDV_VENDORS_PHONE_TIMEOUT=10s"})
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", "127.0.0.1:0")
	worker := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	base := web.waitURL(t)
	workerURL := worker.waitURL(t)

	var mu sync.Mutex
	next := 0
	newAttempt := func() (*person, url.Values, string) {
		mu.Lock()
		defer mu.Unlock()
		form, want := chaosPerson(2, next)
		next++
		return newPerson(t, base), form, want
	}
	// completeStep runs people through verify_info, and the phone step
	// after a success, all at once; every one must reach their own outcome.
	// Right after a restart a request can still get the "try again" page
	// for a moment (seen about once in a dozen runs after Redis came back,
	// with /api/health already green): a person who gets it tries again, as
	// the page tells them to, at most three times, a second apart. Retries
	// are counted in the log; the outcome must be their own.
	var retries atomic.Int32
	submitRetrying := func(p *person, path string, form url.Values) string {
		s := submit(p, path, form)
		for try := 0; s == seenUnavailable && try < 3; try++ {
			retries.Add(1)
			time.Sleep(time.Second) // a person reading the page, then trying again
			s = submit(p, path, form)
		}
		return s
	}
	completeStep := func(phase string, n int) {
		t.Helper()
		errs := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				p, form, want := newAttempt()
				if s := submitRetrying(p, "/verify/verify_info", form); s != "" {
					errs[i] = s
					return
				}
				got := awaitOutcome(p, "/verify/verify_info", time.Now().Add(60*time.Second))
				if got != want {
					errs[i] = fmt.Sprintf("verify_info went to %q, want %q", got, want)
					return
				}
				if want != pagePhone {
					return
				}
				if s := submitRetrying(p, "/verify/phone", url.Values{"phone": {"7035550199"}}); s != "" {
					errs[i] = "phone: " + s
					return
				}
				if got := awaitOutcome(p, "/verify/phone", time.Now().Add(60*time.Second)); got != pageResult {
					errs[i] = fmt.Sprintf("phone went to %q, want %q", got, pageResult)
				}
			})
		}
		wg.Wait()
		for i, e := range errs {
			if e != "" {
				t.Errorf("%s: person %d: %s", phase, i, e)
			}
		}
	}
	// inFlight submits n people's attempts and returns once they are
	// enqueued (their jobs then run for a second or more); an outage will
	// cut into them. Each may see their own outcome, a 503, an empty form (a
	// lost session) or missing: never someone else's outcome.
	var flights sync.WaitGroup
	var flightMu sync.Mutex
	seen := map[string]int{}
	inFlight := func(phase string, n int) {
		var submitted sync.WaitGroup
		submitted.Add(n)
		for range n {
			flights.Go(func() {
				p, form, want := newAttempt()
				got := submit(p, "/verify/verify_info", form)
				submitted.Done()
				if got == "" {
					got = awaitOutcome(p, "/verify/verify_info", time.Now().Add(90*time.Second))
				}
				flightMu.Lock()
				defer flightMu.Unlock()
				switch got {
				case want:
					seen[phase+": own outcome"]++
				case seenUnavailable, seenForm, seenMissing:
					seen[phase+": "+got]++
				default:
					t.Errorf("%s: a person in flight saw %q, want %q or no outcome", phase, got, want)
				}
			})
		}
		submitted.Wait()
	}
	// outage checks what people see while a server is down; returning, if
	// not nil, is a person whose session is in the server that is down.
	outage := func(name, check string, returning *person) {
		t.Helper()
		body := waitHealth(t, base+"/api/health", http.StatusServiceUnavailable, 15*time.Second)
		if !strings.Contains(body, `"`+check+`":"unavailable"`) {
			t.Errorf("%s down: /api/health says %s", name, body)
		}
		p, form, _ := newAttempt()
		if got := submit(p, "/verify/verify_info", form); got != seenUnavailable {
			t.Errorf("%s down: a new submit: %s, want a 503 page with the clear message", name, got)
		}
		if returning == nil {
			return
		}
		code, _, page, err := try(returning, "GET", "/verify/verify_info", nil)
		if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(page, unavailableText) {
			t.Errorf("%s down: a returning person's page: %d %v %.200s, want a 503 page with the clear message", name, code, err, page)
		}
	}

	completeStep("before", 12)
	// A returning person: their session (in Redis) holds a finished
	// attempt.
	regular, form, want := newAttempt()
	if s := submit(regular, "/verify/verify_info", form); s != "" {
		t.Fatal(s)
	}
	if got := awaitOutcome(regular, "/verify/verify_info", time.Now().Add(60*time.Second)); got != want {
		t.Fatalf("before the outages: %q, want %q", got, want)
	}

	inFlight("redis", 8)
	rs.Stop(t)
	outage("Redis", "redis", regular)
	rs.Start(t)
	waitHealth(t, base+"/api/health", http.StatusOK, 30*time.Second)
	completeStep("after Redis restart", 9)

	inFlight("postgres", 8)
	pg.Stop(t)
	outage("PostgreSQL", "database", nil)
	pg.Start(t)
	waitHealth(t, base+"/api/health", http.StatusOK, 30*time.Second)
	completeStep("after PostgreSQL restart", 9)

	flights.Wait()
	t.Logf("people in flight during the outages: %v; submits retried after a 503 once servers were back: %d", seen, retries.Load())
	if t.Failed() {
		for _, line := range strings.Split(web.out.String(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`) {
				t.Log(line)
			}
		}
	}
	// The worker took no outage as a reason to stop: its health is green.
	waitHealth(t, workerURL+"/api/health/jobs", http.StatusOK, 30*time.Second)
}

// TestChaosHangingVendor sends many people whose identity-resolution call
// hangs (first name "Time") to a worker with two resolution slots, among
// people with ordinary inputs. The vendor timeout frees each slot, so
// nobody's attempt is starved: the hanging ones get the timeout page, the
// others their result, and the worker's metrics count the timeouts.
func TestChaosHangingVendor(t *testing.T) {
	t.Parallel()
	const hanging, ordinary = 16, 8
	pe := setupProduction(t)
	env := slices.Concat(pe.env, []string{"IDV_JOBS_WORKERS_RESOLUTION_PROOFING=2", "IDV_VENDORS_RESOLUTION_TIMEOUT=1s"})
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", "127.0.0.1:0")
	worker := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	base := web.waitURL(t)
	workerURL := worker.waitURL(t)

	got := make([]string, hanging+ordinary)
	want := make([]string, len(got))
	took := make([]time.Duration, len(got))
	var wg sync.WaitGroup
	for i := range got {
		var form url.Values
		if i%3 == 2 {
			form, want[i] = chaosPerson(4, i/3)
		} else {
			form, want[i] = canaryForm("Timecanary", fmt.Sprintf("900-03-%04d", i), "22201", "CANARYID77"), pageTimeout
		}
		wg.Go(func() {
			p := newPerson(t, base)
			began := time.Now()
			if s := submit(p, "/verify/verify_info", form); s != "" {
				got[i] = s
				return
			}
			got[i] = awaitOutcome(p, "/verify/verify_info", time.Now().Add(90*time.Second))
			took[i] = time.Since(began)
		})
	}
	wg.Wait()
	var hung, others []time.Duration
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("person %d went to %q, want %q", i, got[i], want[i])
		}
		if want[i] == pageTimeout {
			hung = append(hung, took[i])
		} else {
			others = append(others, took[i])
		}
	}
	if len(hung) != hanging || len(others) != ordinary {
		t.Fatalf("%d hanging and %d ordinary people, want %d and %d", len(hung), len(others), hanging, ordinary)
	}
	// The slots are free again: one more ordinary person gets a result.
	form, wantLast := chaosPerson(4, 3*ordinary)
	p := newPerson(t, base)
	if s := submit(p, "/verify/verify_info", form); s != "" {
		t.Fatal(s)
	}
	if last := awaitOutcome(p, "/verify/verify_info", time.Now().Add(60*time.Second)); last != wantLast {
		t.Errorf("after the hanging vendor: %q, want %q", last, wantLast)
	}

	res, err := http.Get(workerURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	metrics := string(b)
	timedOut := metric(metrics, `idv_vendor_request_seconds_count{outcome="timed_out",vendor="resolution_sim"}`)
	jobsTimedOut := metric(metrics, `idv_jobs_finished_total{kind="resolution_proofing",outcome="timed_out"}`)
	if timedOut < hanging || jobsTimedOut != hanging {
		t.Errorf("worker metrics: %v timed-out resolution requests, %v timed-out jobs; want at least %d and %d",
			timedOut, jobsTimedOut, hanging, hanging)
	}
	slices.Sort(hung)
	slices.Sort(others)
	t.Logf("%d hanging people got the timeout page (median %s, max %s after submit); %d others got their result (median %s, max %s); %v vendor timeouts counted",
		hanging, hung[len(hung)/2].Round(10*time.Millisecond), hung[len(hung)-1].Round(10*time.Millisecond),
		ordinary, others[len(others)/2].Round(10*time.Millisecond), others[len(others)-1].Round(10*time.Millisecond), timedOut)
}
