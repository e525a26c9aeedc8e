package telemetry

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Gauges read from the database. Every process that exports them reports
// the same database-wide value whichever process made the change, so they
// are right however many processes run: aggregate them with max, not sum.
// Workers (and `idv dev`) export them; the web tier does not, so scrapes
// of many web processes put no load on the database.

// StoreGaugeInterval is the shortest time between two reads of one gauge:
// scrapes in between get the last value.
const StoreGaugeInterval = 15 * time.Second

// VerificationCounts registers idv_verifications, the verifications in
// each status, read by count.
func (m *Metrics) VerificationCounts(count func(context.Context) (map[string]int, error)) {
	desc := prometheus.NewDesc("idv_verifications",
		"Verifications in each status (requires_input, processing, verified, failed, canceled, expired), counted in the database.", []string{"status"}, nil)
	m.reg.MustRegister(&storeGauge{desc: desc, read: func(ctx context.Context) (map[string]float64, error) {
		counts, err := count(ctx)
		out := make(map[string]float64, len(counts))
		for s, n := range counts {
			out[s] = float64(n)
		}
		return out, err
	}})
}

// WebhookBacklog registers idv_webhook_backlog_events, the webhook events
// still undelivered olderThan after they happened and still being retried,
// read by count.
func (m *Metrics) WebhookBacklog(olderThan time.Duration, count func(context.Context) (int, error)) {
	desc := prometheus.NewDesc("idv_webhook_backlog_events",
		"Webhook events undelivered for more than "+olderThan.String()+" that are still being retried, counted in the database.", nil, nil)
	m.reg.MustRegister(&storeGauge{desc: desc, read: func(ctx context.Context) (map[string]float64, error) {
		n, err := count(ctx)
		return map[string]float64{"": float64(n)}, err
	}})
}

// storeGauge is a gauge read by read, at most every StoreGaugeInterval.
// read returns a value per label value ("" for a gauge without a label).
// While read fails the gauge has no series.
type storeGauge struct {
	desc *prometheus.Desc
	read func(context.Context) (map[string]float64, error)

	mu     sync.Mutex
	at     time.Time
	values map[string]float64
}

func (g *storeGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *storeGauge) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.values == nil || time.Since(g.at) >= StoreGaugeInterval {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		values, err := g.read(ctx)
		cancel()
		if err != nil {
			// No series rather than a failed scrape: the process's other
			// metrics still arrive, and a zero would read as "no backlog".
			g.values = nil
			return
		}
		g.values, g.at = values, time.Now()
	}
	for label, v := range g.values {
		if label == "" {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v)
		} else {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, label)
		}
	}
}
