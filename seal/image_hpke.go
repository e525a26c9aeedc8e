package seal

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"fmt"

	"github.com/idv-dev/idv"
)

// Document images encrypted by the browser to the workers' HPKE public key
// (RFC 9180; doc_auth.image_encryption: hpke). The suite is fixed by the
// format version: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, base
// mode, one message per context. docs/encryption.md describes the object:
//
//	magic     4 bytes  "IDVI"
//	version   1 byte   0x01
//	kid_len   1 byte   1..ImageKeyIDMax
//	kid       kid_len  bytes, [A-Za-z0-9_-]: the workers' key it was sealed to
//	enc       65 bytes the encapsulated key (uncompressed P-256 point, 0x04...)
//	ct        rest     AES-256-GCM ciphertext with its 16-byte tag
//
// The header (everything before ct) is the AEAD's additional data, so a
// header changed after sealing does not open; info binds the object to its
// capture and side (ImageInfo), so an object moved to another side or
// another person's capture does not open either.

// ImageMagic starts every HPKE-encrypted image.
const ImageMagic = "IDVI"

// ImageFormatVersion is the only version of the object format.
const ImageFormatVersion = 1

// Sizes of the format.
const (
	ImageKeyIDMax = 64 // the longest key id the header carries
	ImageEncSize  = 65 // DHKEM(P-256) encapsulated key: an uncompressed point
	imagePrefix   = len(ImageMagic) + 2
)

// ImageKEM, ImageKDF and ImageAEAD are the suite of format version 1.
func ImageKEM() hpke.KEM   { return hpke.DHKEM(ecdh.P256()) }
func ImageKDF() hpke.KDF   { return hpke.HKDFSHA256() }
func ImageAEAD() hpke.AEAD { return hpke.AES256GCM() }

// ImageInfo is the HPKE info of one side's image in a capture: what the
// browser seals with and the worker opens with. An object sealed for
// another capture or side fails authentication.
func ImageInfo(captureID string, side idv.Side) []byte {
	return []byte("idv/document-image/v1|" + captureID + "|" + string(side))
}

// ImageError is why an HPKE-encrypted image was refused. Code is a document
// error code (idv.DocCodeImage*), what the person is told; the error also
// unwraps to an *idv.Error with code ETAMPERED (or EINVALID), so callers
// that only know idv's codes treat it as an altered ciphertext.
type ImageError struct {
	Code string
	Err  error
}

func (e *ImageError) Error() string { return e.Code + ": " + e.Err.Error() }
func (e *ImageError) Unwrap() error { return e.Err }

func imageErr(code, format string, a ...any) error {
	return &ImageError{Code: code, Err: idv.Errorf(idv.ETAMPERED, format, a...)}
}

