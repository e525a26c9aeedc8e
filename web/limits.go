package web

import (
	"context"
	"net/http"

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

// allow checks a submit against every limit, then counts it against those
// it counts. When a limit is reached it sends the person to the
// rate-limited page and reports false.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, st *step, checks []limitCheck) bool {
	ctx := r.Context()
	for _, c := range checks {
		at, err := s.limited(ctx, c.Limit, c.Target)
		if err != nil {
			s.fail(w, r, err)
			return false
		}
		if at.Limited {
			s.log.WarnContext(ctx, "rate limited", "limit", c.Limit.Name)
			s.observe.RateLimited(c.Limit.Name)
			s.redirectOutcome(w, r, "rate_limited", st)
			return false
		}
	}
	for _, c := range checks {
		if !c.Count {
			continue
		}
		if _, err := s.count(ctx, c.Limit, c.Target); err != nil {
			s.fail(w, r, err)
			return false
		}
	}
	return true
}

// person is a random id for the person behind a session: the target of
// per-person attempt limits (idv has no accounts).
func (s *Server) person(ctx context.Context) string {
	id := s.sessions.GetString(ctx, keyPerson)
	if id == "" {
		id = randomID()
		s.sessions.Put(ctx, keyPerson, id)
	}
	return id
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
		return ratelimit.Attempts{Remaining: l.Max}, nil
	}
	return s.limiter.Increment(ctx, l, target)
}

// ssnTarget is the SSN limit's key: an HMAC, so no raw SSN becomes a key.
func (s *Server) ssnTarget(ssn string) string {
	return ratelimit.Fingerprint(s.fingerprintKey, ssn)
}
