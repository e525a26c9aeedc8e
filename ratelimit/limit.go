// Package ratelimit counts attempts per person (or per fingerprint of a
// value, such as an SSN) in sliding windows, with the identity provider's
// semantics:
//
//   - every counted attempt sets the window to end one Window after it, so
//     the window slides with each attempt;
//   - once Max attempts are counted the target is limited, and further
//     increments change nothing, so the lockout lasts one Window from the
//     attempt that reached Max;
//   - when the window ends the count is gone.
//
// The backends are ratelimit/redis (shared by all processes) and
// ratelimit/memory (`idv dev`); both pass ratelimit/ratelimittest.
package ratelimit

import (
	"context"
	"strings"
	"time"

	"github.com/idv-dev/idv"
)

// Limit is one limiter: its name (part of the key) and its bounds.
type Limit struct {
	Name   string
	Max    int
	Window time.Duration
}

// The identity provider's default limits. Copy one and change Max or Window
// to apply configuration.
var (
	// IDVResolution counts resolution results that came back done without
	// a vendor exception, per person.
	IDVResolution = Limit{Name: "idv_resolution", Max: 5, Window: 6 * time.Hour}
	// ProofSSN counts resolution submits per SSN fingerprint, so one SSN
	// cannot be tried against many identities.
	ProofSSN = Limit{Name: "proof_ssn", Max: 10, Window: 60 * time.Minute}

	// ProofIDNumber counts resolution submits per ID-number fingerprint, so
	// one ID cannot be tried against many people, whichever verification
	// or relying party they come through.
	ProofIDNumber = Limit{Name: "proof_id_number", Max: 10, Window: 60 * time.Minute}
	// ProofAddress counts phone submits per person.
	ProofAddress = Limit{Name: "proof_address", Max: 5, Window: 6 * time.Hour}
	// IDVDocAuth counts document submits per person.
	IDVDocAuth = Limit{Name: "idv_doc_auth", Max: 5, Window: 6 * time.Hour}

	// APIRequests counts a relying party's API requests per window. The API
	// puts the window's number in the target, so the count starts afresh
	// each minute instead of sliding on with steady traffic.
	APIRequests = Limit{Name: "api_requests", Max: 600, Window: time.Minute}
	// VerificationsPerReference counts the verifications a relying party
	// creates for one of its end users (client_reference_id), so a person
	// cannot be sent through again and again.
	VerificationsPerReference = Limit{Name: "verifications_per_reference", Max: 10, Window: 24 * time.Hour}
)

// Attempts is the state of one limiter for one target.
type Attempts struct {
	// Count is the number of attempts in the current window.
	Count int
	// Remaining is how many more attempts are allowed (never negative).
	Remaining int
	// Limited reports Count >= Max: the target may not try again before
	// ResetAt.
	Limited bool
	// ResetAt is when the window ends and the count returns to zero; zero
	// when there is no count.
	ResetAt time.Time
	// Counted, in Increment's answer, reports that this attempt was
	// counted, i.e. admitted: false when the target was already limited.
	// It is decided in the same atomic step as the count, so of many
	// concurrent increments at most Max are admitted.
	Counted bool
}

// Limiter counts attempts. Implementations are safe for concurrent use and
// count atomically: concurrent increments never push Count past Max.
type Limiter interface {
	// Increment counts one attempt unless the target is already limited,
	// and returns the state after it.
	Increment(ctx context.Context, l Limit, target string) (Attempts, error)
	// Status returns the state without counting.
	Status(ctx context.Context, l Limit, target string) (Attempts, error)
	// Reset forgets the target's attempts.
	Reset(ctx context.Context, l Limit, target string) error
}

// Attempts returns the state of l for count attempts in a window ending at
// resetAt.
func (l Limit) Attempts(count int, resetAt time.Time) Attempts {
	if count <= 0 {
		return Attempts{Remaining: l.Max}
	}
	return Attempts{
		Count:     count,
		Remaining: max(l.Max-count, 0),
		Limited:   count >= l.Max,
		ResetAt:   resetAt,
	}
}

// Check reports an EINVALID error for a limit or target a Limiter cannot
// count. Names may not contain ':' so that keys of the form name:target stay
// unambiguous.
func Check(l Limit, target string) error {
	switch {
	case l.Name == "" || strings.ContainsAny(l.Name, ": "):
		return idv.Errorf(idv.EINVALID, "rate limit name %q is empty or contains ':' or a space", l.Name)
	case l.Max < 1:
		return idv.Errorf(idv.EINVALID, "rate limit %s: max %d is below 1", l.Name, l.Max)
	case l.Window < time.Millisecond:
		return idv.Errorf(idv.EINVALID, "rate limit %s: window %s is below 1ms", l.Name, l.Window)
	case target == "":
		// The target is not echoed: callers should pass ids or
		// fingerprints, but a mistake must not put PII in an error.
		return idv.Errorf(idv.EINVALID, "rate limit %s: empty target", l.Name)
	}
	return nil
}
