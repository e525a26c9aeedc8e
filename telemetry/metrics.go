package telemetry

import (
	"context"
	"net/http"
	"time"

	"github.com/idv-dev/idv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are idv's Prometheus metrics, and the idv.Observer every role
// reports to. Labels are kinds, outcomes, steps and limit names: never an id
// or a value a person typed.
type Metrics struct {
	reg *prometheus.Registry

	jobsFinished *prometheus.CounterVec   // kind, outcome
	jobRun       *prometheus.HistogramVec // kind
	jobQueued    *prometheus.HistogramVec // kind
	vendor       *prometheus.HistogramVec // vendor, outcome
	missing      *prometheus.CounterVec   // step
	read         *prometheus.CounterVec   // step, outcome
	limited      *prometheus.CounterVec   // limit
	rescued      *prometheus.CounterVec   // kind, state
	webhooks     *prometheus.CounterVec   // outcome
	slotsBusy    *prometheus.GaugeVec     // queue
	slots        *prometheus.GaugeVec     // queue
	shed         *prometheus.CounterVec   // vendor, reason
	breaker      *prometheus.GaugeVec     // vendor, state
}

// NewMetrics registers the metrics (and Go runtime and process metrics) in a
// registry of their own.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m := &Metrics{
		reg: reg,
		jobsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idv_jobs_finished_total",
			Help: "Jobs finished, by kind and outcome (success, failure, timed_out, exception, stale_discarded, arguments_unreadable, error)."}, []string{"kind", "outcome"}),
		jobRun: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "idv_job_run_seconds",
			Help: "Time a job ran, by kind.", Buckets: buckets}, []string{"kind"}),
		jobQueued: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "idv_job_queued_seconds",
			Help: "Time a job waited between enqueue and start, by kind.", Buckets: buckets}, []string{"kind"}),
		vendor: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "idv_vendor_request_seconds",
			Help: "Vendor calls by vendor and outcome (success, failure, timed_out, exception).", Buckets: buckets}, []string{"vendor", "outcome"}),
		missing: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idv_result_missing_total",
			Help: "Attempts whose result did not arrive within the 60 s window, by step."}, []string{"step"}),
		read: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idv_results_read_total",
			Help: "Done results read by the web tier, by step and outcome."}, []string{"step", "outcome"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idv_rate_limited_total",
			Help: "Submits refused by an attempt limit, by limit."}, []string{"limit"}),
		rescued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idv_jobs_rescued_total",
			Help: "Jobs of lost workers (no heartbeat) this worker made available again, discarded or cancelled, by kind and new state."}, []string{"kind", "state"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idv_webhook_deliveries_total",
			Help: "Webhook delivery attempts this worker made, by outcome (delivered, failed: tried again later, gave_up: no further attempt)."}, []string{"outcome"}),
		slotsBusy: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "idv_worker_slots_busy",
			Help: "Jobs running now in this worker process, by queue (sum over processes; compare with idv_worker_slots)."}, []string{"queue"}),
		slots: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "idv_worker_slots",
			Help: "Jobs this worker process runs at once, by queue (jobs.workers)."}, []string{"queue"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idv_vendor_shed_total",
			Help: "Vendor calls not made, answered as an exception at once, by vendor and reason (circuit_open, concurrency_limit)."}, []string{"vendor", "reason"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "idv_vendor_breaker",
			Help: "1 for the state (closed, open, half_open) this process last saw the vendor's circuit breaker in, 0 for the others."}, []string{"vendor", "state"}),
	}
	reg.MustRegister(m.jobsFinished, m.jobRun, m.jobQueued, m.vendor, m.missing, m.read, m.limited, m.rescued, m.webhooks,
		m.slotsBusy, m.slots, m.shed, m.breaker)
	return m
}

var _ idv.Observer = (*Metrics)(nil)

