package seal_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

// TestOpenImageKnownAnswer decrypts test case 14 of the GCM specification
// (McGrew and Viega): AES-256, zero key and IV, one zero block, no AAD. It is
// the same construction as WebCrypto's AES-GCM with a 12-byte IV and the
// default 128-bit tag appended.
func TestOpenImageKnownAnswer(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	iv := make([]byte, 12)
	ct, _ := hex.DecodeString("cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919")
	got, err := seal.OpenImage(key, iv, ct)
	if err != nil {
		t.Fatalf("OpenImage: %v", err)
	}
	if !bytes.Equal(got, make([]byte, 16)) {
		t.Fatalf("OpenImage = %x, want 16 zero bytes", got)
	}
	sealed, err := seal.SealImage(key, iv, make([]byte, 16))
	if err != nil || !bytes.Equal(sealed, ct) {
		t.Fatalf("SealImage = %x, %v; want %x", sealed, err, ct)
	}
}

func TestImageRoundTripAndTampering(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	iv := bytes.Repeat([]byte{9}, 12)
	image := []byte("\x89PNG\r\n\x1a\n not really an image")
	ct, err := seal.SealImage(key, iv, image)
	if err != nil {
		t.Fatal(err)
	}
	got, err := seal.OpenImage(key, iv, ct)
	if err != nil || !bytes.Equal(got, image) {
		t.Fatalf("OpenImage = %q, %v", got, err)
	}
	for i := range ct {
		tampered := bytes.Clone(ct)
		tampered[i] ^= 0x01
		_, err := seal.OpenImage(key, iv, tampered)
		wantCode(t, err, idv.ETAMPERED)
	}
	for n := range len(ct) {
		_, err := seal.OpenImage(key, iv, ct[:n])
		wantCode(t, err, idv.ETAMPERED)
	}
	otherIV := bytes.Clone(iv)
	otherIV[0] ^= 1
	_, err = seal.OpenImage(key, otherIV, ct)
	wantCode(t, err, idv.ETAMPERED)
	otherKey := bytes.Clone(key)
	otherKey[31] ^= 1
	_, err = seal.OpenImage(otherKey, iv, ct)
	wantCode(t, err, idv.ETAMPERED)
}

func TestImageRejectsBadKeyAndIV(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	iv := make([]byte, 12)
	ct, err := seal.SealImage(key, iv, []byte("img"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key, iv []byte
	}{
		{"nil key", nil, iv},
		{"AES-128 key", make([]byte, 16), iv},
		{"31-byte key", make([]byte, 31), iv},
		{"33-byte key", make([]byte, 33), iv},
		{"nil iv", key, nil},
		{"16-byte iv", key, make([]byte, 16)},
		{"11-byte iv", key, make([]byte, 11)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := seal.OpenImage(tt.key, tt.iv, ct)
			wantCode(t, err, idv.EINVALID)
			_, err = seal.SealImage(tt.key, tt.iv, []byte("img"))
			wantCode(t, err, idv.EINVALID)
		})
	}
}
