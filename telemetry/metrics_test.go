package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

// Each event becomes the series the alert rules (deploy/alerts.yml) and the
// dashboards read, under the same names and labels.
func TestEventsBecomeTheirSeries(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	var o idv.Observer = m
	o.JobFinished(idv.JobResolution, "success", 2*time.Second, 3*time.Second)
	o.VendorCalled("state_id", idv.OutcomeTimedOut, 1500*time.Millisecond)
	o.JobRescued("address_proofing", "available")
	o.ResultRead("verify_info", "failure")
	o.ResultMissing("phone")
	o.RateLimited("ssn")
	o.RateLimited("ssn")
	o.WebhookDelivered(idv.WebhookFailed)
	o.WebhookDelivered(idv.WebhookDelivered)
	o.WorkerSlots("document_proofing", 3, 5)
	o.WorkerSlots("document_proofing", 4, 5)
	o.VendorShed("document_sim", idv.VendorShedOpen)
	o.VendorBreaker("document_sim", "half_open")
	o.VendorBreaker("document_sim", "open")

	got := scrape(m)
	for _, want := range []string{
		`idv_jobs_finished_total{kind="resolution_proofing",outcome="success"} 1`,
		`idv_job_run_seconds_sum{kind="resolution_proofing"} 3`,
		`idv_job_run_seconds_count{kind="resolution_proofing"} 1`,
		`idv_job_queued_seconds_sum{kind="resolution_proofing"} 2`,
		`idv_job_queued_seconds_count{kind="resolution_proofing"} 1`,
		`idv_vendor_request_seconds_sum{outcome="timed_out",vendor="state_id"} 1.5`,
		`idv_vendor_request_seconds_count{outcome="timed_out",vendor="state_id"} 1`,
		`idv_jobs_rescued_total{kind="address_proofing",state="available"} 1`,
		`idv_results_read_total{outcome="failure",step="verify_info"} 1`,
		`idv_result_missing_total{step="phone"} 1`,
		`idv_rate_limited_total{limit="ssn"} 2`,
		`idv_webhook_deliveries_total{outcome="failed"} 1`,
		`idv_webhook_deliveries_total{outcome="delivered"} 1`,
		`idv_worker_slots_busy{queue="document_proofing"} 4`,
		`idv_worker_slots{queue="document_proofing"} 5`,
		`idv_vendor_shed_total{reason="circuit_open",vendor="document_sim"} 1`,
		`idv_vendor_breaker{state="open",vendor="document_sim"} 1`,
		`idv_vendor_breaker{state="half_open",vendor="document_sim"} 0`,
		`idv_vendor_breaker{state="closed",vendor="document_sim"} 0`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A queue's run is no series of its own: the job series count each run once,
// from JobFinished.
func TestJobRanIsNotCounted(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	m.JobRan(idv.JobRun{Kind: idv.JobResolution, Queue: "resolution_proofing", Attempt: 1, Final: true})
	if got := scrape(m); strings.Contains(got, "\nidv_") {
		t.Errorf("a run made idv series:\n%s", got)
	}
}

// The queue depth gauges come from one read per scrape: jobs per state and
// the oldest waiting job's age per queue.
func TestQueueDepth(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	m.QueueDepth(func(context.Context) (map[string]QueueReading, error) {
		return map[string]QueueReading{"document_proofing": {Jobs: map[string]int{"available": 7, "running": 5}, OldestAvailable: 2500 * time.Millisecond}}, nil
	})
	got := scrape(m)
	for _, want := range []string{
		`idv_queue_jobs{queue="document_proofing",state="available"} 7`,
		`idv_queue_jobs{queue="document_proofing",state="running"} 5`,
		`idv_queue_oldest_available_seconds{queue="document_proofing"} 2.5`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func scrape(m *Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

// A collector that fails (the queue-depth query timing out on a busy
// database) costs its own series, not the scrape: the rest is served with
// 200, and the failure is counted.
func TestFailingCollectorKeepsTheScrape(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	m.QueueDepth(func(context.Context) (map[string]QueueReading, error) {
		return nil, errors.New("canceling statement due to statement timeout")
	})
	m.RateLimited("ssn")
	for i := range 2 { // a second scrape reuses the handler's own series
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != 200 {
			t.Fatalf("scrape %d: HTTP %d, want 200", i, rec.Code)
		}
		for _, want := range []string{`idv_rate_limited_total{limit="ssn"} 1`, `promhttp_metric_handler_errors_total{cause="gathering"} ` + strconv.Itoa(i)} {
			if !strings.Contains(string(body), want+"\n") {
				t.Errorf("scrape %d lacks %s", i, want)
			}
		}
		if strings.Contains(string(body), "idv_queue_jobs{") {
			t.Errorf("scrape %d has queue depth series from a failed read", i)
		}
	}
}
