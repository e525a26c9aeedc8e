package queue

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/idv-dev/idv"
	"github.com/riverqueue/river"
)

// Verifications live beside the jobs, so that the state change, its
// webhook event and the event's delivery job commit in the transaction that
// enqueues a step's job or records its outcome: a transactional outbox, with
// nothing lost and nothing sent for a change that rolled back.

var _ idv.VerificationStore = (*Queue)(nil)

// NewVerification is what CreateVerification needs.
type NewVerification struct {
	Verification idv.Verification
	// IdempotencyKey and RequestHash make a repeated create answer the
	// first one: the same key with the same request hash returns the
	// existing verification; with another hash it is an ECONFLICT.
	IdempotencyKey string
	RequestHash    string
}

// CreateVerification stores a new verification with its steps (Status
// requires_input, every step pending) and reports whether it was created
// (false: an earlier create with the same idempotency key answered).
func (q *Queue) CreateVerification(ctx context.Context, n NewVerification) (idv.Verification, bool, error) {
	v := n.Verification
	if v.ID == "" || v.RelyingPartyID == "" || len(v.Steps) == 0 {
		return idv.Verification{}, false, idv.Errorf(idv.EINVALID, "a verification needs an id, a relying party and steps")
	}
	var out idv.Verification
	var created bool
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var err error
		out, created, err = createVerificationIn(ctx, tx, n)
		return err
	})
	if err != nil {
		return idv.Verification{}, false, storeError(err, "verification")
	}
	return out, created, nil
}

