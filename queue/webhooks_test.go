package queue

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

// flakyEndpoint fails its first failures deliveries, then takes every one,
// recording the order of what it took.
type flakyEndpoint struct {
	mu       sync.Mutex
	failures int
	calls    int
	took     []idv.VerificationEvent
	got      chan struct{}
}

func (f *flakyEndpoint) Deliver(_ context.Context, ev idv.VerificationEvent, attempt int) (WebhookAttempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.failures {
		return WebhookAttempt{StatusCode: 503, Latency: time.Millisecond, Error: "status 503"}, errors.New("endpoint answered 503")
	}
	f.took = append(f.took, ev)
	f.got <- struct{}{}
	return WebhookAttempt{StatusCode: 204, Latency: time.Millisecond}, nil
}

func (*flakyEndpoint) NextRetry(int) time.Duration { return 10 * time.Millisecond }

// The endpoint is down for a while, then back: every event is delivered
// once it returns, in order per verification, each attempt recorded.
func TestWebhookDeliveryRetriesInOrder(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		ep := &flakyEndpoint{failures: 3, got: make(chan struct{}, 16)}
		startWorkers(t, q, WorkerConfig{
			Handlers: map[idv.JobKind]idv.JobHandler{idv.JobDocument: handlerFunc(func(context.Context, idv.Job) error { return nil })},
			Webhooks: ep, ExpireEvery: -1, CaptureSessionRetention: -1,
		})
		rp := testRP(t, q, true)
		v := testVerification(t, q, rp, idv.StepDocument)
		cs := mustBegin(t, q, v.ID, idv.StepDocument)
		finish(t, q, v.ID, cs, idv.OutcomeSuccess, nil)
		for range 2 {
			receive(t, ep.got, 30*time.Second, "webhook delivered")
		}
		ep.mu.Lock()
		took := ep.took
		ep.mu.Unlock()
		if len(took) != 2 || took[0].Type != "verification.processing" || took[1].Type != "verification.verified" {
			t.Fatalf("delivered %+v, want processing then verified", took)
		}
		eventually(t, 10*time.Second, "deliveries recorded", func() bool {
			return q.count(t, `SELECT count(*) FROM {p}idv_webhook_events WHERE verification_id = $1 AND delivered_at IS NOT NULL`, v.ID) == 2
		})
		if n := q.count(t, `SELECT count(*) FROM {p}idv_webhook_attempts WHERE status_code = 503`); n != 3 {
			t.Errorf("%d failed attempts recorded, want 3", n)
		}
		// A replay sends the same event (same webhook-id) again.
		if err := q.ReplayWebhook(ctx(t), took[1].ID); err != nil {
			t.Fatal(err)
		}
		receive(t, ep.got, 30*time.Second, "replayed webhook delivered")
		ep.mu.Lock()
		defer ep.mu.Unlock()
		if last := ep.took[len(ep.took)-1]; last.ID != took[1].ID {
			t.Fatalf("replay delivered %s, want %s", last.ID, took[1].ID)
		}
		if err := q.ReplayWebhook(ctx(t), "evt_none"); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("replay of a missing event: %v", err)
		}
	})
}

// The leader's periodic job expires unfinished verifications.
func TestExpiryJob(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, false)
		now := time.Now().UTC()
		v := idv.Verification{ID: "vrf_" + idv.NewID(), RelyingPartyID: rp.ID, ClientReferenceID: "u",
			CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour), Steps: []idv.StepRecord{{Step: idv.StepDocument, MaxAttempts: 3}}}
		if _, _, err := q.CreateVerification(ctx(t), NewVerification{Verification: v}); err != nil {
			t.Fatal(err)
		}
		startWorkers(t, q, WorkerConfig{
			Handlers:    map[idv.JobKind]idv.JobHandler{idv.JobDocument: handlerFunc(func(context.Context, idv.Job) error { return nil })},
			ExpireEvery: time.Hour, CaptureSessionRetention: -1,
		})
		eventually(t, 30*time.Second, "verification expired", func() bool {
			return getV(t, q, v.ID).Status == idv.VerificationExpired
		})
	})
}
