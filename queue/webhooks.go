package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idv-dev/idv"

	"github.com/riverqueue/river"
)

// WebhookQueue is the queue of webhook deliveries, apart from the proofing
// queues so a slow relying party never delays a person's check.
const WebhookQueue = "webhooks"

// WebhookMaxAttempts bounds the deliveries of one event; with the
// sender's backoff (webhook.NextRetry) they span over three days. It is
// webhook.MaxAttempts (internal/app's tests check that they agree).
const WebhookMaxAttempts = 11

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

// WebhookDeliverer sends one event to its relying party's endpoint. The
// queue runs it from a delivery job and records each attempt.
type WebhookDeliverer interface {
	// Deliver sends ev (attempt counts from 1) and describes what the
	// endpoint answered. An error means try again later: after
	// NextRetry(attempt), up to WebhookMaxAttempts in all. A relying party
	// that no longer takes webhooks is not an error: Deliver returns
	// ErrNoWebhook.
	Deliver(ctx context.Context, ev idv.VerificationEvent, attempt int) (WebhookAttempt, error)
	// NextRetry is the wait after the given failed attempt.
	NextRetry(attempt int) time.Duration
}

// ErrNoWebhook is Deliver's answer for a relying party without a webhook
// URL (removed since the event was written, or disabled): the event is
// left undelivered and its job ends.
var ErrNoWebhook = errors.New("relying party takes no webhooks")

// WebhookAttempt is the record of one delivery attempt: never the body.
type WebhookAttempt struct {
	StatusCode int
	Latency    time.Duration
	// Error is a PII-free description of a failure (a timeout, a refused
	// connection, a non-2xx status), empty on success.
	Error string
}

// orderWait is how long a delivery waits when an earlier event of the same
// verification is still undelivered, so a relying party sees one
// verification's events in order.
const orderWait = 5 * time.Second

type deliveryWorker struct {
	river.WorkerDefaults[deliveryArgs]
	q        *Queue
	d        WebhookDeliverer
	observer idv.Observer // hears each attempt's outcome
}

func (w *deliveryWorker) NextRetry(j *river.Job[deliveryArgs]) time.Time {
	return time.Now().Add(w.d.NextRetry(j.Attempt))
}

func (w *deliveryWorker) Timeout(*river.Job[deliveryArgs]) time.Duration { return 30 * time.Second }

func (w *deliveryWorker) Work(ctx context.Context, j *river.Job[deliveryArgs]) error {
	ev, delivered, earlier, err := w.q.webhookEvent(ctx, j.Args.EventID)
	switch {
	case errors.Is(err, errNoRows):
		return river.JobCancel(fmt.Errorf("webhook event %s is gone", j.Args.EventID))
	case err != nil:
		return unavailable(err)
	case delivered:
		return nil // a replayed or duplicated job: the event was delivered
	case earlier:
		return river.JobSnooze(orderWait)
	}
	attempt, ok, err := w.q.claimEvent(ctx, ev.ID)
	switch {
	case err != nil:
		return unavailable(err)
	case !ok:
		// Delivered, or being delivered right now by the job of the event
		// before it (deliverHeld): look again later.
		return river.JobSnooze(orderWait)
	}
	at, derr := w.d.Deliver(ctx, ev, attempt)
	if errors.Is(derr, ErrNoWebhook) {
		w.observer.WebhookDelivered(idv.WebhookGaveUp)
		return river.JobCancel(derr)
	}
	switch {
	case derr == nil:
		w.observer.WebhookDelivered(idv.WebhookDelivered)
	case j.Attempt >= j.MaxAttempts:
		w.observer.WebhookDelivered(idv.WebhookGaveUp)
	default:
		w.observer.WebhookDelivered(idv.WebhookFailed)
	}
	if derr != nil && at.Error == "" {
		at.Error = derr.Error()
	}
	if err := w.q.recordDelivery(ctx, ev.ID, attempt, at, derr == nil); err != nil {
		return unavailable(err)
	}
	if derr == nil {
		w.deliverHeld(ctx, ev)
	}
	return derr
}

// maxChained bounds the held events one job delivers after its own.
const maxChained = 16

// deliverHeld delivers, right after ev, the events of the same verification
// that waited behind it (their own jobs snoozed, see orderWait), in order,
// until one fails or none is left: so a relying party hears of a
// verification's next change at once, not an orderWait later. A held
// event's own job then finds it delivered. Failures here are left to those
// jobs, with their retries.
func (w *deliveryWorker) deliverHeld(ctx context.Context, after idv.VerificationEvent) {
	for range maxChained {
		ev, err := w.q.nextHeldEvent(ctx, after)
		if err != nil {
			return
		}
		attempt, ok, err := w.q.claimEvent(ctx, ev.ID)
		if err != nil || !ok {
			return
		}
		at, derr := w.d.Deliver(ctx, ev, attempt)
		if derr != nil {
			_ = w.q.recordDelivery(ctx, ev.ID, attempt, at, false)
			return
		}
		w.observer.WebhookDelivered(idv.WebhookDelivered)
		if err := w.q.recordDelivery(ctx, ev.ID, attempt, at, true); err != nil {
			return
		}
		after = ev
	}
}

