package queue

import (
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

func TestVerificationCounts(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, false)
		testVerification(t, q, rp, idv.StepDocument)
		v := testVerification(t, q, rp, idv.StepDocument)
		mustBegin(t, q, v.ID, idv.StepDocument)
		w := testVerification(t, q, rp, idv.StepDocument)
		finish(t, q, w.ID, mustBegin(t, q, w.ID, idv.StepDocument), idv.OutcomeSuccess, nil)
		got, err := q.VerificationCounts(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		want := map[idv.VerificationStatus]int{idv.VerificationRequiresInput: 1, idv.VerificationProcessing: 1, idv.VerificationVerified: 1}
		if len(got) != len(want) {
			t.Fatalf("counts %v, want %v", got, want)
		}
		for s, n := range want {
			if got[s] != n {
				t.Errorf("%s: %d, want %d", s, got[s], n)
			}
		}
	})
}

// The backlog counts events still being tried: undelivered, old enough,
// not past the retry horizon, for a relying party that takes webhooks.
func TestWebhookBacklog(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, true)
		v := testVerification(t, q, rp, idv.StepDocument)
		mustBegin(t, q, v.ID, idv.StepDocument) // one event: processing
		quiet := testRP(t, q, false)            // events, never sent
		u := testVerification(t, q, quiet, idv.StepDocument)
		mustBegin(t, q, u.ID, idv.StepDocument)

		now := time.Now()
		backlog := func(at time.Time) int {
			t.Helper()
			n, err := q.WebhookBacklog(ctx(t), 10*time.Minute, at)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, tc := range []struct {
			name string
			at   time.Time
			want int
		}{
			{"fresh", now, 0},
			{"an hour old", now.Add(time.Hour), 1},
			{"past the retry horizon", now.Add(WebhookRetryHorizon + time.Hour), 0},
		} {
			if got := backlog(tc.at); got != tc.want {
				t.Errorf("%s: backlog %d, want %d", tc.name, got, tc.want)
			}
		}
		for _, tc := range []struct {
			name string
			set  string // the event's columns
			args []any  // $2, $3…
			want int
		}{
			{"given up after the last attempt", "attempts = $2", []any{WebhookMaxAttempts}, 0},
			{"delivered", "attempts = 1, delivered_at = $2", []any{now}, 0},
			{"retrying", "attempts = 1, delivered_at = NULL", nil, 1},
		} {
			if err := q.b.inTx(ctx(t), func(tx sqlTx) error {
				_, err := tx.exec(ctx(t), `UPDATE {p}idv_webhook_events SET `+tc.set+` WHERE verification_id = $1`, append([]any{v.ID}, tc.args...)...)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if got := backlog(now.Add(time.Hour)); got != tc.want {
				t.Errorf("%s: backlog %d, want %d", tc.name, got, tc.want)
			}
		}
		// A relying party that no longer takes webhooks has no backlog.
		if err := q.SetRelyingPartyWebhook(ctx(t), rp.ID, "", nil); err != nil {
			t.Fatal(err)
		}
		if got := backlog(now.Add(time.Hour)); got != 0 {
			t.Errorf("webhook removed: backlog %d, want 0", got)
		}
	})
}
