package idv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"time"
)

// A Verification is the unit everything hangs on: one person, one relying
// party, one outcome. It lives in the database, not in a browser cookie; the
// browser session only points at it. Its steps are records of their own, and
// its final states never change.
type Verification struct {
	ID             string `json:"id"`
	RelyingPartyID string `json:"relying_party_id"`
	// ClientReferenceID is the relying party's opaque id of its end user
	// (never an e-mail address or a name: ValidateReference refuses them),
	// the target of a per-end-user attempt limit.
	ClientReferenceID string             `json:"client_reference_id" pii:"false"`
	Status            VerificationStatus `json:"status"`
	Steps             []StepRecord       `json:"steps"`
	// ReturnURL is where the person goes when the flow ends: one of the
	// relying party's registered return URLs, matched exactly.
	ReturnURL string `json:"return_url" pii:"false"`
	// LastError is the stable code of the last failed step, if any.
	LastError string `json:"last_error,omitempty"`
	// Identity is the bound identity (PII read from the document, plus the
	// SSN and corrected address), sealed under VerificationAAD; nil until
	// the document step passes, and again after redaction.
	Identity []byte `json:"-" pii:"false"` // ciphertext (seal), not PII
	// Metadata is the relying party's own key-value data, sealed under
	// MetadataAAD (a relying party may put anything in it).
	Metadata   []byte    `json:"-" pii:"false"` // ciphertext (seal), not PII
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	RedactedAt time.Time `json:"redacted_at,omitzero"`
}

// VerificationStatus is the state of a verification.
type VerificationStatus string

const (
	VerificationRequiresInput VerificationStatus = "requires_input" // the person has something to do
	VerificationProcessing    VerificationStatus = "processing"     // a check is running
	VerificationVerified      VerificationStatus = "verified"       // every step passed
	VerificationFailed        VerificationStatus = "failed"         // a step ran out of attempts
	VerificationCanceled      VerificationStatus = "canceled"       // the relying party canceled it
	VerificationExpired       VerificationStatus = "expired"        // its lifetime ended unfinished
)

// Final reports whether s can never change again.
func (s VerificationStatus) Final() bool {
	switch s {
	case VerificationVerified, VerificationFailed, VerificationCanceled, VerificationExpired:
		return true
	}
	return false
}

// Valid reports whether s is one of the statuses above.
func (s VerificationStatus) Valid() bool {
	return s == VerificationRequiresInput || s == VerificationProcessing || s.Final()
}

// StepName names a step of a verification, in the relying party's words.
type StepName string

const (
	StepDocument StepName = "document" // photos of the ID, authenticated
	StepIdentity StepName = "identity" // identity resolution and the state ID check
	StepPhone    StepName = "phone"    // phone ownership
)

// StepNames lists every step, in flow order.
var StepNames = []StepName{StepDocument, StepIdentity, StepPhone}

// JobKind is the job that runs one attempt of the step.
func (s StepName) JobKind() JobKind {
	switch s {
	case StepDocument:
		return JobDocument
	case StepIdentity:
		return JobResolution
	case StepPhone:
		return JobAddress
	}
	return ""
}

// StepOf returns the step a job kind runs for.
func StepOf(k JobKind) StepName {
	for _, s := range StepNames {
		if s.JobKind() == k {
			return s
		}
	}
	return ""
}

// StepStatus is the state of one step.
type StepStatus string

const (
	StepPending    StepStatus = "pending"    // waiting for the person (or for an earlier step)
	StepProcessing StepStatus = "processing" // an attempt is in flight
	StepPassed     StepStatus = "passed"     // verified; locked
	StepFailed     StepStatus = "failed"     // out of attempts; locked
)

// StepRecord is one step of a verification: its attempts and the attempt in
// flight. An attempt begins only through the store's one atomic statement,
// so concurrent submits and double clicks cannot start two.
type StepRecord struct {
	Step        StepName   `json:"step"`
	Status      StepStatus `json:"status"`
	Attempts    int        `json:"attempts"`
	MaxAttempts int        `json:"max_attempts"`
	// InFlight is the result id of the attempt in flight, "" when none.
	InFlight      string    `json:"in_flight,omitempty"`
	InFlightSince time.Time `json:"in_flight_since,omitzero"`
	// LastOutcome is the outcome of the last finished attempt.
	LastOutcome Outcome `json:"last_outcome,omitempty"`
}

// AttemptsLeft is how many more attempts the step allows.
func (r StepRecord) AttemptsLeft() int { return max(0, r.MaxAttempts-r.Attempts) }

// Step returns the record of the named step and whether the verification
// has that step.
func (v Verification) Step(name StepName) (StepRecord, bool) {
	i := slices.IndexFunc(v.Steps, func(r StepRecord) bool { return r.Step == name })
	if i < 0 {
		return StepRecord{}, false
	}
	return v.Steps[i], true
}

// Passed reports whether the named step passed, or is not part of v (a
// relying party may ask for some steps only).
func (v Verification) Passed(name StepName) bool {
	r, ok := v.Step(name)
	return !ok || r.Status == StepPassed
}

