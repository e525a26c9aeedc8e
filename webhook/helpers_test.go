package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/webhook"
)

// delivery is what a receiver got, and whether the signature checked out
// with the Standard Webhooks library, as an RP checks it.
type delivery struct {
	header    http.Header
	body      []byte
	verifyErr error
}

// receiver is an RP's webhook endpoint on loopback. It answers status.
func receiver(t *testing.T, secret string, status int) (*httptest.Server, <-chan delivery) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan delivery, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- delivery{header: r.Header.Clone(), body: body, verifyErr: wh.Verify(body, r.Header)}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func newEvent() webhook.Event {
	return webhook.Event{ID: "evt_" + idv.NewID(), Type: webhook.TypeVerified, VerificationID: "vf_" + idv.NewID(),
		Status: "verified", CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC)}
}

// insecureSender sends to loopback receivers, as in tests and `idv dev`.
func insecureSender(t *testing.T) *webhook.Sender {
	t.Helper()
	c, err := webhook.NewHTTPClient("", true)
	if err != nil {
		t.Fatal(err)
	}
	return &webhook.Sender{Client: c, AllowInsecure: true}
}

// receive waits for a value on ch; it fails rather than hangs.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s after 30s", what)
		panic("unreachable")
	}
}

// deliverAsync runs Deliver so a test can bound how long it waits for it.
func deliverAsync(ctx context.Context, s *webhook.Sender, d webhook.Destination, ev webhook.Event) <-chan result {
	ch := make(chan result, 1)
	go func() {
		a, err := s.Deliver(ctx, d, ev)
		ch <- result{a, err}
	}()
	return ch
}

type result struct {
	attempt webhook.Attempt
	err     error
}
