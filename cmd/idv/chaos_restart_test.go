package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idv-dev/idv/internal/testenv"
)

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
	rp := newRP(t, env, base, stepsWithoutDocument)

	var mu sync.Mutex
	next := 0
	// newAttempt is a person sent by the relying party (servers up) and
	// their form; err when their verification or link failed.
	newAttempt := func() (*person, url.Values, string, error) {
		mu.Lock()
		form, want := chaosPerson(2, next)
		next++
		mu.Unlock()
		p, err := rp.tryPerson(t)
		return p, form, want, err
	}
	// completeStep runs people through verify_info, and the phone step
	// after a success, all at once; every one must reach their own outcome.
	// Right after a restart a request can still get the "try again" page
	// for a moment (seen about once in a dozen runs after Redis came back,
	// with /api/health already green): a person who gets it tries again, as
	// the page tells them to, at most three times, a second apart. Retries
	// are counted in the log; the outcome must be their own.
	var retries atomic.Int32
	// The relying party, too, may get a 503 right after a restart; it
	// tries again the same way.
	attemptRetrying := func() (*person, url.Values, string, error) {
		p, form, want, err := newAttempt()
		for try := 0; err != nil && try < 3; try++ {
			retries.Add(1)
			time.Sleep(time.Second) // the relying party trying again
			p, form, want, err = newAttempt()
		}
		return p, form, want, err
	}
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
				p, form, want, err := attemptRetrying()
				if err != nil {
					errs[i] = "start: " + err.Error()
					return
				}
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
	// cut into them. Each may see their own outcome, a 503, an empty form,
	// the start page (a lost session) or missing: never someone else's
	// outcome.
	var flights sync.WaitGroup
	var flightMu sync.Mutex
	seen := map[string]int{}
	inFlight := func(phase string, n int) {
		var submitted sync.WaitGroup
		submitted.Add(n)
		for range n {
			flights.Go(func() {
				p, form, want, err := newAttempt()
				if err != nil {
					submitted.Done()
					t.Errorf("%s: a person in flight could not start: %v", phase, err)
					return
				}
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
				case seenUnavailable, seenForm, seenLost, seenMissing:
					seen[phase+": "+got]++
				default:
					t.Errorf("%s: a person in flight saw %q, want %q or no outcome", phase, got, want)
				}
			})
		}
		submitted.Wait()
	}
	// outage checks what people see while a server is down: fresh, a
	// person sent before the outage who submits during it; returning, if
	// not nil, a person whose session is in the server that is down.
	outage := func(name, check string, fresh *person, form url.Values, returning *person) {
		t.Helper()
		body := waitHealth(t, base+"/api/health", http.StatusServiceUnavailable, 15*time.Second)
		if !strings.Contains(body, `"`+check+`":"unavailable"`) {
			t.Errorf("%s down: /api/health says %s", name, body)
		}
		if got := submit(fresh, "/verify/verify_info", form); got != seenUnavailable {
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
	regular, form, want, err := newAttempt()
	if err != nil {
		t.Fatal(err)
	}
	if s := submit(regular, "/verify/verify_info", form); s != "" {
		t.Fatal(s)
	}
	if got := awaitOutcome(regular, "/verify/verify_info", time.Now().Add(60*time.Second)); got != want {
		t.Fatalf("before the outages: %q, want %q", got, want)
	}

	// startBefore is a person whose relying party sent them before an
	// outage, who submits during it.
	startBefore := func() (*person, url.Values) {
		p, form, _, err := newAttempt()
		if err != nil {
			t.Fatal(err)
		}
		return p, form
	}
	fresh, freshForm := startBefore()
	inFlight("redis", 8)
	rs.Stop(t)
	outage("Redis", "redis", fresh, freshForm, regular)
	rs.Start(t)
	waitHealth(t, base+"/api/health", http.StatusOK, 30*time.Second)
	completeStep("after Redis restart", 9)

	fresh, freshForm = startBefore()
	inFlight("postgres", 8)
	pg.Stop(t)
	outage("PostgreSQL", "database", fresh, freshForm, nil)
	pg.Start(t)
	waitHealth(t, base+"/api/health", http.StatusOK, 30*time.Second)
	completeStep("after PostgreSQL restart", 9)

	flights.Wait()
	t.Logf("people in flight during the outages: %v; submits and creates retried after a 503 once servers were back: %d", seen, retries.Load())
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
