package queue

import (
	"bytes"
	"slices"
	"testing"

	"github.com/idv-dev/idv"
)

func TestSetRelyingPartyWebhook(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, false)
		if err := q.SetRelyingPartyWebhook(ctx(t), rp.ID, "https://rp.example/new-hooks", []byte("sealed-2")); err != nil {
			t.Fatal(err)
		}
		got, err := q.RelyingParty(ctx(t), rp.ID)
		if err != nil || got.WebhookURL != "https://rp.example/new-hooks" || !bytes.Equal(got.WebhookSecret, []byte("sealed-2")) {
			t.Fatalf("after set: %v %q %q", err, got.WebhookURL, got.WebhookSecret)
		}
		// Events of a relying party with a webhook get a delivery job.
		v := testVerification(t, q, rp, idv.StepDocument)
		mustBegin(t, q, v.ID, idv.StepDocument)
		if n := q.count(t, `SELECT count(*) FROM {p}river_job WHERE kind = 'idv_webhook_delivery'`); n != 1 {
			t.Fatalf("%d delivery jobs after a status change, want 1", n)
		}
		// An empty URL takes webhooks away, secret included.
		if err := q.SetRelyingPartyWebhook(ctx(t), rp.ID, "", []byte("ignored")); err != nil {
			t.Fatal(err)
		}
		got, err = q.RelyingParty(ctx(t), rp.ID)
		if err != nil || got.WebhookURL != "" || got.WebhookSecret != nil {
			t.Fatalf("after clearing: %v %q %q", err, got.WebhookURL, got.WebhookSecret)
		}
		if err := q.SetRelyingPartyWebhook(ctx(t), "rp_none", "https://rp.example/h", []byte("s")); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("unknown relying party: %v", err)
		}
	})
}

func TestSetRelyingPartyReturnURLs(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, false)
		urls := []string{"http://127.0.0.1:9000/demo/return", "https://rp.example/back2"}
		if err := q.SetRelyingPartyReturnURLs(ctx(t), rp.ID, urls); err != nil {
			t.Fatal(err)
		}
		got, err := q.RelyingParty(ctx(t), rp.ID)
		if err != nil || !slices.Equal(got.ReturnURLs, urls) || got.AllowsReturnURL(rp.ReturnURLs[0]) {
			t.Fatalf("after set: %v %q", err, got.ReturnURLs)
		}
		if err := q.SetRelyingPartyReturnURLs(ctx(t), "rp_none", urls); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("unknown relying party: %v", err)
		}
	})
}
