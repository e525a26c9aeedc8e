package telemetry

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The gauges read from the database show what the count returns, read it
// at most every StoreGaugeInterval, and a failed read leaves the gauge out
// (not a zero) while the other series are still scraped.
func TestStoreGauges(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	var reads atomic.Int32
	m.VerificationCounts(func(context.Context) (map[string]int, error) {
		reads.Add(1)
		return map[string]int{"processing": 3, "verified": 7}, nil
	})
	m.WebhookBacklog(10*time.Minute, func(context.Context) (int, error) { return 2, nil })
	for range 2 {
		got := scrape(m)
		for _, want := range []string{
			`idv_verifications{status="processing"} 3`,
			`idv_verifications{status="verified"} 7`,
			`idv_webhook_backlog_events 2`,
		} {
			if !strings.Contains(got, want+"\n") {
				t.Errorf("metrics lack %s", want)
			}
		}
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("%d reads for two scrapes within %v, want 1", n, StoreGaugeInterval)
	}

	failing := NewMetrics()
	failing.WebhookBacklog(time.Minute, func(context.Context) (int, error) { return 0, errors.New("database down") })
	failing.RateLimited("ssn")
	if got := scrape(failing); strings.Contains(got, "idv_webhook_backlog_events") || !strings.Contains(got, `idv_rate_limited_total{limit="ssn"} 1`) {
		t.Errorf("a failed read: want no backlog series and the other series, got\n%s", got)
	}
}
