package web

import (
	"bytes"
	"context"
	"encoding/gob"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/idv-dev/idv"
)

// sessionAAD binds sealed session blobs to their purpose.
var sessionAAD = []byte("idv/session/v1")

// SealedCodec encodes session data with gob and seals it, so the session
// store (Redis) never holds the PII a session carries between steps.
type SealedCodec struct {
	Sealer idv.Sealer
}

var _ scs.Codec = SealedCodec{}

type sessionBlob struct {
	Deadline time.Time
	Values   map[string]any
}

// Encode implements scs.Codec.
func (c SealedCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(sessionBlob{deadline, values}); err != nil {
		return nil, err
	}
	return c.Sealer.Seal(context.Background(), buf.Bytes(), sessionAAD)
}

// Decode implements scs.Codec. A blob that does not open (tampered, or
// sealed under a key that was removed) is an error, which scs reports; the
// person then starts a new session.
func (c SealedCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	plain, err := c.Sealer.Open(context.Background(), b, sessionAAD)
	if err != nil {
		return time.Time{}, nil, err
	}
	var blob sessionBlob
	if err := gob.NewDecoder(bytes.NewReader(plain)).Decode(&blob); err != nil {
		return time.Time{}, nil, idv.WrapError(idv.ETAMPERED, "session data does not decode", err)
	}
	return blob.Deadline, blob.Values, nil
}

// Session keys. Values are strings or []byte only, so gob needs no
// registration and old sessions decode after an upgrade.
const (
	keyApplicant = "applicant" // JSON idv.Applicant: what the person typed or the ID said
	keyDonePref  = "done:"     // done:<step> = JSON outcome summary once the step verified
	keyPtrPref   = "pointer:"  // pointer:<step> = "<capture session id>|<result id>" of the pending attempt
	keyFlash     = "flash"     // one-time message for the next page
)
