package app

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/api"
	"github.com/idv-dev/idv/openid"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/ratelimit"
	redislimit "github.com/idv-dev/idv/ratelimit/redis"
	"github.com/idv-dev/idv/receipt"
	"github.com/idv-dev/idv/webhook"
)

// The relying parties' side of a deployment, wired once for web and dev:
// the REST API, receipts and their JWKS; and for workers: webhook
// deliveries.

// Signer opens the receipt signer on c's database and sealer, with a key
// ready (created on first start), so the JWKS is never empty.
func (c *Components) Signer(ctx context.Context) (*receipt.Signer, error) {
	s, err := receipt.New(c.Queue.SigningKeys(), c.Sealer, receipt.Options{Issuer: c.Config.EffectivePublicURL()})
	if err != nil {
		return nil, err
	}
	if _, err := s.EnsureKey(ctx); err != nil {
		return nil, fmt.Errorf("receipt signing key: %w", err)
	}
	return s, nil
}

// relyingPartyMounts are the handlers web serves to relying parties: the
// API under /v1/, the JWKS and the OpenID Provider's routes; and the
// provider, whose sign-ins the pages start and finish. limiter counts API
// requests (Redis in production, memory in `idv dev`).
func (c *Components) relyingPartyMounts(ctx context.Context, limiter ratelimit.Limiter) (map[string]http.Handler, *openid.Provider, error) {
	signer, err := c.Signer(ctx)
	if err != nil {
		return nil, nil, err
	}
	cfg := c.Config
	h, err := api.New(api.Options{
		Verifications: c.Queue, RelyingParties: c.Queue, Sealer: c.Sealer, Objects: c.Objects,
		Receipts: receipts{signer}, Limiter: limiter, PublicURL: cfg.EffectivePublicURL(), Logger: c.Log,
		LinkLifetime: cfg.Verifications.LinkLifetime, VerificationLifetime: cfg.Verifications.Lifetime,
		RequestLimit: apiRequestLimit(cfg.Verifications.APIRequestsPerMinute),
		Steps:        OfferedSteps(cfg.DocAuth.Enabled),
	})
	if err != nil {
		return nil, nil, err
	}
	provider, err := openid.New(openid.Options{Issuer: cfg.EffectivePublicURL(), Store: c.Queue, Creator: h, Sealer: c.Sealer,
		Keys: signer, TrustFramework: cfg.Verifications.OIDCTrustFramework, RequestLifetime: cfg.Verifications.Lifetime, Logger: c.Log})
	if err != nil {
		return nil, nil, err
	}
	mounts := map[string]http.Handler{"/v1/": h, "GET " + receipt.JWKSPath: signer.JWKSHandler()}
	maps.Copy(mounts, provider.Mounts())
	return mounts, provider, nil
}

// apiRequestLimit is ratelimit.APIRequests with perMinute requests per
// minute (verifications.api_requests_per_minute; 0 keeps its default).
func apiRequestLimit(perMinute int) ratelimit.Limit {
	l := ratelimit.APIRequests
	if perMinute > 0 {
		l.Max = perMinute
	}
	return l
}

// redisLimiter is production's API request limiter.
func (c *Components) redisLimiter() *redislimit.Limiter {
	return redislimit.New(c.Redis, c.Config.Redis.Prefix)
}

// receipts signs a final verification's receipt: no PII, only ids, the
// status and each check's outcome.
type receipts struct{ s *receipt.Signer }

func (r receipts) Receipt(ctx context.Context, v idv.Verification) (string, error) {
	return r.s.Sign(ctx, ReceiptClaims(v))
}

// ReceiptClaims are the claims of v's receipt.
func ReceiptClaims(v idv.Verification) receipt.Claims {
	check := func(step idv.StepName) receipt.CheckOutcome {
		rec, ok := v.Step(step)
		switch {
		case !ok || rec.LastOutcome == "":
			return receipt.CheckNotRun
		case rec.Status == idv.StepPassed:
			return receipt.CheckPassed
		default:
			return receipt.CheckFailed
		}
	}
	c := receipt.Claims{Audience: v.RelyingPartyID, Subject: v.ID, Status: receipt.Status(v.Status),
		Checks: receipt.Checks{Document: check(idv.StepDocument), Resolution: check(idv.StepIdentity),
			StateID: check(idv.StepIdentity), Phone: check(idv.StepPhone)}}
	if v.Status == idv.VerificationVerified {
		c.VerifiedAt = v.FinishedAt
	}
	return c
}

// deliverer sends a verification's webhook events to its relying party,
// signed with the relying party's secret (sealed at rest), through the
// egress proxy when one is configured.
type deliverer struct {
	q      *queue.Queue
	sealer idv.Sealer
	sender *webhook.Sender
}

func (c *Components) webhookDeliverer() (*deliverer, error) {
	cfg := c.Config
	client, err := webhook.NewHTTPClient(cfg.Vendors.ProxyURL, cfg.Verifications.WebhooksAllowInsecure)
	if err != nil {
		return nil, err
	}
	return &deliverer{q: c.Queue, sealer: c.Sealer,
		sender: &webhook.Sender{Client: client, AllowInsecure: cfg.Verifications.WebhooksAllowInsecure}}, nil
}

func (d *deliverer) Deliver(ctx context.Context, ev idv.VerificationEvent, _ int) (queue.WebhookAttempt, error) {
	rp, err := d.q.RelyingParty(ctx, ev.RelyingPartyID)
	if err != nil {
		return queue.WebhookAttempt{}, err
	}
	if rp.WebhookURL == "" || rp.Disabled() || rp.WebhookSecret == nil {
		return queue.WebhookAttempt{}, queue.ErrNoWebhook
	}
	secret, err := d.sealer.Open(ctx, rp.WebhookSecret, idv.WebhookSecretAAD(rp.ID))
	if err != nil {
		return queue.WebhookAttempt{}, err
	}
	at, err := d.sender.Deliver(ctx, webhook.Destination{URL: rp.WebhookURL, Secret: string(secret)}, webhook.Event{
		ID: ev.ID, Type: ev.Type, VerificationID: ev.VerificationID, Status: string(ev.Status), CreatedAt: ev.CreatedAt})
	out := queue.WebhookAttempt{StatusCode: at.StatusCode, Latency: at.Latency, Error: at.Error}
	if webhook.Permanent(err) {
		return out, fmt.Errorf("%w: %v", queue.ErrNoWebhook, err)
	}
	return out, err
}

func (d *deliverer) NextRetry(attempt int) time.Duration { return webhook.NextRetry(attempt) }
