package seal_test

import (
	"bytes"
	"crypto/hpke"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

func imageKey(t testing.TB) hpke.PrivateKey {
	t.Helper()
	k, err := seal.ImageKEM().GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sealHPKE(t testing.TB, k hpke.PrivateKey, kid string, info, plain []byte) []byte {
	t.Helper()
	obj, err := seal.SealImageHPKE(k.PublicKey(), kid, info, plain)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func openHPKE(k hpke.PrivateKey, obj, info []byte) ([]byte, error) {
	h, err := seal.ParseImageHeader(obj)
	if err != nil {
		return nil, err
	}
	return seal.OpenImageHPKE(k, h, obj, info)
}

// Objects sealed in Go open with the same key and info, whatever their
// size, and the header is the documented one.
func TestImageHPKERoundTrip(t *testing.T) {
	t.Parallel()
	k := imageKey(t)
	info := seal.ImageInfo("cap1", idv.SideFront)
	for _, n := range []int{0, 1, 4096, 1 << 20} {
		plain := bytes.Repeat([]byte{byte(n)}, n)
		obj := sealHPKE(t, k, "kid-1", info, plain)
		if want := 4 + 1 + 1 + len("kid-1") + 65 + n + 16; len(obj) != want {
			t.Fatalf("%d bytes sealed to %d, want %d", n, len(obj), want)
		}
		if !bytes.HasPrefix(obj, []byte("IDVI\x01\x05kid-1\x04")) {
			t.Fatalf("header %x", obj[:12])
		}
		got, err := openHPKE(k, obj, info)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: open = %d bytes, %v", n, len(got), err)
		}
	}
}

// Every way an object can be wrong has its code, and none opens.
func TestImageHPKERefusals(t *testing.T) {
	t.Parallel()
	k, other := imageKey(t), imageKey(t)
	info := seal.ImageInfo("cap1", idv.SideFront)
	good := sealHPKE(t, k, "kid-1", info, []byte("a photo"))
	hdr := 4 + 2 + 5 + 65
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		obj  []byte
		info []byte
		key  hpke.PrivateKey
		want string
	}{
		{"empty", nil, info, k, idv.DocCodeImageTruncated},
		{"magic only", good[:4], info, k, idv.DocCodeImageTruncated},
		{"ends in the key id", good[:8], info, k, idv.DocCodeImageTruncated},
		{"ends in enc", good[:hdr-1], info, k, idv.DocCodeImageTruncated},
		{"no tag", good[:hdr+15], info, k, idv.DocCodeImageTruncated},
		{"ciphertext cut", good[:len(good)-1], info, k, idv.DocCodeImageUnreadable},
		{"not idv's", []byte("\xff\xd8\xff\xe0 a plain JPEG, not encrypted at all"), info, k, idv.DocCodeImageHeaderInvalid},
		{"form-key ciphertext", bytes.Repeat([]byte{7}, 64), info, k, idv.DocCodeImageHeaderInvalid},
		{"version 2", mut(func(b []byte) []byte { b[4] = 2; return b }), info, k, idv.DocCodeImageHeaderInvalid},
		{"key id length 0", mut(func(b []byte) []byte { b[5] = 0; return b }), info, k, idv.DocCodeImageHeaderInvalid},
		{"key id length 65", mut(func(b []byte) []byte { b[5] = 65; return b }), info, k, idv.DocCodeImageHeaderInvalid},
		{"key id byte", mut(func(b []byte) []byte { b[7] = '/'; return b }), info, k, idv.DocCodeImageHeaderInvalid},
		{"compressed enc", mut(func(b []byte) []byte { b[11] = 0x02; return b }), info, k, idv.DocCodeImageHeaderInvalid},
		{"enc off the curve", mut(func(b []byte) []byte { b[20] ^= 1; return b }), info, k, idv.DocCodeImageHeaderInvalid},
		{"key id changed", mut(func(b []byte) []byte { b[10] = '2'; return b }), info, k, idv.DocCodeImageUnreadable},
		{"ciphertext flipped", mut(func(b []byte) []byte { b[hdr] ^= 1; return b }), info, k, idv.DocCodeImageUnreadable},
		{"tag flipped", mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), info, k, idv.DocCodeImageUnreadable},
		{"other side", good, seal.ImageInfo("cap1", idv.SideBack), k, idv.DocCodeImageUnreadable},
		{"other capture", good, seal.ImageInfo("cap2", idv.SideFront), k, idv.DocCodeImageUnreadable},
		{"other key", good, info, other, idv.DocCodeImageUnreadable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := openHPKE(tc.key, tc.obj, tc.info)
			if got != nil || seal.ImageCode(err) != tc.want || idv.ErrorCode(err) != idv.ETAMPERED {
				t.Fatalf("open = %q, %v (code %q); want %s", got, err, seal.ImageCode(err), tc.want)
			}
		})
	}
	if _, err := seal.SealImageHPKE(k.PublicKey(), "no/slash", info, nil); idv.ErrorCode(err) != idv.EINVALID {
		t.Errorf("a key id that does not fit: %v", err)
	}
}

// FuzzParseImageHeader: any bytes parse or are refused with one of the two
// header codes, never a panic; what parses has a valid key id, a 65-byte
// enc inside the object and room for the tag, and its header serializes
// back to the object's first bytes.
func FuzzParseImageHeader(f *testing.F) {
	k, err := seal.ImageKEM().GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []int{0, 3, 200} {
		obj, err := seal.SealImageHPKE(k.PublicKey(), "kid_"+string(rune('a'+n%26)), seal.ImageInfo("c", idv.SideBack), make([]byte, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(obj)
		f.Add(obj[:len(obj)/2])
	}
	f.Add([]byte("IDVI"))
	f.Add([]byte("IDVI\x01\x40"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, obj []byte) {
		h, err := seal.ParseImageHeader(obj)
		if err != nil {
			if c := seal.ImageCode(err); c != idv.DocCodeImageHeaderInvalid && c != idv.DocCodeImageTruncated {
				t.Fatalf("code %q: %v", c, err)
			}
			return
		}
		if !seal.ValidImageKeyID(h.KeyID) || len(h.Enc) != seal.ImageEncSize || h.Enc[0] != 4 || h.Size+16 > len(obj) {
			t.Fatalf("parsed %s from %d bytes", h, len(obj))
		}
		re := append(append(append([]byte(seal.ImageMagic), seal.ImageFormatVersion, byte(len(h.KeyID))), h.KeyID...), h.Enc...)
		if !bytes.Equal(re, obj[:h.Size]) {
			t.Fatalf("header does not serialize back")
		}
	})
}
