package queue

import (
	"context"
	"time"

	"github.com/idv-dev/idv"
)

// The counts behind the gauges workers export (telemetry): read from the
// database, so every process that asks gets the same answer whichever
// process made the change.

// VerificationCounts counts the verifications in each status. A status
// with none is absent.
func (q *Queue) VerificationCounts(ctx context.Context) (map[idv.VerificationStatus]int, error) {
	out := map[idv.VerificationStatus]int{}
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		rows, err := tx.query(ctx, `SELECT status, count(*) FROM {p}idv_verifications GROUP BY status`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var status string
			var n int
			if err := rows.Scan(&status, &n); err != nil {
				return err
			}
			out[idv.VerificationStatus(status)] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

// WebhookRetryHorizon is how long after an event its deliveries may still
// be retried: the sender's schedule (about three days) with a margin.
// Older undelivered events are no longer being tried (given up, or their
// relying party refused for good); `idv webhooks replay` sends them again.
const WebhookRetryHorizon = 4 * 24 * time.Hour

// WebhookBacklog counts the webhook events that are still undelivered
// olderThan after they happened and are still being tried: fewer than
// WebhookMaxAttempts attempts, younger than WebhookRetryHorizon, for a
// relying party that takes webhooks and is enabled. Events of a relying
// party without a webhook URL are never sent and do not count.
func (q *Queue) WebhookBacklog(ctx context.Context, olderThan time.Duration, now time.Time) (int, error) {
	var n int
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		return tx.queryRow(ctx, `SELECT count(*) FROM {p}idv_webhook_events e
			JOIN {p}idv_relying_parties rp ON rp.id = e.relying_party_id
			WHERE e.delivered_at IS NULL AND e.created_at < $1 AND e.created_at > $2 AND e.attempts < $3
			AND rp.webhook_url <> '' AND rp.disabled_at IS NULL`,
			now.Add(-olderThan).UTC(), now.Add(-WebhookRetryHorizon).UTC(), WebhookMaxAttempts).Scan(&n)
	})
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}
