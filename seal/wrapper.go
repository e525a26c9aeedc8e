package seal

import (
	"context"
	"errors"

	"github.com/idv-dev/idv"
)

// KeyWrapper creates and unwraps data keys. It is the seam between the
// Envelope and where wrapping keys live: a LocalKeyRing (a key file) or AWS
// KMS, whose GenerateDataKey and Decrypt calls map onto it one to one (key id
// = the key ARN KMS reports, which fits the 255-byte limit of the format;
// wrapped = CiphertextBlob; a KMS wrapper passes a fixed encryption context
// on both calls).
//
// Error contract, which the Envelope relies on to tell a bad value from a
// broken dependency:
//   - a wrapped key that is malformed, tampered with or names a key id the
//     wrapper does not know is an *idv.Error with code idv.ETAMPERED;
//   - a wrapper that cannot be reached (network, throttling, context done)
//     returns any other error; the Envelope reports it as idv.EUNAVAILABLE
//     unless it already carries an idv code.
//
// Error text must be PII-free; key ids are not PII and may be named.
//
// Implementations must be safe for concurrent use. The Envelope zeroes the
// plaintext data keys it is given once it has built a cipher from them, so
// implementations must return slices they do not keep.
type KeyWrapper interface {
	// GenerateDataKey returns a fresh 32-byte data key, its wrapped form
	// and the id of the wrapping key used (the newest one).
	GenerateDataKey(ctx context.Context) (keyID string, plaintext, wrapped []byte, err error)
	// UnwrapDataKey returns the plaintext data key. It fails for unknown
	// key ids or tampered input.
	UnwrapDataKey(ctx context.Context, keyID string, wrapped []byte) ([]byte, error)
}

// wrapperError gives a wrapper's error the code the contract above implies.
func wrapperError(err error) error {
	var e *idv.Error
	if errors.As(err, &e) {
		return err
	}
	return idv.WrapError(idv.EUNAVAILABLE, "key service is unavailable", err)
}
