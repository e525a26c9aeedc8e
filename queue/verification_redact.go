package queue

import (
	"context"
	"time"

	"github.com/idv-dev/idv"
)

// RedactVerification erases what a final verification keeps of the person
// and of the relying party's data now: the sealed identity and metadata
// become NULL and redacted_at is set (once: a repeat keeps the first time).
// It returns the verification and the capture ids of its document attempts,
// whose images the caller deletes (every call, so a delete that failed
// before is tried again). An unfinished verification is an ECONFLICT: it is
// canceled first, so no running attempt binds an identity after the
// erasure.
func (q *Queue) RedactVerification(ctx context.Context, id string, now time.Time) (idv.Verification, []string, error) {
	var v idv.Verification
	var captures []string
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var err error
		if v, err = loadVerification(ctx, tx, id, true); err != nil {
			return err
		}
		if !v.Status.Final() {
			return idv.Errorf(idv.ECONFLICT, "this verification is %s: cancel it before redacting", v.Status)
		}
		if captures, err = captureIDs(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE {p}idv_verifications
			SET identity = NULL, metadata = NULL, redacted_at = COALESCE(redacted_at, $2),
			    updated_at = CASE WHEN redacted_at IS NULL THEN $2 ELSE updated_at END
			WHERE id = $1`, id, now); err != nil {
			return err
		}
		v, err = loadVerification(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return idv.Verification{}, nil, storeError(err, "verification")
	}
	return v, captures, nil
}
