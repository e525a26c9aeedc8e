package queue

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
)

// outcomeEndpoint fails each event's first attempt, then takes it; the
// relying party gone refuses every event for good.
type outcomeEndpoint struct {
	gone string // a relying party that takes no webhooks
	mu   sync.Mutex
	seen map[string]bool
}

func (e *outcomeEndpoint) Deliver(_ context.Context, ev idv.VerificationEvent, _ int) (WebhookAttempt, error) {
	if ev.RelyingPartyID == e.gone {
		return WebhookAttempt{}, ErrNoWebhook
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.seen[ev.ID] {
		e.seen[ev.ID] = true
		return WebhookAttempt{StatusCode: 503, Error: "http_status"}, errors.New("endpoint answered 503")
	}
	return WebhookAttempt{StatusCode: 204}, nil
}

func (*outcomeEndpoint) NextRetry(int) time.Duration { return 10 * time.Millisecond }

// Each delivery attempt is reported with its outcome: failed (retried),
// delivered, or gave_up for a relying party that takes no webhooks.
func TestWebhookDeliveryOutcomesObserved(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		live, gone := testRP(t, q, true), testRP(t, q, true)
		obs := &fake.Observer{}
		startWorkers(t, q, WorkerConfig{
			Handlers: map[idv.JobKind]idv.JobHandler{idv.JobDocument: handlerFunc(func(context.Context, idv.Job) error { return nil })},
			Webhooks: &outcomeEndpoint{gone: gone.ID, seen: map[string]bool{}}, Observer: obs, ExpireEvery: -1, CaptureSessionRetention: -1,
		})
		for _, rp := range []idv.RelyingParty{live, gone} {
			v := testVerification(t, q, rp, idv.StepDocument)
			mustBegin(t, q, v.ID, idv.StepDocument) // one event: processing
		}
		want := []string{idv.WebhookDelivered, idv.WebhookFailed, idv.WebhookGaveUp}
		eventually(t, 30*time.Second, "three outcomes", func() bool { return len(obs.WebhookOutcomes()) >= len(want) })
		got := obs.WebhookOutcomes()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("outcomes %v, want %v", got, want)
		}
	})
}
