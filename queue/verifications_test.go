package queue

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

// backends opens a migrated queue of each kind, for tests that must hold on
// both: PostgreSQL (production) and SQLite (`idv dev`).
var backends = []struct {
	name string
	open func(t *testing.T) *Queue
}{
	{"postgres", func(t *testing.T) *Queue { return newPGEnv(t).open(t, Config{}) }},
	{"sqlite", func(t *testing.T) *Queue {
		q := openSQLite(t, Config{})
		if err := q.Migrate(ctx(t)); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return q
	}},
}

// count runs a count query written for sqlTx ({p}, $N) on either backend.
func (q *Queue) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := q.b.inTx(ctx(t), func(tx sqlTx) error { return tx.queryRow(ctx(t), query, args...).Scan(&n) }); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func eachBackend(t *testing.T, fn func(t *testing.T, q *Queue)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.open(t))
		})
	}
}

// testRP creates a relying party, with a webhook URL when hook is set.
func testRP(t *testing.T, q *Queue, hook bool) idv.RelyingParty {
	t.Helper()
	_, hash := idv.NewToken(idv.APIKeyPrefix)
	rp := idv.RelyingParty{ID: "rp_" + idv.NewID(), Name: "Test Service", APIKeyHash: hash, APIKeyHint: "idv_sk_ab",
		ReturnURLs: []string{"https://rp.example/back"}, Outputs: []string{"name"}, CreatedAt: time.Now().UTC()}
	if hook {
		rp.WebhookURL, rp.WebhookSecret = "https://rp.example/hooks", []byte("sealed-secret")
	}
	if err := q.CreateRelyingParty(ctx(t), rp); err != nil {
		t.Fatalf("CreateRelyingParty: %v", err)
	}
	return rp
}

func testVerification(t *testing.T, q *Queue, rp idv.RelyingParty, steps ...idv.StepName) idv.Verification {
	t.Helper()
	if len(steps) == 0 {
		steps = idv.StepNames
	}
	now := time.Now().UTC()
	v := idv.Verification{ID: "vrf_" + idv.NewID(), RelyingPartyID: rp.ID, ClientReferenceID: "user-1",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	for _, s := range steps {
		v.Steps = append(v.Steps, idv.StepRecord{Step: s, MaxAttempts: 3})
	}
	got, created, err := q.CreateVerification(ctx(t), NewVerification{Verification: v})
	if err != nil || !created {
		t.Fatalf("CreateVerification: %v (created %v)", err, created)
	}
	return got
}

func begin(t *testing.T, q *Queue, id string, step idv.StepName) (idv.CaptureSession, error) {
	t.Helper()
	cs, job := newAttempt(step.JobKind())
	_, err := q.BeginAttempt(ctx(t), idv.Attempt{VerificationID: id, Step: step, CaptureSession: cs, Job: job})
	return cs, err
}

func mustBegin(t *testing.T, q *Queue, id string, step idv.StepName) idv.CaptureSession {
	t.Helper()
	cs, err := begin(t, q, id, step)
	if err != nil {
		t.Fatalf("BeginAttempt %s: %v", step, err)
	}
	return cs
}

func finish(t *testing.T, q *Queue, verificationID string, cs idv.CaptureSession, o idv.Outcome, identity []byte) {
	t.Helper()
	err := q.RecordOutcome(ctx(t), idv.OutcomeRecord{ResultID: cs.ResultID, Kind: cs.Kind, TraceID: "t", Outcome: o,
		FinishedAt: time.Now().UTC(), VerificationID: verificationID, Identity: identity})
	if err != nil {
		t.Fatalf("RecordOutcome: %v", err)
	}
}

func getV(t *testing.T, q *Queue, id string) idv.Verification {
	t.Helper()
	v, err := q.Verification(ctx(t), id)
	if err != nil {
		t.Fatalf("Verification: %v", err)
	}
	return v
}

func events(t *testing.T, q *Queue, id string) []string {
	t.Helper()
	var out []string
	err := q.b.inTx(ctx(t), func(tx sqlTx) error {
		rows, err := tx.query(ctx(t), `SELECT type FROM {p}idv_webhook_events WHERE verification_id = $1 ORDER BY created_at`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerificationWholeFlow(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, true)
		v := testVerification(t, q, rp)
		if v.Status != idv.VerificationRequiresInput || len(v.Steps) != 3 {
			t.Fatalf("new verification: %+v", v)
		}
		if _, err := begin(t, q, v.ID, idv.StepIdentity); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Fatalf("identity before document: %v, want conflict", err)
		}
		doc := mustBegin(t, q, v.ID, idv.StepDocument)
		if got := getV(t, q, v.ID); got.Status != idv.VerificationProcessing {
			t.Fatalf("after begin: %s", got.Status)
		}
		finish(t, q, v.ID, doc, idv.OutcomeSuccess, []byte("sealed-identity"))
		got := getV(t, q, v.ID)
		if r, _ := got.Step(idv.StepDocument); r.Status != idv.StepPassed || got.Status != idv.VerificationRequiresInput || !bytes.Equal(got.Identity, []byte("sealed-identity")) {
			t.Fatalf("after document success: %+v", got)
		}
		if _, err := begin(t, q, v.ID, idv.StepDocument); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Fatalf("passed step begun again: %v, want conflict", err)
		}
		finish(t, q, v.ID, mustBegin(t, q, v.ID, idv.StepIdentity), idv.OutcomeSuccess, nil)
		phone := mustBegin(t, q, v.ID, idv.StepPhone)
		finish(t, q, v.ID, phone, idv.OutcomeSuccess, nil)
		got = getV(t, q, v.ID)
		if got.Status != idv.VerificationVerified || got.FinishedAt.IsZero() {
			t.Fatalf("after all steps: %+v", got)
		}
		want := []string{"verification.processing", "verification.requires_input", "verification.processing",
			"verification.requires_input", "verification.processing", "verification.verified"}
		if e := events(t, q, v.ID); len(e) != len(want) {
			t.Fatalf("events %v, want %v", e, want)
		}
		if n := q.count(t, `SELECT count(*) FROM {p}river_job WHERE kind = 'idv_webhook_delivery'`); n != len(want) {
			t.Errorf("%d delivery jobs, want %d", n, len(want))
		}
		// A repeated result (a re-run job) changes nothing.
		finish(t, q, v.ID, phone, idv.OutcomeFailure, nil)
		if again := getV(t, q, v.ID); again.Status != idv.VerificationVerified {
			t.Fatalf("final status moved to %s", again.Status)
		}
	})
}

