package seal

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"slices"

	"github.com/idv-dev/idv"
)

// MasterKeySize is the size of a LocalKeyRing master key: AES-256.
const MasterKeySize = 32

// wrappedLocalLen is the size of a data key wrapped by a LocalKeyRing:
// nonce, encrypted key, tag.
const wrappedLocalLen = nonceSize + DataKeySize + tagSize

// LocalKeyRing is a KeyWrapper holding master keys in memory, for
// development (`idv dev`, a key file) and tests. It wraps data keys with
// AES-256-GCM under the current master key, with the AAD
// "idv/datakey/v1|"+keyID so that a wrapped key relabelled with another key
// id does not unwrap. It unwraps with whichever master key the id names, so
// values sealed before a rotation still open.
type LocalKeyRing struct {
	keys    map[string]cipher.AEAD
	current string
}

var _ KeyWrapper = (*LocalKeyRing)(nil)

// NewLocalKeyRing returns a ring of the given 32-byte master keys, wrapping
// new data keys with keys[current]. Key ids must be 1 to 255 printable ASCII
// characters without spaces. The key bytes are copied into ciphers; the
// caller may clear them afterwards.
func NewLocalKeyRing(keys map[string][]byte, current string) (*LocalKeyRing, error) {
	if len(keys) == 0 {
		return nil, idv.Errorf(idv.EINVALID, "key ring has no keys")
	}
	r := &LocalKeyRing{keys: make(map[string]cipher.AEAD, len(keys)), current: current}
	for id, key := range keys {
		if !validKeyID(id) {
			return nil, idv.Errorf(idv.EINVALID, "key id %q is not 1 to %d printable ASCII characters", id, MaxKeyIDLen)
		}
		if len(key) != MasterKeySize {
			return nil, idv.Errorf(idv.EINVALID, "key %q is %d bytes, want %d", id, len(key), MasterKeySize)
		}
		aead, err := newAEAD(key)
		if err != nil {
			return nil, err
		}
		r.keys[id] = aead
	}
	if _, ok := r.keys[current]; !ok {
		return nil, idv.Errorf(idv.EINVALID, "current key %q is not in the key ring", current)
	}
	return r, nil
}

// CurrentKeyID returns the id of the key new data keys are wrapped with.
func (r *LocalKeyRing) CurrentKeyID() string { return r.current }

// KeyIDs returns the ids of all keys in the ring, sorted.
func (r *LocalKeyRing) KeyIDs() []string {
	ids := make([]string, 0, len(r.keys))
	for id := range r.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// GenerateDataKey returns a random data key wrapped under the current key.
func (r *LocalKeyRing) GenerateDataKey(_ context.Context) (keyID string, plaintext, wrapped []byte, err error) {
	plaintext = make([]byte, DataKeySize)
	// crypto/rand.Read never fails: the program crashes if the system
	// cannot provide randomness.
	_, _ = rand.Read(plaintext)
	wrapped = r.keys[r.current].Seal(nil, nil, plaintext, dataKeyAAD(r.current))
	return r.current, plaintext, wrapped, nil
}

// UnwrapDataKey returns the data key wrapped under keyID. An unknown key id
// or a wrapped key that fails authentication is idv.ETAMPERED.
func (r *LocalKeyRing) UnwrapDataKey(_ context.Context, keyID string, wrapped []byte) ([]byte, error) {
	aead, ok := r.keys[keyID]
	if !ok {
		return nil, unknownKeyError(keyID)
	}
	if len(wrapped) != wrappedLocalLen {
		return nil, idv.Errorf(idv.ETAMPERED, "sealed value has a malformed data key")
	}
	plain, err := aead.Open(nil, nil, wrapped, dataKeyAAD(keyID))
	if err != nil {
		return nil, idv.Errorf(idv.ETAMPERED, "sealed value's data key failed authentication under key %q", keyID)
	}
	return plain, nil
}

// dataKeyAAD binds a wrapped data key to the id of the key that wrapped it.
func dataKeyAAD(keyID string) []byte { return []byte("idv/datakey/v1|" + keyID) }

// unknownKeyError names the key id (not PII) so an operator can tell a
// missing key from a forged value. Ids that could not have come from a
// valid header are not echoed.
func unknownKeyError(keyID string) error {
	if !validKeyID(keyID) {
		return idv.Errorf(idv.ETAMPERED, "sealed value names an unknown key")
	}
	return idv.Errorf(idv.ETAMPERED, "sealed value names unknown key %q", keyID)
}

// String describes the ring without its key material.
func (r *LocalKeyRing) String() string {
	return fmt.Sprintf("LocalKeyRing(current=%s, keys=%d)", r.current, len(r.keys))
}
