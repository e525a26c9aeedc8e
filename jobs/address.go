package jobs

import (
	"context"

	"github.com/idv-dev/idv"
)

// Address runs the phone step: does the phone belong to this person? When
// the primary vendor does not verify the phone (a failure or an exception)
// and a secondary vendor is configured, the secondary is asked too and its
// answer decides. A timeout is not retried: the person's 60 s are better
// spent on a quick "try again" than on a second slow vendor.
type Address struct {
	Runner    *Runner
	Primary   idv.PhoneProofer
	Secondary idv.PhoneProofer // optional
}

// Handle implements idv.JobHandler.
func (h *Address) Handle(ctx context.Context, job idv.Job) error {
	return h.Runner.run(ctx, job, func(ctx context.Context, raw []byte, t *Timings) (*idv.ProofingResult, error) {
		var args idv.AddressArguments
		if err := decode(raw, &args); err != nil {
			return nil, err
		}
		res := &idv.ProofingResult{}
		var pv idv.VendorResult
		_ = t.Time("phone", func() error { pv = h.Primary.ProofPhone(ctx, args.Applicant); return nil })
		res.Stages = append(res.Stages, idv.Stage{Name: "phone", Result: pv})
		final := pv
		if o := pv.Outcome(); h.Secondary != nil && (o == idv.OutcomeFailure || o == idv.OutcomeException) {
			t.Progress("phone_secondary")
			var sv idv.VendorResult
			_ = t.Time("phone_secondary", func() error { sv = h.Secondary.ProofPhone(ctx, args.Applicant); return nil })
			res.Stages = append(res.Stages, idv.Stage{Name: "phone_secondary", Result: sv})
			final = sv
		}
		res.Outcome = final.Outcome()
		res.FailedAttributes = attributes(final.Errors)
		return res, nil
	})
}