// 20 concurrent begins of one step start exactly one attempt and one job.
func TestVerificationConcurrentBegins(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		v := testVerification(t, q, testRP(t, q, false))
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				_, err := begin(t, q, v.ID, idv.StepDocument)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		ok := 0
		for err := range errs {
			switch idv.ErrorCode(err) {
			case "":
				ok++
			case idv.ECONFLICT:
			default:
				t.Errorf("begin: %v", err)
			}
		}
		r, _ := getV(t, q, v.ID).Step(idv.StepDocument)
		if ok != 1 || r.Attempts != 1 {
			t.Fatalf("%d begins succeeded, attempts %d; want 1 and 1", ok, r.Attempts)
		}
		if n := q.count(t, `SELECT count(*) FROM {p}river_job WHERE kind = $1`, string(idv.JobDocument)); n != 1 {
			t.Fatalf("%d document jobs, want 1", n)
		}
	})
}

func TestVerificationAttempts(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		v := testVerification(t, q, testRP(t, q, false), idv.StepDocument)
		// Not verdicts: the attempt is given back.
		finish(t, q, v.ID, mustBegin(t, q, v.ID, idv.StepDocument), idv.OutcomeTimedOut, nil)
		finish(t, q, v.ID, mustBegin(t, q, v.ID, idv.StepDocument), idv.OutcomeException, nil)
		old := mustBegin(t, q, v.ID, idv.StepDocument)
		if _, err := q.AbandonAttempt(ctx(t), v.ID, idv.StepDocument, old.ResultID); err != nil {
			t.Fatal(err)
		}
		r, _ := getV(t, q, v.ID).Step(idv.StepDocument)
		if r.Attempts != 0 || r.Status != idv.StepPending {
			t.Fatalf("after timeout, exception, missing: %+v", r)
		}
		// The abandoned attempt's late success is ignored.
		finish(t, q, v.ID, old, idv.OutcomeSuccess, []byte("x"))
		if got := getV(t, q, v.ID); got.Status != idv.VerificationRequiresInput || got.Identity != nil {
			t.Fatalf("late result moved the verification: %+v", got)
		}
		for i := range 3 {
			finish(t, q, v.ID, mustBegin(t, q, v.ID, idv.StepDocument), idv.OutcomeFailure, nil)
			got := getV(t, q, v.ID)
			want := idv.VerificationRequiresInput
			if i == 2 {
				want = idv.VerificationFailed
			}
			if got.Status != want || got.LastError != "document_failure" {
				t.Fatalf("after failure %d: %s %q, want %s", i+1, got.Status, got.LastError, want)
			}
		}
		if _, err := begin(t, q, v.ID, idv.StepDocument); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Fatalf("begin on a failed verification: %v", err)
		}
	})
}