// Ready reports whether the named step may begin an attempt now: v is not
// final, every earlier step passed, and the step itself waits for input
// with attempts left. It is the same rule the store's atomic statement
// enforces; the web tier asks it only to choose what to show.
func (v Verification) Ready(name StepName) error {
	r, ok := v.Step(name)
	switch {
	case v.Status.Final():
		return Errorf(ECONFLICT, "this verification is %s", v.Status)
	case !ok:
		return Errorf(EINVALID, "this verification has no %s step", name)
	}
	for _, earlier := range v.Steps {
		if earlier.Step == name {
			break
		}
		if earlier.Status != StepPassed {
			return Errorf(ECONFLICT, "the %s step comes first", earlier.Step)
		}
	}
	switch {
	case r.Status == StepPassed:
		return Errorf(ECONFLICT, "the %s step already passed", name)
	case r.InFlight != "" || r.Status == StepProcessing:
		return Errorf(ECONFLICT, "a %s check is already running", name)
	case r.Status == StepFailed || r.Attempts >= r.MaxAttempts:
		return Errorf(ERATELIMITED, "no %s attempts left", name)
	}
	return nil
}

// Verdict reports whether an outcome is the vendor's answer about the person
// (success or failure). Only a verdict uses one of the step's attempts: a
// timeout or an exception was not the person's doing.
func (o Outcome) Verdict() bool { return o == OutcomeSuccess || o == OutcomeFailure }

// FinishStep applies a finished attempt's outcome to its step record: a
// success passes it, a failure with no attempts left fails it, anything else
// leaves it pending, and an outcome that is not a verdict gives the attempt
// back. The caller has checked that resultID was the attempt in flight.
func FinishStep(r StepRecord, o Outcome) StepRecord {
	r.InFlight, r.InFlightSince, r.LastOutcome = "", time.Time{}, o
	if !o.Verdict() {
		r.Attempts = max(0, r.Attempts-1)
	}
	switch {
	case o == OutcomeSuccess:
		r.Status = StepPassed
	case o.Verdict() && r.Attempts >= r.MaxAttempts:
		r.Status = StepFailed
	default:
		r.Status = StepPending
	}
	return r
}

// DeriveStatus is the status a non-final verification has given its steps:
// verified when every step passed, failed when one failed, processing while
// an attempt is in flight, else requires_input. A final status is kept.
func DeriveStatus(current VerificationStatus, steps []StepRecord) VerificationStatus {
	if current.Final() {
		return current
	}
	all := true
	for _, r := range steps {
		switch r.Status {
		case StepFailed:
			return VerificationFailed
		case StepProcessing:
			return VerificationProcessing
		}
		all = all && r.Status == StepPassed
	}
	if all {
		return VerificationVerified
	}
	return VerificationRequiresInput
}

// LastErrorCode is a stable, PII-free code for a step's last outcome, for
// the relying party's view of a verification.
func LastErrorCode(step StepName, o Outcome) string {
	if o == "" || o == OutcomeSuccess {
		return ""
	}
	return string(step) + "_" + string(o)
}

// VerificationAAD binds a verification's sealed identity to its id.
func VerificationAAD(id string) []byte { return []byte("idv/verification/v1|" + id + "|identity") }

// MetadataAAD binds a verification's sealed metadata to its id.
func MetadataAAD(id string) []byte { return []byte("idv/verification/v1|" + id + "|metadata") }

// VerificationEvent is a thin, PII-free webhook event: written in the same
// transaction as the state change it announces (a transactional outbox).
type VerificationEvent struct {
	ID             string             `json:"id"` // the webhook-id, stable across retries
	Type           string             `json:"type"`
	VerificationID string             `json:"verification_id"`
	RelyingPartyID string             `json:"relying_party_id"`
	Status         VerificationStatus `json:"status"`
	CreatedAt      time.Time          `json:"created_at"`
}

// EventType is the webhook event type announcing status s.
func EventType(s VerificationStatus) string { return "verification." + string(s) }

// NewToken returns a random 256-bit secret, URL-safe, and its hash for
// storage: links and API keys are kept only as hashes.
func NewToken(prefix string) (token string, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is the stored form of a link token or an API key (SHA-256, hex:
// the secrets have 256 bits of entropy, so no slow hash is needed).
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Attempt is a new attempt of a verification's step: its capture session
// and job, and, when the step's form changed the identity (a corrected
// address), the new identity sealed under VerificationAAD.
type Attempt struct {
	VerificationID string
	Step           StepName
	CaptureSession CaptureSession
	Job            Job
	Identity       []byte `pii:"false"` // ciphertext (seal), not PII
	// RunInline records the attempt without queueing its job: the caller
	// runs it in the request (jobs.async false).
	RunInline bool
}

// VerificationStore keeps verifications and their steps. Every change that
// moves a status writes its event in the same transaction.
type VerificationStore interface {
	// Verification returns the verification with the given id, or
	// ErrNotFound.
	Verification(ctx context.Context, id string) (Verification, error)
	// BeginAttempt starts an attempt of step in one transaction: the step
	// must be Ready (checked by one guarded statement under the
	// verification's lock), its attempts go up by one, the capture session
	// is recorded and the job enqueued. When the step is not ready nothing
	// is written and the error says why (ECONFLICT in flight or passed,
	// ERATELIMITED out of attempts).
	BeginAttempt(ctx context.Context, a Attempt) (StepRecord, error)
	// AbandonAttempt ends the attempt resultID of step without a result
	// (its marker expired: the check took too long). The attempt is given
	// back. A result that arrives later for it is ignored.
	AbandonAttempt(ctx context.Context, verificationID string, step StepName, resultID string) (Verification, error)
}
