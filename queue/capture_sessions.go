package queue

import (
	"context"
	"time"

	"github.com/idv-dev/idv"
	"github.com/riverqueue/river"
)

// Capture sessions (idv_capture_sessions): one row per attempt, naming the
// result id its job writes to and the job. The statements are the
// dialect-neutral ones of sqltx.go, one set for PostgreSQL and SQLite.

// submit inserts the job and then the capture session row (with the job's
// id) in one transaction.
func (q *Queue) submit(ctx context.Context, cs idv.CaptureSession, args jobArgs, opts *river.InsertOpts) error {
	return q.b.inTx(ctx, func(tx sqlTx) error {
		jobID, err := tx.insertJob(ctx, args, opts)
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO {p}idv_capture_sessions (id, result_id, kind, requested_at, job_id)
			VALUES ($1, $2, $3, $4, $5)`, cs.ID, cs.ResultID, string(cs.Kind), cs.RequestedAt, jobID)
		return err
	})
}

// record inserts a capture session whose job runs inline (no job row).
func (q *Queue) record(ctx context.Context, cs idv.CaptureSession) error {
	return q.b.inTx(ctx, func(tx sqlTx) error {
		_, err := tx.exec(ctx, `INSERT INTO {p}idv_capture_sessions (id, result_id, kind, requested_at)
			VALUES ($1, $2, $3, $4)`, cs.ID, cs.ResultID, string(cs.Kind), cs.RequestedAt)
		return err
	})
}

// captureSession returns errNoRows when there is no such row.
func (q *Queue) captureSession(ctx context.Context, id string) (idv.CaptureSession, error) {
	var cs idv.CaptureSession
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var kind string
		var requested dbTime
		if err := tx.queryRow(ctx, `SELECT id, result_id, kind, requested_at FROM {p}idv_capture_sessions WHERE id = $1`, id).
			Scan(&cs.ID, &cs.ResultID, &kind, &requested); err != nil {
			return err
		}
		cs.Kind, cs.RequestedAt = idv.JobKind(kind), requested.Time
		return nil
	})
	return cs, err
}

func (q *Queue) pruneCaptureSessions(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var err error
		n, err = tx.exec(ctx, `DELETE FROM {p}idv_capture_sessions WHERE requested_at < $1`, before)
		return err
	})
	return n, err
}

// ping reads idv's table, so a database that answers but was never
// migrated is not healthy.
func (q *Queue) ping(ctx context.Context) error {
	return q.b.inTx(ctx, func(tx sqlTx) error {
		_, err := tx.exec(ctx, `SELECT 1 FROM {p}idv_capture_sessions LIMIT 1`)
		return err
	})
}
