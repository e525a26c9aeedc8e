package app

import (
	"context"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/ratelimit"
)

// DemoRPID is the relying party `idv dev` creates for its demo app and its
// self-serve start.
const DemoRPID = "rp_demo"

// demoRP is `idv dev`'s relying party and this run's API key for it.
type demoRP struct {
	rp  idv.RelyingParty
	key string
}

// ensureDemoRP creates the demo relying party on first run, and gives it a
// new API key on every run (the key lives in this process only).
func ensureDemoRP(ctx context.Context, q *queue.Queue, base string) (demoRP, error) {
	key, hash := idv.NewToken(idv.APIKeyPrefix)
	hint := key[:len(idv.APIKeyPrefix)+4]
	rp, err := q.RelyingParty(ctx, DemoRPID)
	switch idv.ErrorCode(err) {
	case "":
		if err := q.RotateRelyingPartyKey(ctx, DemoRPID, hash, hint); err != nil {
			return demoRP{}, err
		}
	case idv.ENOTFOUND:
		rp = idv.RelyingParty{ID: DemoRPID, Name: "idv demo", APIKeyHash: hash, APIKeyHint: hint,
			ReturnURLs: []string{base + "/demo/return"}, Outputs: idv.KnownOutputs, CreatedAt: time.Now().UTC()}
		if err := q.CreateRelyingParty(ctx, rp); err != nil {
			return demoRP{}, err
		}
	default:
		return demoRP{}, err
	}
	return demoRP{rp: rp, key: key}, nil
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