// A state change whose transaction rolls back leaves no event and no
// spent attempt.
func TestVerificationRollbackWritesNothing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		v := testVerification(t, q, testRP(t, q, true))
		first := mustBegin(t, q, v.ID, idv.StepDocument)
		finish(t, q, v.ID, first, idv.OutcomeFailure, nil)
		before := events(t, q, v.ID)
		// Same capture session id: the insert fails after the step's update.
		cs, job := newAttempt(idv.JobDocument)
		cs.ID = first.ID
		if _, err := q.BeginAttempt(ctx(t), idv.Attempt{VerificationID: v.ID, Step: idv.StepDocument, CaptureSession: cs, Job: job, Identity: []byte("other")}); err == nil {
			t.Fatal("duplicate capture session accepted")
		}
		got := getV(t, q, v.ID)
		r, _ := got.Step(idv.StepDocument)
		if r.Attempts != 1 || r.InFlight != "" || got.Status != idv.VerificationRequiresInput || got.Identity != nil {
			t.Fatalf("rolled back begin left %+v", got)
		}
		if after := events(t, q, v.ID); len(after) != len(before) {
			t.Fatalf("events %v after rollback, want %v", after, before)
		}
	})
}

func TestVerificationCancelAndExpire(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, false)
		v := testVerification(t, q, rp)
		cs := mustBegin(t, q, v.ID, idv.StepDocument)
		got, captures, err := q.CancelVerification(ctx(t), v.ID, time.Now().UTC())
		if err != nil || got.Status != idv.VerificationCanceled || len(captures) != 1 || captures[0] != cs.ID {
			t.Fatalf("cancel: %v %+v %v", err, got, captures)
		}
		if n := q.count(t, `SELECT count(*) FROM {p}river_job WHERE kind = $1 AND state = 'cancelled'`, string(idv.JobDocument)); n != 1 {
			t.Errorf("%d cancelled jobs, want 1", n)
		}
		finish(t, q, v.ID, cs, idv.OutcomeSuccess, []byte("x"))
		if again := getV(t, q, v.ID); again.Status != idv.VerificationCanceled || again.Identity != nil {
			t.Fatalf("result after cancel: %+v", again)
		}
		if _, _, err := q.CancelVerification(ctx(t), v.ID, time.Now()); err != nil {
			t.Fatalf("second cancel: %v", err)
		}

		open := testVerification(t, q, rp)
		n, err := q.ExpireVerifications(ctx(t), time.Now().Add(2*time.Hour), 100)
		if err != nil || n != 1 {
			t.Fatalf("ExpireVerifications: %d, %v; want 1", n, err)
		}
		if got := getV(t, q, open.ID); got.Status != idv.VerificationExpired {
			t.Fatalf("expired: %s", got.Status)
		}
		if _, _, err := q.CancelVerification(ctx(t), open.ID, time.Now()); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Fatalf("cancel of expired: %v", err)
		}
	})
}

