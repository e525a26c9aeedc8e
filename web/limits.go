package web

import (
	"context"

	"github.com/idv-dev/idv/ratelimit"
)

// keyPerson is a random id for the person behind a session: the target of
// per-person attempt limits (idv has no accounts; the SSN limit, keyed by an
// HMAC of the SSN, is what follows a person across sessions).
const keyPerson = "person"

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
