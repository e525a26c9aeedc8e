package web

import (
	"context"
	"time"

	"github.com/idv-dev/idv"
)

// attempts is where the step engine keeps each step's progress: which
// attempt is in flight, how an attempt begins, and whether the step passed.
// It is the one seam between the engine and where a person's flow is
// recorded: the verification (verificationAttempts, verification.go), which
// begins an attempt in one atomic statement with its job.
type attempts interface {
	// Current returns the step's attempt in flight; ok is false when
	// there is none.
	Current(ctx context.Context, step string) (cs idv.CaptureSession, ok bool, err error)
	// Begin enqueues job and makes cs the step's attempt in flight, unless
	// the step cannot begin one (an attempt is in flight, the step passed,
	// the flow ended): then it enqueues nothing and started is false.
	// identity, when not nil, is the identity the step's form changed,
	// sealed: it is stored with the attempt.
	Begin(ctx context.Context, step string, cs idv.CaptureSession, job idv.Job, identity []byte) (started bool, err error)
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
