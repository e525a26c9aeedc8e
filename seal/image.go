package seal

import (
	"crypto/aes"
	"crypto/cipher"

	"github.com/idv-dev/idv"
)

// Sizes of the browser's image encryption (WebCrypto AES-GCM defaults).
const (
	ImageKeySize = 32
	ImageIVSize  = 12
)

// OpenImage decrypts an image the browser encrypted with WebCrypto:
// AES-256-GCM under key with the 12-byte iv, no additional data, the 16-byte
// tag appended to the ciphertext. A key or IV of the wrong size is
// idv.EINVALID (the form carried bad values); a ciphertext that is too short
// or fails authentication is idv.ETAMPERED.
func OpenImage(key, iv, ciphertext []byte) ([]byte, error) {
	aead, err := imageAEAD(key, iv)
	if err != nil {
		return nil, err
	}
	if len(ciphertext) < tagSize {
		return nil, idv.Errorf(idv.ETAMPERED, "encrypted image is truncated")
	}
	plain, err := aead.Open(nil, iv, ciphertext, nil)
	if err != nil {
		return nil, idv.Errorf(idv.ETAMPERED, "encrypted image failed authentication")
	}
	return plain, nil
}

// SealImage encrypts plaintext as the browser does, for tests, benchmarks and
// simulators. Never reuse an iv with the same key.
func SealImage(key, iv, plaintext []byte) ([]byte, error) {
	aead, err := imageAEAD(key, iv)
	if err != nil {
		return nil, err
	}
	return aead.Seal(nil, iv, plaintext, nil), nil
}

func imageAEAD(key, iv []byte) (cipher.AEAD, error) {
	if len(key) != ImageKeySize {
		return nil, idv.Errorf(idv.EINVALID, "image key is %d bytes, want %d", len(key), ImageKeySize)
	}
	if len(iv) != ImageIVSize {
		return nil, idv.Errorf(idv.EINVALID, "image IV is %d bytes, want %d", len(iv), ImageIVSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, idv.WrapError(idv.EINTERNAL, "cannot create image cipher", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, idv.WrapError(idv.EINTERNAL, "cannot create image cipher", err)
	}
	return aead, nil
}
