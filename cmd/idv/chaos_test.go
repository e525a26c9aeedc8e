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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv/internal/testenv/flow"
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
	// empty form (their attempt was lost); the start page (their session,
	// kept in Redis, was lost, and with it the verification it was bound
	// to); a 503 page.
	seenMissing     = flow.Missing
	seenForm        = flow.Form
	seenLost        = flow.Lost
	seenUnavailable = "unavailable"
)

// unavailableText is the start of the 503 page's message.
const unavailableText = "We can&#39;t reach one of our systems right now"

// chaosPerson gives person i of a test a first name, the page it must lead
// to, and an SSN and ID number no other person of the test uses (their
// attempt limits count per SSN and per ID number).
func chaosPerson(test, i int) (url.Values, string) {
	names := []struct{ first, page string }{
		{"Xylocanary", pagePhone}, {"Badcanary", pageWarning}, {"Failcanary", pageException},
	}
	n := names[i%len(names)]
	return canaryForm(n.first, fmt.Sprintf("900-%02d-%04d", test, i), "22201", canaryIDNumber(test, i)), n.page
}

// try is person.do for other goroutines and outages: a transport error is
// returned, not fatal.
func try(p *person, method, path string, form url.Values) (int, string, string, error) {
	r, err := p.Do(context.Background(), method, path, form)
	return r.Code, r.Location, string(r.Body), err
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
		got, err := p.Outcome(context.Background(), path)
		if err == nil {
			return got
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("no outcome by the deadline (%v)", err)
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
