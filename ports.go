package idv

import (
	"context"
	"time"
)

// Sealer encrypts and authenticates small values (job arguments, results,
// session data). Open fails with an ETAMPERED *Error for any ciphertext that
// was altered, truncated, sealed with other AAD or under an unknown key.
type Sealer interface {
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

// ResultStore keeps the sealed status of each attempt for ResultTTL.
type ResultStore interface {
	// Store writes r under id with a TTL of ResultTTL, replacing any value.
	Store(ctx context.Context, id string, r AsyncResult) error
	// Load returns the stored value, or ErrNotFound when it expired or was
	// never written.
	Load(ctx context.Context, id string) (AsyncResult, error)
	// Changed returns a channel that receives (best effort) after the value
	// under id is next written. It is closed when ctx is done. Readers must
	// not rely on it alone: they re-Load on a fallback interval too.
	Changed(ctx context.Context, id string) <-chan struct{}
}

// Queue records attempts and hands their jobs to workers.
type Queue interface {
	// Submit records the capture session and enqueues its job in one
	// transaction: either both exist or neither does.
	Submit(ctx context.Context, cs CaptureSession, job Job) error
	// CaptureSession returns the attempt with the given id or ErrNotFound.
	CaptureSession(ctx context.Context, id string) (CaptureSession, error)
}

// JobHandler does the work of one job kind. A returned error is an
// infrastructure fault (the job may be retried); vendor faults are results.
type JobHandler interface {
	Handle(ctx context.Context, job Job) error
}

// ResolutionProofer checks a person's name, date of birth, SSN and address
// against an identity-resolution vendor.
type ResolutionProofer interface {
	ProofResolution(ctx context.Context, a Applicant) VendorResult
}

// StateIDProofer checks a state-issued ID against the issuing state's records.
type StateIDProofer interface {
	ProofStateID(ctx context.Context, a Applicant) VendorResult
}

// PhoneProofer checks that a phone number belongs to the person.
type PhoneProofer interface {
	ProofPhone(ctx context.Context, a Applicant) VendorResult
}

// DocumentProofer authenticates images of an identity document and reads the
// PII printed on it.
type DocumentProofer interface {
	ProofDocument(ctx context.Context, front, back []byte) (VendorResult, *Applicant)
}

// ObjectStore keeps the images of identity documents. In the pre-signed
// flow the browser PUTs each image, already encrypted in the browser, straight
// to the store through a URL from PresignPut, and the worker Gets it; with
// pre-signed uploads off, the web tier Puts images it sealed itself. Keys
// come from DocumentImageKey. No method's error may quote object content.
type ObjectStore interface {
	// PresignPut returns a URL through which an HTTP PUT with
	// Content-Type application/octet-stream and a Content-Length of
	// exactly size bytes (1 to MaxImageBytes) may write the object at key
	// until expires from now; a body of any other length, or one sent
	// without a Content-Length, is refused. Nothing is contacted: the URL
	// is signed locally.
	PresignPut(ctx context.Context, key string, size int64, expires time.Duration) (string, error)
	// Put writes data at key, replacing any object there.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the object at key. A missing object is ErrNotFound (an
	// *Error with code ENOTFOUND); an object over MaxImageBytes is
	// EINVALID; an unreachable store is EUNAVAILABLE.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes the object at key; a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// KeyFromURL returns the object key of a URL that PresignPut of this
	// store could have issued, ignoring its query string (the signature).
	// Any other URL (scheme, host, port, bucket or path outside the store)
	// is an EINVALID error, decided without any request being made.
	KeyFromURL(rawURL string) (string, error)
}

// OutcomeRecord is the lasting record of a finished attempt: what was
// decided, by which vendors, with their transaction ids and timings. It has
// no PII field: VendorResult carries attribute names and codes only.
type OutcomeRecord struct {
	ResultID         string    `json:"result_id"`
	Kind             JobKind   `json:"kind"`
	TraceID          string    `json:"trace_id"`
	Outcome          Outcome   `json:"outcome"`
	Stages           []Stage   `json:"stages"`
	FailedAttributes []string  `json:"failed_attributes,omitempty"`
	FinishedAt       time.Time `json:"finished_at"`
	// VerificationID, when set, makes the outcome also finish the step's
	// attempt in the verification, in the same transaction as this row.
	VerificationID string `json:"verification_id,omitempty"`
	// Identity, when set on a passed document step, is the identity read
	// from the document, sealed under VerificationAAD: it becomes the
	// verification's bound identity.
	Identity []byte `json:"-" pii:"false"` // ciphertext (seal), not PII
}

// OutcomeRecorder keeps OutcomeRecords (in PostgreSQL, beside the jobs).
type OutcomeRecorder interface {
	RecordOutcome(ctx context.Context, r OutcomeRecord) error
}
