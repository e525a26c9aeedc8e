package queue

import (
	"context"
)

// SetRelyingPartyWebhook sets where a relying party receives its webhook
// events and the secret they are signed with, sealed by the caller under
// idv.WebhookSecretAAD (this store never sees it in clear). An empty url
// takes webhooks away: events are still written, no delivery is queued.
// Deliveries already queued read the new URL and secret when they run.
func (q *Queue) SetRelyingPartyWebhook(ctx context.Context, id, url string, sealedSecret []byte) error {
	if url == "" {
		sealedSecret = nil
	}
	return q.updateRelyingParty(ctx, `UPDATE {p}idv_relying_parties SET webhook_url = $2, webhook_secret = $3 WHERE id = $1`,
		id, url, sealedSecret)
}
