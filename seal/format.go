package seal

import (
	"encoding/binary"

	"github.com/idv-dev/idv"
)

// Layout of a sealed value; doc.go describes it in full.
const (
	// formatV1 is the first byte of every version 1 value.
	formatV1 = 0xE1

	// MaxKeyIDLen is the longest key id a sealed value can carry: its
	// length is one byte. KMS key and alias ARNs fit.
	MaxKeyIDLen = 255

	// MaxWrappedKeyLen is the longest wrapped data key accepted: the
	// largest ciphertext KMS returns. Bounding it keeps a forged length
	// from making Open hash or pass along megabytes.
	MaxWrappedKeyLen = 6144

	// DataKeySize is the size of a data key: AES-256.
	DataKeySize = 32

	nonceSize = 12
	tagSize   = 16

	// minSealedLen is the shortest possible value: format byte, key id
	// length, one-byte key id, wrapped length, one-byte wrapped key, nonce,
	// tag.
	minSealedLen = 1 + 1 + 1 + 2 + 1 + nonceSize + tagSize
)

// The errors Open returns for values it cannot parse. They are shared
// values: never modify them.
var (
	errTruncated = &idv.Error{Code: idv.ETAMPERED, Message: "sealed value is truncated"}
	errFormat    = &idv.Error{Code: idv.ETAMPERED, Message: "sealed value has an unknown format"}
	errHeader    = &idv.Error{Code: idv.ETAMPERED, Message: "sealed value has a malformed header"}
	errAuth      = &idv.Error{Code: idv.ETAMPERED, Message: "sealed value failed authentication"}
)

// header is the parsed header of a sealed value. Its slices alias the value.
type header struct {
	raw     []byte // the whole header, authenticated as part of the AAD
	keyID   []byte
	wrapped []byte
}

// appendHeader appends the header for keyID and wrapped to dst. The caller
// has checked both with validKeyID and validWrapped.
func appendHeader(dst []byte, keyID string, wrapped []byte) []byte {
	dst = append(dst, formatV1, byte(len(keyID)))
	dst = append(dst, keyID...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(wrapped)))
	return append(dst, wrapped...)
}

// parseHeader splits a sealed value into its header and the rest (nonce,
// ciphertext, tag). It checks every length before slicing, so no input can
// make it panic.
func parseHeader(b []byte) (h header, body []byte, err error) {
	if len(b) == 0 {
		return header{}, nil, errTruncated
	}
	if b[0] != formatV1 {
		return header{}, nil, errFormat
	}
	if len(b) < minSealedLen {
		return header{}, nil, errTruncated
	}
	k := int(b[1])
	if k == 0 {
		return header{}, nil, errHeader
	}
	if len(b) < 2+k+2 {
		return header{}, nil, errTruncated
	}
	keyID := b[2 : 2+k]
	if !validKeyID(keyID) {
		return header{}, nil, errHeader
	}
	w := int(binary.BigEndian.Uint16(b[2+k:]))
	if w == 0 || w > MaxWrappedKeyLen {
		return header{}, nil, errHeader
	}
	end := 2 + k + 2 + w
	if len(b) < end+nonceSize+tagSize {
		return header{}, nil, errTruncated
	}
	return header{raw: b[:end], keyID: keyID, wrapped: b[2+k+2 : end]}, b[end:], nil
}

// validKeyID reports whether id can be written into a header. Key ids are
// printable ASCII without spaces so that they can be named in error
// messages and logs as they are.
func validKeyID[T string | []byte](id T) bool {
	if len(id) == 0 || len(id) > MaxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7E {
			return false
		}
	}
	return true
}

func validWrapped(w []byte) bool {
	return len(w) > 0 && len(w) <= MaxWrappedKeyLen
}
