package idv

import (
	"crypto/rand"
	"encoding/base64"
	"time"
)

// JobKind names a kind of proofing job. Each kind runs on its own queue so a
// backlog in one step does not stall people in another.
type JobKind string

const (
	JobResolution JobKind = "resolution_proofing"
	JobDocument   JobKind = "document_proofing"
	JobAddress    JobKind = "address_proofing"
)

// JobKinds lists every kind, in flow order.
var JobKinds = []JobKind{JobDocument, JobResolution, JobAddress}

// Queue is the name of the queue the kind runs on.
func (k JobKind) Queue() string { return string(k) }

// StaleJobLimit is the default age after which a job is discarded without
// calling vendors.
const StaleJobLimit = 300 * time.Second

// Job is what the web tier hands to a worker. Routing fields are in clear;
// everything personal is inside EncryptedArguments, sealed with AAD from
// JobAAD(Kind, ResultID).
type Job struct {
	Kind               JobKind   `json:"kind"`
	ResultID           string    `json:"result_id"`
	TraceID            string    `json:"trace_id"`
	EnqueuedAt         time.Time `json:"enqueued_at"`
	EncryptedArguments []byte    `json:"encrypted_arguments" pii:"false"` // ciphertext (seal), not PII
	// VerificationID is the verification the attempt belongs to ("" for an
	// attempt outside any, as in the benchmarks).
	VerificationID string `json:"verification_id,omitempty"`
}

// JobAAD is the additional authenticated data binding sealed job arguments to
// their job kind and result id: arguments copied into another job do not open.
func JobAAD(kind JobKind, resultID string) []byte {
	return []byte("idv/job/v1|" + string(kind) + "|" + resultID)
}

// ResultAAD binds a sealed result to its result-store key.
func ResultAAD(key string) []byte { return []byte("idv/result/v1|" + key) }

// Stale reports whether the job was enqueued more than limit before now.
func (j Job) Stale(now time.Time, limit time.Duration) bool {
	return now.Sub(j.EnqueuedAt) > limit
}

// ResolutionArguments is the plaintext of a resolution job's sealed arguments.
type ResolutionArguments struct {
	Applicant Applicant `json:"applicant"`
}

// AddressArguments is the plaintext of an address (phone) job's arguments.
type AddressArguments struct {
	Applicant Applicant `json:"applicant"`
}

// DocumentArguments is the plaintext of a document job's arguments: where the
// images are and how to open them.
//
// With pre-signed uploads the browser encrypted each image with
// EncryptionKey and its side's IV (AES-256-GCM, tag appended, no AAD) and PUT
// it to its side's URL, which the web tier checked is the URL it issued for
// that side of CaptureID. With ServerSealed the web tier received the images
// itself and stored each one sealed by the envelope under ImageAAD of its
// key, and the browser fields are empty. With ImageEncryption "hpke" the
// browser encrypted each image to the workers' HPKE public key (the object
// carries its key id and encapsulated key, docs/encryption.md): the
// arguments then hold no key and no IV, only the URLs. Either way the
// object keys are DocumentImageKey(CaptureID, side).
type DocumentArguments struct {
	CaptureID       string        `json:"capture_id"`
	ImageEncryption string        `json:"image_encryption,omitempty" pii:"false"` // "hpke" or "" (form key, or ServerSealed): a mode, not a key
	EncryptionKey   []byte        `json:"encryption_key,omitempty" pii:"true"`
	Front           DocumentImage `json:"front,omitzero"`
	Back            DocumentImage `json:"back,omitzero"`
	ServerSealed    bool          `json:"server_sealed,omitempty"`
}

// DocumentImage is one side's browser-encrypted upload: the IV the browser
// encrypted it with (form key only) and the pre-signed URL it was PUT to.
type DocumentImage struct {
	IV  []byte `json:"iv,omitempty" pii:"true"`
	URL string `json:"url,omitempty" pii:"true"`
}

// ImageEncryptionHPKE is DocumentArguments.ImageEncryption for images
// encrypted to the workers' HPKE key.
const ImageEncryptionHPKE = "hpke"

// Image is side's upload, to read or to fill in.
func (d *DocumentArguments) Image(side Side) *DocumentImage {
	if side == SideBack {
		return &d.Back
	}
	return &d.Front
}

// Side is a side of an identity document. Its value names the side in
// object keys, form fields and multipart parts.
type Side string

// The sides of an identity document.
const (
	SideFront Side = "front"
	SideBack  Side = "back"
)

// Sides lists a document's sides in the order they are captured and sent.
var Sides = [...]Side{SideFront, SideBack}

// MaxImageBytes bounds one document image, encrypted or not. The capture
// page refuses bigger files before sending anything.
const MaxImageBytes = 10 << 20

// DocumentImageKey is the object key of one side's image in a document
// capture. captureID is random (NewID), so keys are not guessable, and a key
// names the capture it belongs to, so a worker can check it. Keys are flat
// (no "/"): object stores that map "/" to directories (versitygw's posix
// backend, a local folder) then never race a PUT that creates a directory
// against a DELETE that removes it once empty. The common prefix still
// scopes lifecycle rules and IAM policies.
func DocumentImageKey(captureID string, side Side) string {
	return DocumentImagePrefix + captureID + "-" + string(side)
}

// DocumentImagePrefix starts every document image key.
const DocumentImagePrefix = "document-capture-"

// ImageAAD binds an image the web tier sealed to its object key.
func ImageAAD(key string) []byte { return []byte("idv/image/v1|" + key) }

// CaptureSession is one proofing attempt. The person's web session points at
// it; it points at the result id under which the job stores its result. Each
// attempt gets a new result id, so a late result of an old attempt is never
// read as the new one. It holds no PII.
type CaptureSession struct {
	ID          string    `json:"id"`
	ResultID    string    `json:"result_id"`
	Kind        JobKind   `json:"kind"`
	RequestedAt time.Time `json:"requested_at"`
	// VerificationID is the verification the attempt belongs to, if any.
	VerificationID string `json:"verification_id,omitempty"`
}

// NewID returns a random 128-bit identifier, URL-safe.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
