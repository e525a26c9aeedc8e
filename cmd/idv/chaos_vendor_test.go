package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestChaosHangingVendor sends many people whose identity-resolution call
// hangs (first name "Time") to a worker with two resolution slots, among
// people with ordinary inputs. The vendor timeout frees each slot, so
// nobody's attempt is starved: the hanging ones get the timeout page, the
// others their result, and the worker's metrics count the timeouts.
func TestChaosHangingVendor(t *testing.T) {
	t.Parallel()
	const hanging, ordinary = 16, 8
	pe := setupProduction(t)
	// The breaker is off: two in three calls hang here, which would open it
	// (TestChaosVendorBreaker covers that), and this test is about slots.
	env := slices.Concat(pe.env, []string{"IDV_JOBS_WORKERS_RESOLUTION_PROOFING=2", "IDV_VENDORS_RESOLUTION_TIMEOUT=1s",
		"IDV_VENDORS_BREAKER_FAILURES=0"})
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", "127.0.0.1:0")
	worker := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	base := web.waitURL(t)
	workerURL := worker.waitURL(t)
	rp := newRP(t, env, base, stepsWithoutDocument)

	got := make([]string, hanging+ordinary)
	want := make([]string, len(got))
	took := make([]time.Duration, len(got))
	var wg sync.WaitGroup
	for i := range got {
		var form url.Values
		if i%3 == 2 {
			form, want[i] = chaosPerson(4, i/3)
		} else {
			form, want[i] = canaryForm("Timecanary", fmt.Sprintf("900-03-%04d", i), "22201", canaryIDNumber(3, i)), pageTimeout
		}
		wg.Go(func() {
			p, err := rp.tryPerson(t)
			if err != nil {
				got[i] = err.Error()
				return
			}
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
	p := rp.person(t)
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

// TestChaosVendorBreaker makes the resolution vendor time out for five
// people in a row (first name "Time"): the breaker opens, so the next
// person, with ordinary inputs, is told at once that something went wrong
// (exception) instead of waiting for a timeout, and the worker counts the
// shed call. After the cool-down the next person's call is the probe; it
// succeeds, the breaker closes and people get their results again.
func TestChaosVendorBreaker(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	env := slices.Concat(pe.env, []string{"IDV_VENDORS_RESOLUTION_TIMEOUT=1s", "IDV_VENDORS_BREAKER_FAILURES=5",
		"IDV_VENDORS_BREAKER_COOLDOWN=10s"}) // time enough for the next person to reach the vendor on a loaded machine
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", "127.0.0.1:0")
	worker := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	base := web.waitURL(t)
	workerURL := worker.waitURL(t)
	rp := newRP(t, env, base, stepsWithoutDocument)

	for i := range 5 {
		form := canaryForm("Timecanary", fmt.Sprintf("900-05-%04d", i), "22201", canaryIDNumber(5, i))
		if got := rp.person(t).verify(form); got != pageTimeout {
			t.Fatalf("hanging person %d went to %q, want %q", i, got, pageTimeout)
		}
	}
	form, _ := chaosPerson(5, 99) // Xylocanary: phone, when the vendor is asked
	began := time.Now()
	if got := rp.person(t).verify(form); got != pageException {
		t.Fatalf("while the breaker is open: %q, want %q", got, pageException)
	}
	shedIn := time.Since(began)

	// After the cool-down the probe goes through and closes the breaker.
	var got string
	deadline := time.Now().Add(60 * time.Second)
	for i := 102; time.Now().Before(deadline); i += 3 { // Xylocanary each
		form, want := chaosPerson(5, i)
		if got = rp.person(t).verify(form); got == want {
			break
		}
		if got != pageException {
			t.Fatalf("after the cool-down: %q, want %q or, while still open, %q", got, want, pageException)
		}
		time.Sleep(500 * time.Millisecond) // waiting out the cool-down
	}
	if got != pagePhone {
		t.Fatalf("the breaker did not close: last person went to %q", got)
	}

	res, err := http.Get(workerURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	metrics := string(b)
	if n := metric(metrics, `idv_vendor_shed_total{reason="circuit_open",vendor="resolution_sim"}`); n < 1 {
		t.Errorf("shed calls counted: %v, want at least 1", n)
	}
	if v := metric(metrics, `idv_vendor_breaker{state="closed",vendor="resolution_sim"}`); v != 1 {
		t.Errorf("breaker state closed = %v, want 1 (closed by the probe)", v)
	}
	t.Logf("the person after five timeouts saw the exception page %s after submitting", shedIn.Round(10*time.Millisecond))
}