// createVerificationIn is CreateVerification inside tx.
func createVerificationIn(ctx context.Context, tx sqlTx, n NewVerification) (idv.Verification, bool, error) {
	v := n.Verification
	if n.IdempotencyKey != "" {
		var id, hash dbString
		err := tx.queryRow(ctx, `SELECT id, request_hash FROM {p}idv_verifications
			WHERE relying_party_id = $1 AND idempotency_key = $2`, v.RelyingPartyID, n.IdempotencyKey).Scan(&id, &hash)
		switch {
		case err == nil && hash.string != n.RequestHash:
			return idv.Verification{}, false, idv.Errorf(idv.ECONFLICT, "this Idempotency-Key was used with another request")
		case err == nil:
			out, err := loadVerification(ctx, tx, id.string, false)
			return out, false, err
		case !errors.Is(err, errNoRows):
			return idv.Verification{}, false, err
		}
	}
	_, err := tx.exec(ctx, `INSERT INTO {p}idv_verifications
		(id, relying_party_id, client_reference_id, status, return_url, metadata, idempotency_key, request_hash,
		 created_at, updated_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		v.ID, v.RelyingPartyID, v.ClientReferenceID, string(idv.VerificationRequiresInput), v.ReturnURL, v.Metadata,
		nullString(n.IdempotencyKey), nullString(n.RequestHash), v.CreatedAt, v.CreatedAt, v.ExpiresAt)
	if err != nil {
		return idv.Verification{}, false, err
	}
	for i, st := range v.Steps {
		if _, err := tx.exec(ctx, `INSERT INTO {p}idv_verification_steps
			(verification_id, step, position, status, attempts, max_attempts) VALUES ($1, $2, $3, $4, 0, $5)`,
			v.ID, string(st.Step), i, string(idv.StepPending), st.MaxAttempts); err != nil {
			return idv.Verification{}, false, err
		}
	}
	out, err := loadVerification(ctx, tx, v.ID, false)
	return out, true, err
}

// Verification implements idv.VerificationStore.
func (q *Queue) Verification(ctx context.Context, id string) (idv.Verification, error) {
	var v idv.Verification
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var err error
		v, err = loadVerification(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return idv.Verification{}, storeError(err, "verification")
	}
	return v, nil
}

// BeginAttempt implements idv.VerificationStore. The guarded UPDATE is the
// one statement that can start an attempt; the verification row's lock
// orders it with every other change of the same verification.
func (q *Queue) BeginAttempt(ctx context.Context, a idv.Attempt) (idv.StepRecord, error) {
	verificationID, step, cs, job := a.VerificationID, a.Step, a.CaptureSession, a.Job
	cs.VerificationID, job.VerificationID = verificationID, verificationID
	if err := validateSubmit(cs, job); err != nil {
		return idv.StepRecord{}, err
	}
	if step.JobKind() != job.Kind {
		return idv.StepRecord{}, idv.Errorf(idv.EINVALID, "a %s job cannot run the %s step", job.Kind, step)
	}
	var rec idv.StepRecord
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		v, hook, err := lockVerification(ctx, tx, verificationID)
		if err != nil {
			return err
		}
		if err := v.Ready(step); err != nil {
			return err
		}
		n, err := tx.exec(ctx, `UPDATE {p}idv_verification_steps
			SET attempts = attempts + 1, status = $3, attempt_result_id = $4, attempt_started_at = $5
			WHERE verification_id = $1 AND step = $2 AND attempt_result_id IS NULL
			  AND status = 'pending' AND attempts < max_attempts`,
			verificationID, string(step), string(idv.StepProcessing), cs.ResultID, cs.RequestedAt)
		if err != nil {
			return err
		}
		if n != 1 {
			return idv.Errorf(idv.ECONFLICT, "a %s check is already running", step)
		}
		var jobID any // NULL when the caller runs the job inline
		if !a.RunInline {
			id, err := tx.insertJob(ctx, argsFromJob(job), &river.InsertOpts{Queue: job.Kind.Queue(), MaxAttempts: q.cfg.MaxAttempts})
			if err != nil {
				return err
			}
			jobID = id
		}
		if _, err := tx.exec(ctx, `INSERT INTO {p}idv_capture_sessions
			(id, result_id, kind, requested_at, job_id, verification_id) VALUES ($1, $2, $3, $4, $5, $6)`,
			cs.ID, cs.ResultID, string(cs.Kind), cs.RequestedAt, jobID, verificationID); err != nil {
			return err
		}
		if a.Identity != nil {
			if _, err := tx.exec(ctx, `UPDATE {p}idv_verifications SET identity = $2 WHERE id = $1`, verificationID, a.Identity); err != nil {
				return err
			}
		}
		i := slices.IndexFunc(v.Steps, func(r idv.StepRecord) bool { return r.Step == step })
		v.Steps[i].Attempts++
		v.Steps[i].Status, v.Steps[i].InFlight, v.Steps[i].InFlightSince = idv.StepProcessing, cs.ResultID, cs.RequestedAt
		rec = v.Steps[i]
		return moveTo(ctx, tx, v, idv.DeriveStatus(v.Status, v.Steps), hook, cs.RequestedAt)
	})
	if err != nil {
		return idv.StepRecord{}, storeError(err, "verification")
	}
	return rec, nil
}

// AbandonAttempt implements idv.VerificationStore.
func (q *Queue) AbandonAttempt(ctx context.Context, verificationID string, step idv.StepName, resultID string) (idv.Verification, error) {
	return q.finishAttempt(ctx, verificationID, step, resultID, "", nil, time.Now())
}

// finishAttempt applies an attempt's end to its step, if resultID is still
// the attempt in flight (a late result of an abandoned attempt changes
// nothing), binds identity when given, and settles the verification's
// status. outcome "" means the attempt ended without a result. It runs in
// its own transaction; recordOutcome calls finishIn inside the outcome's.
func (q *Queue) finishAttempt(ctx context.Context, verificationID string, step idv.StepName, resultID string, outcome idv.Outcome, identity []byte, now time.Time) (idv.Verification, error) {
	var v idv.Verification
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var err error
		v, err = q.finishIn(ctx, tx, verificationID, step, resultID, outcome, identity, now)
		return err
	})
	if err != nil {
		return idv.Verification{}, storeError(err, "verification")
	}
	return v, nil
}

// finishIn is on the job path: its statements join the transaction that
// records the outcome row, so it keeps them few — one locking read of the
// verification with its steps and its relying party's webhook URL, the
// step's update, one update of the verification, and when the status
// moves, the event and its delivery job. The new state is computed here,
// from the locked rows, not read back.
//
// with are statements of the caller's (the outcome row) that go in the
// same round trip as the step's move.
func (q *Queue) finishIn(ctx context.Context, tx sqlTx, verificationID string, step idv.StepName, resultID string, outcome idv.Outcome, identity []byte, now time.Time, with ...stmt) (idv.Verification, error) {
	v, hook, err := lockVerification(ctx, tx, verificationID)
	if err != nil {
		return v, err
	}
	i := slices.IndexFunc(v.Steps, func(r idv.StepRecord) bool { return r.Step == step })
	if i < 0 || v.Steps[i].InFlight != resultID || resultID == "" || v.Status.Final() {
		return v, tx.execAll(ctx, with...) // not the attempt in flight: a late or repeated result
	}
	rec := idv.FinishStep(v.Steps[i], outcome)
	v.Steps[i] = rec
	v.LastError = idv.LastErrorCode(step, outcome)
	if outcome == "" {
		v.LastError = string(step) + "_missing"
	}
	// The identity is written only when this step binds it: an update
	// that leaves it alone does not send the sealed bytes again.
	bind := identity != nil && rec.Status == idv.StepPassed
	if bind {
		v.Identity = identity
	}
	prev := v.Status
	v.Status, v.UpdatedAt = idv.DeriveStatus(v.Status, v.Steps), now
	if v.Status.Final() {
		v.FinishedAt = now
	}
	stmts := append(with, stmt{`UPDATE {p}idv_verification_steps
			SET status = $3, attempts = $4, attempt_result_id = NULL, attempt_started_at = NULL, last_outcome = $5
			WHERE verification_id = $1 AND step = $2`,
		[]any{verificationID, string(step), string(rec.Status), rec.Attempts, string(rec.LastOutcome)}},
		verificationUpdate(v, bind))
	if v.Status == prev {
		return v, tx.execAll(ctx, stmts...)
	}
	return v, writeEvent(ctx, tx, v, v.Status, hook, now, stmts...)
}

// verificationUpdate writes v's status, last error, times and, when bind,
// its identity.
func verificationUpdate(v idv.Verification, bind bool) stmt {
	set := `status = $2, last_error = $3, updated_at = $4, finished_at = $5`
	args := []any{v.ID, string(v.Status), v.LastError, v.UpdatedAt, nullTime(v.FinishedAt)}
	if bind {
		set, args = set+`, identity = $6`, append(args, v.Identity)
	}
	return stmt{`UPDATE {p}idv_verifications SET ` + set + ` WHERE id = $1`, args}
}

// moveTo changes v's status to next unless v is final or already there,
// and then writes the event (and its delivery job when the relying party
// takes webhooks at hook) in the same transaction.
func moveTo(ctx context.Context, tx sqlTx, v idv.Verification, next idv.VerificationStatus, hook string, now time.Time) error {
	if v.Status.Final() || next == v.Status {
		return nil
	}
	n, err := tx.exec(ctx, `UPDATE {p}idv_verifications SET status = $2, updated_at = $3, finished_at = $4
		WHERE id = $1 AND status IN ('requires_input', 'processing')`,
		v.ID, string(next), now, nullTime(finishedAt(next, now)))
	if err != nil || n == 0 {
		return err
	}
	return writeEvent(ctx, tx, v, next, hook, now)
}

func finishedAt(s idv.VerificationStatus, now time.Time) time.Time {
	if s.Final() {
		return now
	}
	return time.Time{}
}

// writeEvent inserts the outbox row of a status change and, when the
// relying party has a webhook URL (hook), its delivery job.
// The statements in before go first, in the same round trip as the
// event's insert.
func writeEvent(ctx context.Context, tx sqlTx, v idv.Verification, status idv.VerificationStatus, hook string, now time.Time, before ...stmt) error {
	ev := idv.VerificationEvent{ID: "evt_" + idv.NewID(), Type: idv.EventType(status), VerificationID: v.ID,
		RelyingPartyID: v.RelyingPartyID, Status: status, CreatedAt: now}
	if err := tx.execAll(ctx, append(before, stmt{`INSERT INTO {p}idv_webhook_events (id, verification_id, relying_party_id, type, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, []any{ev.ID, ev.VerificationID, ev.RelyingPartyID, ev.Type, string(ev.Status), ev.CreatedAt}})...); err != nil {
		return err
	}
	if hook == "" {
		return nil
	}
	_, err := tx.insertJob(ctx, deliveryArgs{EventID: ev.ID, VerificationID: v.ID}, &river.InsertOpts{
		Queue: WebhookQueue, MaxAttempts: WebhookMaxAttempts})
	return err
}

