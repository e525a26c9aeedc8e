package web

import (
	"bytes"
	"context"
	"encoding/binary"
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
	plain, ok := encodeFlat(deadline, values)
	if !ok {
		// A value of another type: gob handles anything registered.
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(sessionBlob{deadline, values}); err != nil {
			return nil, err
		}
		plain = buf.Bytes()
	}
	return c.Sealer.Seal(context.Background(), plain, sessionAAD)
}

// flatMagic starts the flat encoding. A gob stream never starts with a
// zero byte (its first byte is a message length), so both decode.
const flatMagic = "\x00S1"

// encodeFlat writes a session whose values are all strings or []byte (what
// idv stores) without gob, whose decoder compiles the type description on
// every request: status polls load a session each time. Layout: flatMagic,
// the deadline (Unix nanoseconds, 8 bytes big-endian), then per value a
// kind byte ('s' string, 'b' bytes), the key and the value, each preceded
// by its length as a uvarint.
func encodeFlat(deadline time.Time, values map[string]any) ([]byte, bool) {
	b := make([]byte, 0, 256)
	b = append(b, flatMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(deadline.UnixNano()))
	for k, v := range values {
		switch v := v.(type) {
		case string:
			b = append(b, 's')
			b = appendField(appendField(b, k), v)
		case []byte:
			b = append(b, 'b')
			b = appendField(appendField(b, k), string(v))
		default:
			return nil, false
		}
	}
	return b, true
}

func appendField(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decodeFlat reads encodeFlat's layout; ok is false for anything malformed.
func decodeFlat(b []byte) (deadline time.Time, values map[string]any, ok bool) {
	b = b[len(flatMagic):]
	if len(b) < 8 {
		return time.Time{}, nil, false
	}
	deadline = time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
	b = b[8:]
	values = map[string]any{}
	field := func() (string, bool) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return "", false
		}
		s := string(b[w : w+int(n)])
		b = b[w+int(n):]
		return s, true
	}
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		k, ok1 := field()
		v, ok2 := field()
		if !ok1 || !ok2 {
			return time.Time{}, nil, false
		}
		switch kind {
		case 's':
			values[k] = v
		case 'b':
			values[k] = []byte(v)
		default:
			return time.Time{}, nil, false
		}
	}
	return deadline, values, true
}

// Decode implements scs.Codec. A blob that does not open (tampered, or
// sealed under a key that was removed) is an error, which scs reports; the
// person then starts a new session.
func (c SealedCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	plain, err := c.Sealer.Open(context.Background(), b, sessionAAD)
	if err != nil {
		return time.Time{}, nil, err
	}
	if bytes.HasPrefix(plain, []byte(flatMagic)) {
		deadline, values, ok := decodeFlat(plain)
		if !ok {
			return time.Time{}, nil, idv.Errorf(idv.ETAMPERED, "session data does not decode")
		}
		return deadline, values, nil
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