func TestVerificationIdempotentCreate(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, false)
		now := time.Now().UTC()
		v := idv.Verification{ID: "vrf_a", RelyingPartyID: rp.ID, ClientReferenceID: "u", CreatedAt: now, ExpiresAt: now.Add(time.Hour),
			Steps: []idv.StepRecord{{Step: idv.StepDocument, MaxAttempts: 3}}}
		first, created, err := q.CreateVerification(ctx(t), NewVerification{Verification: v, IdempotencyKey: "k1", RequestHash: "h1"})
		if err != nil || !created {
			t.Fatal(err)
		}
		v.ID = "vrf_b"
		again, created, err := q.CreateVerification(ctx(t), NewVerification{Verification: v, IdempotencyKey: "k1", RequestHash: "h1"})
		if err != nil || created || again.ID != first.ID {
			t.Fatalf("repeat: %v created=%v id=%s", err, created, again.ID)
		}
		if _, _, err := q.CreateVerification(ctx(t), NewVerification{Verification: v, IdempotencyKey: "k1", RequestHash: "h2"}); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Fatalf("same key, other body: %v", err)
		}
		if _, err := q.Verification(ctx(t), "vrf_none"); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("missing: %v", err)
		}
	})
}

func TestRelyingParties(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, true)
		got, err := q.RelyingPartyByKey(ctx(t), rp.APIKeyHash)
		if err != nil || got.Name != rp.Name || got.WebhookURL != rp.WebhookURL || len(got.ReturnURLs) != 1 {
			t.Fatalf("by key: %v %+v", err, got)
		}
		_, hash := idv.NewToken(idv.APIKeyPrefix)
		if err := q.RotateRelyingPartyKey(ctx(t), rp.ID, hash, "idv_sk_cd"); err != nil {
			t.Fatal(err)
		}
		if _, err := q.RelyingPartyByKey(ctx(t), rp.APIKeyHash); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("old key after rotation: %v", err)
		}
		if err := q.DisableRelyingParty(ctx(t), rp.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := q.RelyingPartyByKey(ctx(t), hash); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("key of a disabled relying party: %v", err)
		}
		all, err := q.RelyingParties(ctx(t))
		if err != nil || len(all) != 1 || !all[0].Disabled() {
			t.Fatalf("list: %v %+v", err, all)
		}
	})
}

// TestVerificationMovesUpdateInPlace guards migration 010: the updates an
// attempt makes to a verification that stays open (its status between
// requires_input and processing, its step's attempt) change no indexed
// column, so PostgreSQL makes them HOT (no new index entries); only the
// move to a final status touches the indexes.
func TestVerificationMovesUpdateInPlace(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	v := testVerification(t, q, testRP(t, q, false))
	tests := []struct {
		name, table, update string
		hot                 int
	}{
		{"verification to processing", "idv_verifications", `UPDATE idv_verifications SET status = 'processing', updated_at = now() WHERE id = $1`, 1},
		{"verification back to requires_input", "idv_verifications",
			`UPDATE idv_verifications SET status = 'requires_input', last_error = 'identity_failed', updated_at = now() WHERE id = $1`, 1},
		{"step attempt", "idv_verification_steps", `UPDATE idv_verification_steps SET status = 'processing', attempts = attempts + 1,
			attempt_result_id = 'r', attempt_started_at = now() WHERE verification_id = $1 AND step = 'identity'`, 1},
		{"verification to verified", "idv_verifications", `UPDATE idv_verifications SET status = 'verified', updated_at = now(), finished_at = now() WHERE id = $1`, 0},
	}
	for _, tt := range tests {
		tx, err := env.db.Begin(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		// The backend's counters not yet sent to the statistics
		// collector, read around the update: no wait for the collector.
		counts := func() (upd, hot int) {
			if err := tx.QueryRow(ctx(t), `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables
				WHERE relid = $1::regclass`, tt.table).Scan(&upd, &hot); err != nil {
				t.Fatal(err)
			}
			return upd, hot
		}
		upd0, hot0 := counts()
		if tag, err := tx.Exec(ctx(t), tt.update, v.ID); err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("%s: %v %v", tt.name, tag, err)
		}
		upd1, hot1 := counts()
		n, hot := upd1-upd0, hot1-hot0
		if err := tx.Commit(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if n != 1 || hot != tt.hot {
			t.Errorf("%s: %d updates, %d HOT; want 1, %d", tt.name, n, hot, tt.hot)
		}
	}
}
