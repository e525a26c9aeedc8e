package fake

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"

	"github.com/idv-dev/idv"
)

// Sealer is an idv.Sealer without keys, for tests that need values sealed
// and opened but not real encryption (package seal tests that). A sealed
// value is a 16-byte tag over the AAD and the plaintext, then the plaintext
// masked byte by byte:
//   - deterministic: the same plaintext and AAD always seal the same, so a
//     test can seal what it expects to find;
//   - opaque: no plaintext byte is stored as is, so tests that scan storage
//     for canaries see only masked bytes;
//   - bound to its AAD and tamper-evident: Open with another AAD, or of a
//     value with any byte changed, added or cut, fails with ETAMPERED, as
//     the real envelope does.
//
// The zero value is ready to use.
type Sealer struct {
	// SealFn, when set, answers Seal (a key service that is down).
	SealFn func(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	// OpenFn, when set, answers Open.
	OpenFn func(ctx context.Context, sealed, aad []byte) ([]byte, error)
}

var _ idv.Sealer = Sealer{}

const (
	sealTagSize = 16
	sealMask    = 0x5a
)

// Seal returns plaintext sealed under aad.
func (s Sealer) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if s.SealFn != nil {
		return s.SealFn(ctx, plaintext, aad)
	}
	out := sealTag(aad, plaintext)
	for _, b := range plaintext {
		out = append(out, b^sealMask)
	}
	return out, nil
}

// Open returns the plaintext of a value Seal made with the same aad, or an
// ETAMPERED error that quotes nothing of the value.
func (s Sealer) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	if s.OpenFn != nil {
		return s.OpenFn(ctx, sealed, aad)
	}
	if len(sealed) < sealTagSize {
		return nil, idv.Errorf(idv.ETAMPERED, "sealed value too short")
	}
	plain := make([]byte, len(sealed)-sealTagSize)
	for i, b := range sealed[sealTagSize:] {
		plain[i] = b ^ sealMask
	}
	if !hmac.Equal(sealTag(aad, plain), sealed[:sealTagSize]) {
		return nil, idv.Errorf(idv.ETAMPERED, "sealed value failed authentication")
	}
	return plain, nil
}

// sealTag is a hash of aad and plaintext, length-prefixed so that no other
// split of the same bytes gives the same tag.
func sealTag(aad, plaintext []byte) []byte {
	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(aad))))
	h.Write(aad)
	h.Write(plaintext)
	return h.Sum(nil)[:sealTagSize]
}