// CancelVerification cancels an unfinished verification: its status becomes
// canceled (final), the attempt in flight ends (a late result is ignored),
// and the jobs of its attempts in flight are cancelled. It returns the
// verification and the capture ids whose uploaded images the caller
// deletes. A final verification is an ECONFLICT, except canceled itself.
func (q *Queue) CancelVerification(ctx context.Context, id string, now time.Time) (idv.Verification, []string, error) {
	var v idv.Verification
	var captures []string
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var err error
		var hook string
		if v, hook, err = lockVerification(ctx, tx, id); err != nil {
			return err
		}
		switch {
		case v.Status == idv.VerificationCanceled:
			return nil
		case v.Status.Final():
			return idv.Errorf(idv.ECONFLICT, "this verification is already %s", v.Status)
		}
		if captures, err = captureIDs(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE {p}idv_verification_steps
			SET status = CASE WHEN status = 'processing' THEN 'pending' ELSE status END,
			    attempt_result_id = NULL, attempt_started_at = NULL
			WHERE verification_id = $1`, id); err != nil {
			return err
		}
		if err := moveTo(ctx, tx, v, idv.VerificationCanceled, hook, now); err != nil {
			return err
		}
		v, err = loadVerification(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return idv.Verification{}, nil, storeError(err, "verification")
	}
	// Jobs not yet worked are cancelled; a running one finishes, and its
	// result is ignored (the attempt is no longer in flight).
	if err := q.cancelJobs(ctx, id); err != nil {
		return v, captures, err
	}
	return v, captures, nil
}

// captureIDs are the capture ids of a verification's document attempts.
func captureIDs(ctx context.Context, tx sqlTx, id string) ([]string, error) {
	rows, err := tx.query(ctx, `SELECT id FROM {p}idv_capture_sessions WHERE verification_id = $1 AND kind = $2`, id, string(idv.JobDocument))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ExpireVerifications moves unfinished verifications whose lifetime ended
// before now to expired, each with its event, and returns how many moved.
// At most limit go per call, so one call's transaction stays short.
func (q *Queue) ExpireVerifications(ctx context.Context, now time.Time, limit int) (int, error) {
	var ids []string
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		rows, err := tx.query(ctx, `SELECT id FROM {p}idv_verifications
			WHERE finished_at IS NULL AND expires_at < $1 ORDER BY expires_at LIMIT $2`, now, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, unavailable(err)
	}
	moved := 0
	for _, id := range ids {
		err := q.b.inTx(ctx, func(tx sqlTx) error {
			v, hook, err := lockVerification(ctx, tx, id)
			if err != nil || v.Status.Final() || !v.ExpiresAt.Before(now) {
				return err
			}
			if _, err := tx.exec(ctx, `UPDATE {p}idv_verification_steps SET attempt_result_id = NULL, attempt_started_at = NULL,
				status = CASE WHEN status = 'processing' THEN 'pending' ELSE status END WHERE verification_id = $1`, id); err != nil {
				return err
			}
			moved++
			return moveTo(ctx, tx, v, idv.VerificationExpired, hook, now)
		})
		if err != nil {
			return moved, unavailable(err)
		}
	}
	return moved, nil
}

// lockVerification reads a verification with its steps and its relying
// party's webhook URL in one statement, locking the verification's row
// until tx ends (SQLite's transactions already exclude each other).
func lockVerification(ctx context.Context, tx sqlTx, id string) (v idv.Verification, hook string, err error) {
	rows, err := tx.query(ctx, `SELECT `+verificationColumns+`, rp.webhook_url, s.step, s.status, s.attempts, s.max_attempts,
		s.attempt_result_id, s.attempt_started_at, s.last_outcome
		FROM {p}idv_verifications v
		JOIN {p}idv_relying_parties rp ON rp.id = v.relying_party_id
		LEFT JOIN {p}idv_verification_steps s ON s.verification_id = v.id
		WHERE v.id = $1 ORDER BY s.position`+tx.forUpdate(), id)
	if err != nil {
		return v, "", err
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var status, stepName, stepStatus, outcome dbString
		var r idv.StepRecord
		var attempts, maxAttempts *int64
		var inFlight dbString
		var created, updated, expires, finished, redacted, since dbTime
		var hookURL dbString
		if err := rows.Scan(&v.ID, &v.RelyingPartyID, &v.ClientReferenceID, &status, &v.ReturnURL, &v.LastError,
			&v.Identity, &v.Metadata, &created, &updated, &expires, &finished, &redacted,
			&hookURL, &stepName, &stepStatus, &attempts, &maxAttempts, &inFlight, &since, &outcome); err != nil {
			return v, "", err
		}
		found, hook = true, hookURL.string
		v.Status = idv.VerificationStatus(status.string)
		v.CreatedAt, v.UpdatedAt, v.ExpiresAt, v.FinishedAt, v.RedactedAt = created.Time, updated.Time, expires.Time, finished.Time, redacted.Time
		if stepName.string == "" {
			continue
		}
		r.Step, r.Status, r.InFlight, r.InFlightSince, r.LastOutcome = idv.StepName(stepName.string), idv.StepStatus(stepStatus.string), inFlight.string, since.Time, idv.Outcome(outcome.string)
		if attempts != nil && maxAttempts != nil {
			r.Attempts, r.MaxAttempts = int(*attempts), int(*maxAttempts)
		}
		v.Steps = append(v.Steps, r)
	}
	if err := rows.Err(); err != nil {
		return v, "", err
	}
	if !found {
		return v, "", errNoRows
	}
	return v, hook, nil
}

// loadVerification reads a verification and its steps in flow order; with
// lock, the verification row stays locked until tx ends.
func loadVerification(ctx context.Context, tx sqlTx, id string, lock bool) (idv.Verification, error) {
	suffix := ""
	if lock {
		suffix = tx.forUpdate()
	}
	v, err := scanVerification(tx.queryRow(ctx, `SELECT `+verificationColumns+`
		FROM {p}idv_verifications v WHERE v.id = $1`+suffix, id))
	if err != nil {
		return v, err
	}
	rows, err := tx.query(ctx, `SELECT `+stepColumns+`
		FROM {p}idv_verification_steps WHERE verification_id = $1 ORDER BY position`, id)
	if err != nil {
		return v, err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanStep(rows)
		if err != nil {
			return v, err
		}
		v.Steps = append(v.Steps, r)
	}
	return v, rows.Err()
}

// verificationColumns are the columns scanVerification reads, of the
// verification row aliased v.
const verificationColumns = `v.id, v.relying_party_id, v.client_reference_id, v.status, v.return_url, v.last_error,
	v.identity, v.metadata, v.created_at, v.updated_at, v.expires_at, v.finished_at, v.redacted_at`

func scanVerification(r rowScanner) (idv.Verification, error) {
	var v idv.Verification
	var status string
	var created, updated, expires, finished, redacted dbTime
	err := r.Scan(&v.ID, &v.RelyingPartyID, &v.ClientReferenceID, &status, &v.ReturnURL, &v.LastError,
		&v.Identity, &v.Metadata, &created, &updated, &expires, &finished, &redacted)
	if err != nil {
		return v, err
	}
	v.Status = idv.VerificationStatus(status)
	v.CreatedAt, v.UpdatedAt, v.ExpiresAt, v.FinishedAt, v.RedactedAt = created.Time, updated.Time, expires.Time, finished.Time, redacted.Time
	return v, nil
}

// stepColumns are the columns scanStep reads.
const stepColumns = `step, status, attempts, max_attempts, attempt_result_id, attempt_started_at, last_outcome`

func scanStep(row rowScanner) (idv.StepRecord, error) {
	var r idv.StepRecord
	var step, st, outcome string
	var inFlight dbString
	var since dbTime
	if err := row.Scan(&step, &st, &r.Attempts, &r.MaxAttempts, &inFlight, &since, &outcome); err != nil {
		return r, err
	}
	r.Step, r.Status, r.InFlight, r.InFlightSince, r.LastOutcome = idv.StepName(step), idv.StepStatus(st), inFlight.string, since.Time, idv.Outcome(outcome)
	return r, nil
}

// storeError gives a store error its idv code: not found, a coded error
// from inside the transaction, or unavailable.
func storeError(err error, what string) error {
	var e *idv.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errNoRows):
		return idv.Errorf(idv.ENOTFOUND, "no such %s", what)
	case errors.As(err, &e):
		return err
	}
	return unavailable(err)
}