// nextHeldEvent is the earliest undelivered event of after's verification
// created after it; errNoRows when there is none.
func (q *Queue) nextHeldEvent(ctx context.Context, after idv.VerificationEvent) (ev idv.VerificationEvent, err error) {
	err = q.b.inTx(ctx, func(tx sqlTx) error {
		var status string
		var created dbTime
		if err := tx.queryRow(ctx, `SELECT id, verification_id, relying_party_id, type, status, created_at
			FROM {p}idv_webhook_events WHERE verification_id = $1 AND delivered_at IS NULL AND created_at > $2
			ORDER BY created_at LIMIT 1`, after.VerificationID, after.CreatedAt).
			Scan(&ev.ID, &ev.VerificationID, &ev.RelyingPartyID, &ev.Type, &status, &created); err != nil {
			return err
		}
		ev.Status, ev.CreatedAt = idv.VerificationStatus(status), created.Time
		return nil
	})
	return ev, err
}

// deliveryLease is how long a claimed event is left to its deliverer: past
// the sender's timeout, so a deliverer that died leaves it to the next.
const deliveryLease = 45 * time.Second

// claimEvent takes an undelivered event for one delivery attempt, unless
// another deliverer holds it: one guarded UPDATE, so the event's own job and
// the job of the event before it (deliverHeld) never both send it. It
// returns the attempt's number.
func (q *Queue) claimEvent(ctx context.Context, id string) (attempt int, ok bool, err error) {
	now := time.Now().UTC()
	err = q.b.inTx(ctx, func(tx sqlTx) error {
		return tx.queryRow(ctx, `UPDATE {p}idv_webhook_events SET attempts = attempts + 1, delivering_until = $2
			WHERE id = $1 AND delivered_at IS NULL AND (delivering_until IS NULL OR delivering_until < $3)
			RETURNING attempts`, id, now.Add(deliveryLease), now).Scan(&attempt)
	})
	if errors.Is(err, errNoRows) {
		return 0, false, nil
	}
	return attempt, err == nil, err
}

// webhookEvent reads an event and whether it was delivered, and whether an
// earlier event of the same verification is still undelivered.
func (q *Queue) webhookEvent(ctx context.Context, id string) (ev idv.VerificationEvent, delivered, earlier bool, err error) {
	err = q.b.inTx(ctx, func(tx sqlTx) error {
		var status string
		var created, done dbTime
		if err := tx.queryRow(ctx, `SELECT id, verification_id, relying_party_id, type, status, created_at, delivered_at
			FROM {p}idv_webhook_events WHERE id = $1`, id).
			Scan(&ev.ID, &ev.VerificationID, &ev.RelyingPartyID, &ev.Type, &status, &created, &done); err != nil {
			return err
		}
		ev.Status, ev.CreatedAt, delivered = idv.VerificationStatus(status), created.Time, !done.IsZero()
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM {p}idv_webhook_events
			WHERE verification_id = $1 AND delivered_at IS NULL AND created_at < $2`, ev.VerificationID, ev.CreatedAt).Scan(&n); err != nil {
			return err
		}
		earlier = n > 0
		return nil
	})
	return ev, delivered, earlier, err
}

func (q *Queue) recordDelivery(ctx context.Context, eventID string, attempt int, at WebhookAttempt, ok bool) error {
	now := time.Now().UTC()
	return q.b.inTx(ctx, func(tx sqlTx) error {
		if _, err := tx.exec(ctx, `INSERT INTO {p}idv_webhook_attempts (event_id, attempt, status_code, latency_ms, error, attempted_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (event_id, attempt) DO UPDATE SET status_code = EXCLUDED.status_code, latency_ms = EXCLUDED.latency_ms,
			error = EXCLUDED.error, attempted_at = EXCLUDED.attempted_at`,
			eventID, attempt, at.StatusCode, at.Latency.Milliseconds(), at.Error, now); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `UPDATE {p}idv_webhook_events SET delivering_until = NULL,
			delivered_at = CASE WHEN $2 THEN $3 ELSE delivered_at END WHERE id = $1`, eventID, ok, now)
		return err
	})
}

// ReplayWebhook delivers an event again (`idv webhooks replay`), with the
// same webhook-id, whether or not it was delivered before.
func (q *Queue) ReplayWebhook(ctx context.Context, eventID string) error {
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var vid string
		if err := tx.queryRow(ctx, `SELECT verification_id FROM {p}idv_webhook_events WHERE id = $1`, eventID).Scan(&vid); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE {p}idv_webhook_events SET delivered_at = NULL, delivering_until = NULL WHERE id = $1`, eventID); err != nil {
			return err
		}
		_, err := tx.insertJob(ctx, deliveryArgs{EventID: eventID, VerificationID: vid}, nil)
		return err
	})
	return storeError(err, "webhook event")
}

// expireArgs is the periodic job that expires unfinished verifications past
// their lifetime, run by the elected leader.
type expireArgs struct{}

func (expireArgs) Kind() string { return "idv_expire_verifications" }

type expireWorker struct {
	river.WorkerDefaults[expireArgs]
	q *Queue
}

func (w *expireWorker) Work(ctx context.Context, _ *river.Job[expireArgs]) error {
	for {
		n, err := w.q.ExpireVerifications(ctx, time.Now().UTC(), 500)
		if err != nil {
			return err
		}
		if n > 0 {
			w.q.cfg.Logger.InfoContext(ctx, "expired verifications", "count", n)
		}
		if n < 500 {
			return nil
		}
	}
}
