package queue

import (
	"context"
	"errors"

	"github.com/riverqueue/river"
)

// WebhookQueue is the queue of webhook deliveries, apart from the proofing
// queues so a slow relying party never delays a person's check.
const WebhookQueue = "webhooks"

// WebhookMaxAttempts bounds the deliveries of one event; with the
// sender's backoff they span about three days.
const WebhookMaxAttempts = 20

// deliveryArgs is the job that delivers one webhook event. The event row
// (idv_webhook_events) holds everything else; no PII is in either.
type deliveryArgs struct {
	EventID        string `json:"event_id"`
	VerificationID string `json:"verification_id"`
}

func (deliveryArgs) Kind() string { return "idv_webhook_delivery" }

func (deliveryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: WebhookQueue, MaxAttempts: WebhookMaxAttempts}
}

// cancelJobs cancels the jobs of a verification's attempts that have not
// run yet.
func (q *Queue) cancelJobs(ctx context.Context, verificationID string) error {
	var ids []int64
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		rows, err := tx.query(ctx, `SELECT job_id FROM {p}idv_capture_sessions WHERE verification_id = $1 AND job_id IS NOT NULL`, verificationID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return unavailable(err)
	}
	for _, id := range ids {
		if err := q.b.cancelJob(ctx, id); err != nil && !errors.Is(err, river.ErrNotFound) {
			return unavailable(err)
		}
	}
	return nil
}
