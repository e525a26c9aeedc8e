package web

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/idv-dev/idv"
)

// The person's session: what it holds between steps, how it is sealed at
// rest, and how it is loaded when the session store fails.

// sessionAAD binds sealed session blobs to their purpose.
var sessionAAD = []byte("idv/session/v1")

// SealedCodec encodes session data flat (encodeFlat) and seals it, so the
// session store (Redis) never holds the PII a session carries between steps.
type SealedCodec struct {
	Sealer idv.Sealer
}

var _ scs.Codec = SealedCodec{}

// Encode implements scs.Codec.
func (c SealedCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	plain, ok := encodeFlat(deadline, values)
	if !ok {
		return nil, idv.Errorf(idv.EINTERNAL, "session value of a type other than string or []byte")
	}
	return c.Sealer.Seal(context.Background(), plain, sessionAAD)
}

// flatMagic starts the flat encoding, naming its version.
const flatMagic = "\x00S1"

// encodeFlat writes a session whose values are all strings or []byte (all
// idv stores) without reflection: status polls load a session each time, so
// decoding must be cheap (gob, used before, compiled the type description on
// every request). It reports false for a value of another type. Layout: flatMagic,
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
	if !bytes.HasPrefix(plain, []byte(flatMagic)) {
		return time.Time{}, nil, idv.Errorf(idv.ETAMPERED, "session data does not decode")
	}
	deadline, values, ok := decodeFlat(plain)
	if !ok {
		return time.Time{}, nil, idv.Errorf(idv.ETAMPERED, "session data does not decode")
	}
	return deadline, values, nil
}

// Session keys. Values are strings or []byte only (encodeFlat). Nothing is
// put in a session before it is bound to a verification (serveLink, or
// selfServe in `idv dev`): every page that puts anything sits behind
// requireVerification, so an anonymous visitor is never stored and never
// given a cookie (scs saves only a session that was changed), and anonymous
// traffic cannot fill the session store (TestAnonymousGetsStoreNoSession).
// Keep it so: a page open to anonymous visitors must not put.
const (
	// keyVerification (verification.go) is the verification's id. The
	// session holds no PII: the identity lives, sealed, in the
	// verification.
	keyPtrPref    = "pointer:"    // pointer:<step> = "<capture session id>|<result id>" of the attempt in flight
	keyPassedPref = "done:"       // done:<step> = JSON passedStep once the step passed
	keyDocCapture = "doc_capture" // capture id of the document attempt being prepared, until it is submitted
	keyDocErrors  = "doc_errors"  // JSON []string of the document codes of the last failed attempt
	keyDocNotes   = "doc_notes"   // JSON []string of the codes a passed document came with
	keyLimited    = "limited"     // JSON limitedAt: the limit the last refused submit reached (no PII)
)

// cutPointer splits a pointer into its capture session and result ids.
func cutPointer(ptr string) (captureID, resultID string, ok bool) {
	return strings.Cut(ptr, "|")
}

// readSession loads the person's session for next without ever saving it.
func (s *Server) readSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var token string
		if c, err := r.Cookie(s.sessions.Cookie.Name); err == nil {
			token = c.Value
		}
		ctx, err := s.sessions.Load(r.Context(), token)
		if err != nil {
			if idv.ErrorCode(err) == idv.ETAMPERED {
				writeJSON(w, http.StatusOK, map[string]string{"status": string(idv.StatusNone)})
				return
			}
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// sessionError handles a session that cannot be loaded or saved: a blob that
// does not open starts a new session; a store outage is a 503.
func (s *Server) sessionError(w http.ResponseWriter, r *http.Request, err error) {
	if idv.ErrorCode(err) == idv.ETAMPERED {
		s.log.WarnContext(r.Context(), "session does not open; starting a new one", "error", err.Error())
		http.SetCookie(w, &http.Cookie{Name: s.sessions.Cookie.Name, Value: "", Path: "/", MaxAge: -1})
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.fail(w, r, idv.WrapError(idv.EUNAVAILABLE, "session store unavailable", err))
}
