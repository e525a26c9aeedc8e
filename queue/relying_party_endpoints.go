package queue

import (
	"context"
	"encoding/json"
)

// A relying party's endpoints change after it is created: `idv dev` points
// its demo relying party at whatever address this run serves.

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

// SetRelyingPartyReturnURLs replaces the return URLs a relying party may
// send the person back to (matched exactly; checked by the caller).
func (q *Queue) SetRelyingPartyReturnURLs(ctx context.Context, id string, urls []string) error {
	b, _ := json.Marshal(nonNil(urls))
	return q.updateRelyingParty(ctx, `UPDATE {p}idv_relying_parties SET return_urls = $2 WHERE id = $1`, id, string(b))
}

// SetRelyingPartyRedirectURIs replaces a relying party's OpenID Connect
// redirect URIs (matched exactly; checked by the caller).
func (q *Queue) SetRelyingPartyRedirectURIs(ctx context.Context, id string, uris []string) error {
	b, _ := json.Marshal(nonNil(uris))
	return q.updateRelyingParty(ctx, `UPDATE {p}idv_relying_parties SET redirect_uris = $2 WHERE id = $1`, id, string(b))
}
