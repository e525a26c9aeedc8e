package webhook

import (
	"encoding/json"
	"time"

	"github.com/idv-dev/idv"
)

// Event types: "verification." and the status the verification entered.
const (
	TypeProcessing    = "verification.processing"
	TypeRequiresInput = "verification.requires_input"
	TypeVerified      = "verification.verified"
	TypeFailed        = "verification.failed"
	TypeCanceled      = "verification.canceled"
	TypeExpired       = "verification.expired"
)

// TypeFor returns the event type for a verification that entered status.
func TypeFor(status string) string { return "verification." + status }

// Event is one thing that happened to a verification, as an RP is told. It
// has no field for anything about the person.
type Event struct {
	// ID is the webhook-id: unique per event and the same on every
	// delivery attempt of it. Letters, digits, '_', '-' and '.' only.
	ID             string
	Type           string // one of the Type constants
	VerificationID string
	Status         string
	// CreatedAt is when the event happened (the body's timestamp).
	CreatedAt time.Time
}

// body is an Event on the wire.
type body struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      bodyData  `json:"data"`
}

type bodyData struct {
	VerificationID string `json:"verification_id"`
	Status         string `json:"status"`
}

// Body returns the JSON body sent for e (see the package documentation).
// It depends only on e, so every attempt sends the same bytes.
func (e Event) Body() ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(body{Type: e.Type, Timestamp: e.CreatedAt.UTC(),
		Data: bodyData{VerificationID: e.VerificationID, Status: e.Status}})
}

func (e Event) validate() error {
	switch {
	case !validID(e.ID):
		return idv.Errorf(idv.EINVALID, "webhook event id must be 1 to 128 letters, digits, '_', '-' or '.'")
	case e.Type == "" || e.VerificationID == "" || e.Status == "":
		return idv.Errorf(idv.EINVALID, "webhook event %s needs a type, a verification id and a status", e.ID)
	case e.CreatedAt.IsZero():
		return idv.Errorf(idv.EINVALID, "webhook event %s needs a creation time", e.ID)
	}
	return nil
}

// validID keeps the id safe in a header and in the signed content, where a
// '.' is no ambiguity (the timestamp that follows it has none).
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}
