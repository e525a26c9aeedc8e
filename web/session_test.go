package web

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
)

func TestSealedCodec(t *testing.T) {
	t.Parallel()
	c := SealedCodec{Sealer: fake.Sealer{}}
	deadline := time.Date(2026, 11, 23, 20, 0, 0, 123, time.UTC)
	tests := []struct {
		name   string
		values map[string]any
	}{
		{"empty", map[string]any{}},
		{"strings and bytes", map[string]any{keyVerification: "vrf_abc", keyPtrPref + "phone": "cs|rid", keyPassedPref + "phone": []byte("{}"), keyDocNotes: []byte(`["barcode_attention"]`), "": ""}},
		{"long value", map[string]any{keyDocErrors: bytes.Repeat([]byte("x"), 70000)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := c.Encode(deadline, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			gotDeadline, got, err := c.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !gotDeadline.Equal(deadline) || !reflect.DeepEqual(got, tc.values) {
				t.Fatalf("round trip: %v %#v, want %v %#v", gotDeadline, got, deadline, tc.values)
			}
		})
	}
}

// A value of another type is refused rather than written in a form Decode
// cannot read.
func TestSealedCodecRefusesOtherTypes(t *testing.T) {
	t.Parallel()
	if _, err := (SealedCodec{Sealer: fake.Sealer{}}).Encode(time.Now(), map[string]any{"n": 42, keyVerification: "vrf_abc"}); err == nil {
		t.Fatal("a session with an int value encoded")
	}
}

func TestSealedCodecRefusesMalformedFlat(t *testing.T) {
	t.Parallel()
	good, _ := encodeFlat(time.Now(), map[string]any{"k": "value"})
	for name, plain := range map[string][]byte{
		"not the flat encoding": []byte("\x0fgob-like stream"),
		"truncated deadline":    []byte(flatMagic + "\x00\x01"),
		"truncated value":       good[:len(good)-2],
		"length too long":       append(append([]byte{}, good[:len(flatMagic)+8]...), 's', 0x01, 'k', 0xff, 0x01),
		"unknown kind":          append(append([]byte{}, good[:len(flatMagic)+8]...), 'x', 0x01, 'k', 0x00),
	} {
		sealed, _ := fake.Sealer{}.Seal(context.Background(), plain, sessionAAD)
		if _, _, err := (SealedCodec{Sealer: fake.Sealer{}}).Decode(sealed); idv.ErrorCode(err) != idv.ETAMPERED {
			t.Errorf("%s: err = %v, want ETAMPERED", name, err)
		}
	}
}
