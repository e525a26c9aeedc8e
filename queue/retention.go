package queue

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// Retention is how long idv keeps the rows that grow with every proofing.
// Zero keeps them forever. The elected leader enqueues a retention job
// every RetentionConfig.Every; any worker runs it, deleting in batches so no
// statement holds locks for long.
type Retention struct {
	// Outcomes: idv_outcomes rows (one per finished attempt, PII-free),
	// by finished_at.
	Outcomes time.Duration `json:"outcomes"`
	// Verifications: finished verifications (verified, failed, canceled,
	// expired), by when they finished, with their steps and links. Open
	// verifications are never deleted (expiry finishes them first).
	Verifications time.Duration `json:"verifications"`
	// WebhookEvents: webhook events and their delivery attempts, by when
	// the event happened. Keep it longer than WebhookRetryHorizon, or
	// events still being retried go.
	WebhookEvents time.Duration `json:"webhook_events"`
}

// RetentionBatch is how many rows one delete statement removes.
const RetentionBatch = 1000

// RetentionDeleted counts the rows a retention pass deleted, by table.
type RetentionDeleted map[string]int64

// ApplyRetention deletes what r says is too old at now and returns how many
// rows of each table went. Workers run it periodically
// (WorkerConfig.Retention...); it is exported for maintenance and tests.
func (q *Queue) ApplyRetention(ctx context.Context, r Retention, now time.Time) (RetentionDeleted, error) {
	out := RetentionDeleted{}
	del := func(table, idCol, where string, cutoff time.Time) error {
		for {
			var n int64
			err := q.b.inTx(ctx, func(tx sqlTx) error {
				var err error
				n, err = tx.exec(ctx, `DELETE FROM {p}`+table+` WHERE `+idCol+` IN (SELECT `+idCol+` FROM {p}`+table+` WHERE `+where+` LIMIT $2)`,
					cutoff.UTC(), RetentionBatch)
				return err
			})
			if err != nil {
				return err
			}
			out[table] += n
			if n < RetentionBatch {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if r.Outcomes > 0 {
		if err := del("idv_outcomes", "result_id", `finished_at < $1`, now.Add(-r.Outcomes)); err != nil {
			return out, unavailable(err)
		}
	}
	if r.WebhookEvents > 0 {
		cutoff := now.Add(-r.WebhookEvents)
		// Attempts first: SQLite does not enforce the cascade.
		if err := del("idv_webhook_attempts", "event_id",
			`event_id IN (SELECT id FROM {p}idv_webhook_events WHERE created_at < $1)`, cutoff); err != nil {
			return out, unavailable(err)
		}
		if err := del("idv_webhook_events", "id", `created_at < $1`, cutoff); err != nil {
			return out, unavailable(err)
		}
	}
	if r.Verifications > 0 {
		cutoff := now.Add(-r.Verifications)
		finished := `SELECT id FROM {p}idv_verifications WHERE status NOT IN ('requires_input', 'processing') AND finished_at < $1`
		for _, child := range []struct{ table, col string }{
			{"idv_verification_steps", "verification_id"}, {"idv_verification_links", "verification_id"},
		} {
			if err := del(child.table, child.col, child.col+` IN (`+finished+`)`, cutoff); err != nil {
				return out, unavailable(err)
			}
		}
		if err := del("idv_verifications", "id", `status NOT IN ('requires_input', 'processing') AND finished_at < $1`, cutoff); err != nil {
			return out, unavailable(err)
		}
	}
	return out, nil
}

// retentionArgs is the periodic job that applies the retention. It runs on
// the default queue, enqueued by River's elected leader.
type retentionArgs struct {
	Retention Retention `json:"retention"`
}

func (retentionArgs) Kind() string { return "idv_retention" }

// retentionWorker applies the retention its job carries.
type retentionWorker struct {
	river.WorkerDefaults[retentionArgs]
	q *Queue
}

func (w *retentionWorker) Work(ctx context.Context, j *river.Job[retentionArgs]) error {
	deleted, err := w.q.ApplyRetention(ctx, j.Args.Retention, time.Now())
	for table, n := range deleted {
		if n > 0 {
			w.q.cfg.Logger.InfoContext(ctx, "retention deleted rows", "table", table, "deleted", n)
		}
	}
	return err
}

func (retentionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: river.QueueDefault, MaxAttempts: 1}
}
