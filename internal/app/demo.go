package app

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/demo"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/webhook"
)

// DemoRPID is the relying party `idv dev` creates for its demo app and its
// self-serve start.
const DemoRPID = "rp_demo"

// demoRP is `idv dev`'s relying party, with this run's API key and webhook
// secret for it.
type demoRP struct {
	rp            idv.RelyingParty
	key           string
	webhookSecret string
}

// ensureDemoRP creates the demo relying party on first run and, on every
// run, gives it a new API key and a new webhook secret (they live in this
// process only; the secret is sealed at rest like any relying party's) and
// points its return URL, webhook and OpenID Connect redirect URI at the
// demo app on base, this run's address.
func ensureDemoRP(ctx context.Context, q *queue.Queue, sealer idv.Sealer, base string) (demoRP, error) {
	key, hash := idv.NewToken(idv.APIKeyPrefix)
	hint := key[:len(idv.APIKeyPrefix)+4]
	returnURLs := []string{base + demo.ReturnPath}
	redirectURIs := []string{base + demo.OIDCCallbackPath}
	rp, err := q.RelyingParty(ctx, DemoRPID)
	switch idv.ErrorCode(err) {
	case "":
		if err := q.RotateRelyingPartyKey(ctx, DemoRPID, hash, hint); err != nil {
			return demoRP{}, err
		}
		if !slices.Equal(rp.ReturnURLs, returnURLs) {
			if err := q.SetRelyingPartyReturnURLs(ctx, DemoRPID, returnURLs); err != nil {
				return demoRP{}, err
			}
			rp.ReturnURLs = returnURLs
		}
		if !slices.Equal(rp.RedirectURIs, redirectURIs) {
			if err := q.SetRelyingPartyRedirectURIs(ctx, DemoRPID, redirectURIs); err != nil {
				return demoRP{}, err
			}
			rp.RedirectURIs = redirectURIs
		}
	case idv.ENOTFOUND:
		rp = idv.RelyingParty{ID: DemoRPID, Name: "idv demo", APIKeyHash: hash, APIKeyHint: hint,
			ReturnURLs: returnURLs, RedirectURIs: redirectURIs, TokenAuthMethod: idv.AuthClientSecretBasic,
			Outputs: idv.KnownOutputs, CreatedAt: time.Now().UTC()}
		if err := q.CreateRelyingParty(ctx, rp); err != nil {
			return demoRP{}, err
		}
	default:
		return demoRP{}, err
	}
	secret := webhook.GenerateSecret()
	sealed, err := sealer.Seal(ctx, []byte(secret), idv.WebhookSecretAAD(DemoRPID))
	if err != nil {
		return demoRP{}, err
	}
	rp.WebhookURL, rp.WebhookSecret = base+demo.WebhookPath, sealed
	if err := q.SetRelyingPartyWebhook(ctx, DemoRPID, rp.WebhookURL, sealed); err != nil {
		return demoRP{}, err
	}
	return demoRP{rp: rp, key: key, webhookSecret: secret}, nil
}

// app is the demo relying party for this run, calling the API at base.
func (d demoRP) app(cfg config.Config, base string, log *slog.Logger) (*demo.App, error) {
	var steps []string // the API's default: every step
	if !cfg.DocAuth.Enabled {
		steps = []string{string(idv.StepIdentity), string(idv.StepPhone)}
	}
	return demo.New(demo.Options{API: base, Issuer: cfg.EffectivePublicURL(), RelyingPartyID: d.rp.ID,
		APIKey: d.key, WebhookSecret: d.webhookSecret, Steps: steps, Logger: log})
}

// selfServe starts a verification of the demo relying party for a person
// who opened `idv dev` directly.
func (d demoRP) selfServe(q *queue.Queue, cfg config.Config) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		now := time.Now().UTC()
		v := idv.Verification{ID: "vrf_" + idv.NewID(), RelyingPartyID: d.rp.ID, ClientReferenceID: "self-serve-" + idv.NewID()[:12],
			ReturnURL: d.rp.ReturnURLs[0], CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour), Steps: DefaultSteps(cfg.DocAuth.Enabled)}
		v, _, err := q.CreateVerification(ctx, queue.NewVerification{Verification: v})
		return v.ID, err
	}
}

// OfferedSteps are the steps this deployment offers: the document step
// only while doc_auth is enabled.
func OfferedSteps(documents bool) []idv.StepName {
	if documents {
		return idv.StepNames
	}
	return []idv.StepName{idv.StepIdentity, idv.StepPhone}
}

// DefaultSteps are a verification's steps when its relying party names
// none: every step this deployment offers, each allowed as many attempts
// as its per-person limit.
func DefaultSteps(documents bool) []idv.StepRecord {
	var steps []idv.StepRecord
	if documents {
		steps = append(steps, idv.StepRecord{Step: idv.StepDocument, MaxAttempts: ratelimit.IDVDocAuth.Max})
	}
	return append(steps,
		idv.StepRecord{Step: idv.StepIdentity, MaxAttempts: ratelimit.IDVResolution.Max},
		idv.StepRecord{Step: idv.StepPhone, MaxAttempts: ratelimit.ProofAddress.Max})
}
