package web

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/idv-dev/idv"
)

// attempts is where the step engine keeps each step's progress: which
// attempt is in flight, how an attempt begins, and whether the step passed.
// It is the one seam between the engine and where a person's flow is
// recorded. Today that is the person's session (sessionAttempts); a store of
// verifications can take its place, beginning an attempt in one atomic
// statement with its job.
type attempts interface {
	// Current returns the step's attempt in flight; ok is false when
	// there is none.
	Current(ctx context.Context, step string) (cs idv.CaptureSession, ok bool, err error)
	// Begin enqueues job and makes cs the step's attempt in flight, unless
	// an attempt is in flight already: then it enqueues nothing and
	// started is false.
	Begin(ctx context.Context, step string, cs idv.CaptureSession, job idv.Job) (started bool, err error)
	// End forgets the step's attempt in flight: its result was read, or
	// it never came.
	End(ctx context.Context, step string) error
	// Pass records that the step passed.
	Pass(ctx context.Context, step string, p passedStep) error
	// Passed returns what Pass recorded; ok is false while the step has
	// not passed.
	Passed(ctx context.Context, step string) (p passedStep, ok bool, err error)
}

// passedStep is what is kept of a passed step: no PII.
type passedStep struct {
	Outcome idv.Outcome `json:"outcome"`
	Stages  []idv.Stage `json:"stages"`
	At      time.Time   `json:"at"`
}

// sessionAttempts keeps progress in the person's session: per step, a
// pointer "<capture session id>|<result id>" to the attempt in flight (the
// result id in the session saves a database read per status poll), and the
// passedStep as JSON once the step passed.
type sessionAttempts struct {
	sessions *scs.SessionManager
	queue    idv.Queue
}

var _ attempts = sessionAttempts{}

func (a sessionAttempts) Current(ctx context.Context, step string) (idv.CaptureSession, bool, error) {
	ptr := a.sessions.GetString(ctx, keyPtrPref+step)
	if ptr == "" {
		return idv.CaptureSession{}, false, nil
	}
	// A pointer without a result id (none is written) reads as an
	// attempt whose result is gone.
	id, resultID, _ := strings.Cut(ptr, "|")
	return idv.CaptureSession{ID: id, ResultID: resultID}, true, nil
}

// Begin checks and sets the pointer in the session. Two requests of one
// person at the same moment can both pass the check; a store of
// verifications closes that gap.
func (a sessionAttempts) Begin(ctx context.Context, step string, cs idv.CaptureSession, job idv.Job) (bool, error) {
	if a.sessions.GetString(ctx, keyPtrPref+step) != "" {
		return false, nil
	}
	if err := a.queue.Submit(ctx, cs, job); err != nil {
		return false, err
	}
	a.sessions.Put(ctx, keyPtrPref+step, cs.ID+"|"+cs.ResultID)
	return true, nil
}

func (a sessionAttempts) End(ctx context.Context, step string) error {
	a.sessions.Remove(ctx, keyPtrPref+step)
	return nil
}

func (a sessionAttempts) Pass(ctx context.Context, step string, p passedStep) error {
	b, err := json.Marshal(p)
	if err != nil {
		return idv.WrapError(idv.EINTERNAL, "encode passed step", err)
	}
	a.sessions.Put(ctx, keyPassedPref+step, b)
	return nil
}

func (a sessionAttempts) Passed(ctx context.Context, step string) (passedStep, bool, error) {
	var p passedStep
	b := a.sessions.GetBytes(ctx, keyPassedPref+step)
	if b == nil || json.Unmarshal(b, &p) != nil {
		return passedStep{}, false, nil
	}
	return p, true, nil
}
