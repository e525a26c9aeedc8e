package web

import (
	"cmp"
	"context"
	"net/http"
	"slices"

	"github.com/idv-dev/idv/ratelimit"
)

// Attempt limits (DESIGN.md section 3), with the anchor's semantics: each
// step has a per-person limit (step.Limit), and verify_info also one per SSN,
// keyed by an HMAC of the SSN, which follows a person across sessions.

// limitCheck is one limit a submit must be under.
type limitCheck struct {
	Limit  ratelimit.Limit
	Target string
	// Count: this submit counts against the limit once every check passed.
	Count bool
}

// allow decides a submit against every limit. A limit this submit counts is
// decided by the answer of its atomic increment (the count including this
// submit), never by a read before it, so concurrent submits cannot all slip
// under the limit; a limit counted later (on the result) is read. Limits
// that are only read go first, so a submit they refuse counts nowhere. When
// a limit is reached it sends the person to the rate-limited page and
// reports false.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, st *step, checks []limitCheck) bool {
	ctx := r.Context()
	slices.SortStableFunc(checks, func(a, b limitCheck) int { return cmp.Compare(btoi(a.Count), btoi(b.Count)) })
	for _, c := range checks {
		var at ratelimit.Attempts
		var err error
		over := false
		if c.Count {
			at, err = s.count(ctx, c.Limit, c.Target)
			over = !at.Counted
		} else {
			at, err = s.limited(ctx, c.Limit, c.Target)
			over = at.Limited
		}
		if err != nil {
			s.fail(w, r, err)
			return false
		}
		if over {
			s.log.WarnContext(ctx, "rate limited", "limit", c.Limit.Name)
			s.observe.RateLimited(c.Limit.Name)
			s.redirectLimited(w, r, st, c.Limit, at)
			return false
		}
	}
	return true
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// person is the target of per-person attempt limits: the relying party's
// end user (its client_reference_id), so the limits follow the person
// across verifications, sessions and "start over".
func (s *Server) person(ctx context.Context) string {
	v := verificationOf(ctx)
	return "rp:" + v.RelyingPartyID + ":" + v.ClientReferenceID
}

// limited reports whether l is exhausted for target. Without a limiter
// (tests of other behaviour) nothing is limited.
func (s *Server) limited(ctx context.Context, l ratelimit.Limit, target string) (ratelimit.Attempts, error) {
	if s.limiter == nil {
		return ratelimit.Attempts{Remaining: l.Max}, nil
	}
	return s.limiter.Status(ctx, l, target)
}

func (s *Server) count(ctx context.Context, l ratelimit.Limit, target string) (ratelimit.Attempts, error) {
	if s.limiter == nil {
		return ratelimit.Attempts{Remaining: l.Max, Counted: true}, nil
	}
	return s.limiter.Increment(ctx, l, target)
}

// fingerprint is the key of a limit on a piece of PII (the SSN, the ID
// number): an HMAC, so no raw value becomes a key.
func (s *Server) fingerprint(value string) string {
	return ratelimit.Fingerprint(s.fingerprintKey, value)
}