// ImageCode is the document error code of an error from this file's
// functions, or "" when err is not an ImageError.
func ImageCode(err error) string {
	var ie *ImageError
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

// ImageHeader is the parsed header of an HPKE-encrypted image.
type ImageHeader struct {
	KeyID string
	Enc   []byte // aliases the object
	Size  int    // header length: the object's AAD is obj[:Size]
}

// ParseImageHeader reads the header of obj. Running out of bytes inside the
// header, or an object with no room for the AEAD tag after it, is
// DocCodeImageTruncated; a wrong magic, version, key id length or key id
// byte, or an encapsulated key that is not an uncompressed point, is
// DocCodeImageHeaderInvalid. Nothing is decrypted here; it is a pure
// function of obj (FuzzParseImageHeader).
func ParseImageHeader(obj []byte) (ImageHeader, error) {
	n := min(len(obj), len(ImageMagic))
	if !bytes.Equal(obj[:n], []byte(ImageMagic)[:n]) {
		return ImageHeader{}, imageErr(idv.DocCodeImageHeaderInvalid, "image header: not an idv image")
	}
	if len(obj) < imagePrefix {
		return ImageHeader{}, imageErr(idv.DocCodeImageTruncated, "image header: truncated at %d bytes", len(obj))
	}
	if v := obj[len(ImageMagic)]; v != ImageFormatVersion {
		return ImageHeader{}, imageErr(idv.DocCodeImageHeaderInvalid, "image header: unknown version %d", v)
	}
	kidLen := int(obj[len(ImageMagic)+1])
	if kidLen < 1 || kidLen > ImageKeyIDMax {
		return ImageHeader{}, imageErr(idv.DocCodeImageHeaderInvalid, "image header: key id length %d", kidLen)
	}
	size := imagePrefix + kidLen + ImageEncSize
	if len(obj) < imagePrefix+kidLen {
		return ImageHeader{}, imageErr(idv.DocCodeImageTruncated, "image header: truncated at %d bytes", len(obj))
	}
	kid := obj[imagePrefix : imagePrefix+kidLen]
	for _, c := range kid {
		if !keyIDByte(c) {
			return ImageHeader{}, imageErr(idv.DocCodeImageHeaderInvalid, "image header: key id has a byte outside [A-Za-z0-9_-]")
		}
	}
	if len(obj) > imagePrefix+kidLen && obj[imagePrefix+kidLen] != 0x04 {
		return ImageHeader{}, imageErr(idv.DocCodeImageHeaderInvalid, "image header: encapsulated key is not an uncompressed point")
	}
	if len(obj) < size+tagSize {
		return ImageHeader{}, imageErr(idv.DocCodeImageTruncated, "image: %d bytes, shorter than its header and tag (%d)", len(obj), size+tagSize)
	}
	return ImageHeader{KeyID: string(kid), Enc: obj[size-ImageEncSize : size], Size: size}, nil
}

func keyIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// ValidImageKeyID reports whether kid fits in an image header.
func ValidImageKeyID(kid string) bool {
	if len(kid) < 1 || len(kid) > ImageKeyIDMax {
		return false
	}
	for i := 0; i < len(kid); i++ {
		if !keyIDByte(kid[i]) {
			return false
		}
	}
	return true
}

// OpenImageHPKE opens obj, whose header h was parsed from it, with the
// private key of h.KeyID and the info of its capture and side. A failed
// decapsulation or authentication is DocCodeImageUnreadable.
func OpenImageHPKE(priv hpke.PrivateKey, h ImageHeader, obj, info []byte) ([]byte, error) {
	r, err := hpke.NewRecipient(h.Enc, priv, ImageKDF(), ImageAEAD(), info)
	if err != nil {
		// An enc that is not a point on the curve.
		return nil, imageErr(idv.DocCodeImageHeaderInvalid, "image header: encapsulated key does not decapsulate")
	}
	plain, err := r.Open(obj[:h.Size], obj[h.Size:])
	if err != nil {
		return nil, imageErr(idv.DocCodeImageUnreadable, "encrypted image failed authentication")
	}
	return plain, nil
}

// SealImageHPKE encrypts plaintext to pub as the capture page's script
// does, for tests, benchmarks and simulators.
func SealImageHPKE(pub hpke.PublicKey, kid string, info, plaintext []byte) ([]byte, error) {
	if !ValidImageKeyID(kid) {
		return nil, idv.Errorf(idv.EINVALID, "image key id %q does not fit the header", kid)
	}
	enc, s, err := hpke.NewSender(pub, ImageKDF(), ImageAEAD(), info)
	if err != nil {
		return nil, idv.WrapError(idv.EINVALID, "image public key", err)
	}
	if len(enc) != ImageEncSize {
		return nil, idv.Errorf(idv.EINVALID, "image public key is not a P-256 key")
	}
	hdr := make([]byte, 0, imagePrefix+len(kid)+ImageEncSize+len(plaintext)+tagSize)
	hdr = append(hdr, ImageMagic...)
	hdr = append(hdr, ImageFormatVersion, byte(len(kid)))
	hdr = append(hdr, kid...)
	hdr = append(hdr, enc...)
	out, err := s.Seal(hdr, plaintext)
	if err != nil {
		return nil, idv.WrapError(idv.EINTERNAL, "seal image", err)
	}
	return append(hdr, out...), nil
}

// String names the header without its enc, for logs.
func (h ImageHeader) String() string {
	return fmt.Sprintf("image header{kid %s, %d bytes}", h.KeyID, h.Size)
}
