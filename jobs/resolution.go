package jobs

import (
	"context"
	"slices"

	"github.com/idv-dev/idv"
)

// Resolution runs identity resolution and the state-ID check for the
// "verify your information" step, then adjudicates.
type Resolution struct {
	Runner     *Runner
	Resolution idv.ResolutionProofer
	StateID    idv.StateIDProofer
}

// Handle implements idv.JobHandler.
func (h *Resolution) Handle(ctx context.Context, job idv.Job) error {
	return h.Runner.run(ctx, job, func(ctx context.Context, raw []byte, t *Timings) (*idv.ProofingResult, error) {
		var args idv.ResolutionArguments
		if err := decode(raw, &args); err != nil {
			return nil, err
		}
		res := &idv.ProofingResult{}
		var rv idv.VendorResult
		_ = t.Time("resolution", func() error { rv = h.Resolution.ProofResolution(ctx, args.Applicant); return nil })
		res.Stages = append(res.Stages, idv.Stage{Name: "resolution", Result: rv})
		if o := rv.Outcome(); o == idv.OutcomeTimedOut || o == idv.OutcomeException {
			res.Outcome = o
			res.FailedAttributes = attributes(rv.Errors)
			return res, nil
		}
		t.Progress("state_id")
		var sv idv.VendorResult
		_ = t.Time("state_id", func() error { sv = h.StateID.ProofStateID(ctx, args.Applicant); return nil })
		res.Stages = append(res.Stages, idv.Stage{Name: "state_id", Result: sv})
		res.Outcome, res.FailedAttributes = Adjudicate(rv, sv)
		return res, nil
	})
}

// Adjudicate combines identity resolution with the state-ID check. The state
// ID must verify; a resolution failure is forgiven only when every attribute
// it failed on was verified by the issuing state (as the identity provider
// behind the seeds lets AAMVA cover, say, an address the resolution vendor
// did not know).
func Adjudicate(resolution, stateID idv.VendorResult) (idv.Outcome, []string) {
	if o := stateID.Outcome(); o == idv.OutcomeTimedOut || o == idv.OutcomeException {
		return o, nil
	}
	failed := attributes(resolution.Errors)
	if !stateID.Success {
		return idv.OutcomeFailure, append(failed, attributes(stateID.Errors)...)
	}
	if resolution.Success {
		return idv.OutcomeSuccess, nil
	}
	var uncovered []string
	for _, a := range failed {
		if !slices.Contains(stateID.VerifiedAttributes, a) {
			uncovered = append(uncovered, a)
		}
	}
	if len(failed) > 0 && len(uncovered) == 0 {
		return idv.OutcomeSuccess, nil
	}
	return idv.OutcomeFailure, failed
}

func attributes(errs map[string][]string) []string {
	out := make([]string, 0, len(errs))
	for k := range errs {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
