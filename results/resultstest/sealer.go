// Package resultstest is the conformance suite every results.KV backend must
// pass, and the helpers it needs. It is for tests only.
package resultstest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"

	"github.com/idv-dev/idv"
)

// Sealer is AES-256-GCM under a random key made when it is created: enough to
// exercise sealing, including AAD binding, without depending on package seal.
// Its output is nonce || ciphertext || tag. For tests only: the key dies with
// the value.
type Sealer struct {
	aead cipher.AEAD
}

var _ idv.Sealer = (*Sealer)(nil)

// NewSealer returns a Sealer with a fresh random key.
func NewSealer() *Sealer {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &Sealer{aead: aead}
}

// Seal encrypts plaintext bound to aad under a random nonce.
func (s *Sealer) Seal(_ context.Context, plaintext, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, ns, ns+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, idv.WrapError(idv.EINTERNAL, "no randomness for a nonce", err)
	}
	return s.aead.Seal(out, out, plaintext, aad), nil
}

// Open decrypts what Seal produced with the same aad, or fails with ETAMPERED.
func (s *Sealer) Open(_ context.Context, sealed, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < ns+s.aead.Overhead() {
		return nil, idv.Errorf(idv.ETAMPERED, "sealed value too short")
	}
	plain, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], aad)
	if err != nil {
		return nil, idv.Errorf(idv.ETAMPERED, "sealed value failed authentication")
	}
	return plain, nil
}
