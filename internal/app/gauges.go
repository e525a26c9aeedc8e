package app

import (
	"context"
	"time"
)

// WebhookBacklogAge is how long an event may stay undelivered before the
// idv_webhook_backlog_events gauge counts it: by then it failed four
// attempts (the sender retries after 5 s, 1 min and 5 min).
const WebhookBacklogAge = 15 * time.Minute

// storeGauges registers the gauges read from the database on c's metrics:
// verifications by status and the webhook backlog. Workers and `idv dev`
// export them (see telemetry.StoreGaugeInterval).
func (c *Components) storeGauges() {
	q := c.Queue
	c.Metrics.VerificationCounts(func(ctx context.Context) (map[string]int, error) {
		counts, err := q.VerificationCounts(ctx)
		out := make(map[string]int, len(counts))
		for s, n := range counts {
			out[string(s)] = n
		}
		return out, err
	})
	c.Metrics.WebhookBacklog(WebhookBacklogAge, func(ctx context.Context) (int, error) {
		return q.WebhookBacklog(ctx, WebhookBacklogAge, time.Now())
	})
}