// JobFinished counts one finished job and its queued and run times.
func (m *Metrics) JobFinished(kind idv.JobKind, outcome string, queued, ran time.Duration) {
	m.jobsFinished.WithLabelValues(string(kind), outcome).Inc()
	m.jobRun.WithLabelValues(string(kind)).Observe(ran.Seconds())
	m.jobQueued.WithLabelValues(string(kind)).Observe(queued.Seconds())
}

// VendorCalled records one vendor call's duration.
func (m *Metrics) VendorCalled(vendor string, outcome idv.Outcome, took time.Duration) {
	m.vendor.WithLabelValues(vendor, string(outcome)).Observe(took.Seconds())
}

// JobRan is not measured: the job metrics come from JobFinished, which knows
// what a run meant, and time the same runs.
func (m *Metrics) JobRan(idv.JobRun) {}

// JobRescued counts one job of a lost worker rescued.
func (m *Metrics) JobRescued(kind, state string) { m.rescued.WithLabelValues(kind, state).Inc() }

// ResultRead counts one done result read by the web tier.
func (m *Metrics) ResultRead(step, outcome string) { m.read.WithLabelValues(step, outcome).Inc() }

// ResultMissing counts one attempt whose result did not arrive in time.
func (m *Metrics) ResultMissing(step string) { m.missing.WithLabelValues(step).Inc() }

// RateLimited counts one submit refused by the limit named limit.
func (m *Metrics) RateLimited(limit string) { m.limited.WithLabelValues(limit).Inc() }

// WebhookDelivered counts one webhook delivery attempt by its outcome.
func (m *Metrics) WebhookDelivered(outcome string) { m.webhooks.WithLabelValues(outcome).Inc() }

// WorkerSlots sets the queue's busy and configured slots.
func (m *Metrics) WorkerSlots(queue string, busy, slots int) {
	m.slotsBusy.WithLabelValues(queue).Set(float64(busy))
	m.slots.WithLabelValues(queue).Set(float64(slots))
}

// VendorShed counts one vendor call not made.
func (m *Metrics) VendorShed(vendor, reason string) { m.shed.WithLabelValues(vendor, reason).Inc() }

// BreakerStates are the states of idv_vendor_breaker.
var BreakerStates = []string{"closed", "open", "half_open"}

// VendorBreaker records the vendor's breaker state: 1 for state, 0 for the
// others, so a query for state="open" finds it however it moved.
func (m *Metrics) VendorBreaker(vendor, state string) {
	for _, s := range BreakerStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.breaker.WithLabelValues(vendor, s).Set(v)
	}
}

// QueueReading is one queue as QueueDepth's function reads it.
type QueueReading struct {
	// Jobs by state (available, running, retryable).
	Jobs map[string]int
	// OldestAvailable is how long the oldest available job has waited.
	OldestAvailable time.Duration
}

// QueueDepth registers a gauge of jobs per queue and state, and the age of
// each queue's oldest waiting job, read from depth at scrape time.
func (m *Metrics) QueueDepth(depth func(context.Context) (map[string]QueueReading, error)) {
	m.reg.MustRegister(&depthCollector{depth: depth,
		desc: prometheus.NewDesc("idv_queue_jobs",
			"Jobs in each queue by state (available, running, retryable).", []string{"queue", "state"}, nil),
		oldest: prometheus.NewDesc("idv_queue_oldest_available_seconds",
			"How long the oldest job waiting for a worker in each queue has waited (0: none waits); read from the database, the same in every worker: aggregate with max.", []string{"queue"}, nil)})
}

// Handler serves the metrics in the Prometheus text format. A collector
// that fails (the queue-depth query timing out on a busy database) costs
// its own series, not the scrape: the rest is served, and the failure
// counts in promhttp_metric_handler_errors_total{cause="gathering"}.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	}))
}

type depthCollector struct {
	depth        func(context.Context) (map[string]QueueReading, error)
	desc, oldest *prometheus.Desc
}

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc; ch <- c.oldest }

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d, err := c.depth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for queue, r := range d {
		for state, n := range r.Jobs {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), queue, state)
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, r.OldestAvailable.Seconds(), queue)
	}
}
