package fake_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
)

func TestSealerOpensOnlyWhatItSealedUnderTheSameAAD(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	plain, aad := []byte("Canaryfirst 900-12-3456"), []byte("idv/result/v1|k1")
	sealed, err := fake.Sealer{}.Seal(ctx, plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) || bytes.Contains(sealed, []byte("Canary")) {
		t.Fatalf("sealed value shows the plaintext: %q", sealed)
	}
	if again, _ := (fake.Sealer{}).Seal(ctx, plain, aad); !bytes.Equal(again, sealed) {
		t.Fatal("sealing is not deterministic")
	}
	if got, err := (fake.Sealer{}).Open(ctx, sealed, aad); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want the plaintext", got, err)
	}
	mangled := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(sealed)) }
	tests := []struct {
		name   string
		sealed []byte
		aad    []byte
	}{
		{"another AAD", sealed, []byte("idv/result/v1|k2")},
		{"no AAD", sealed, nil},
		{"a prefix of the AAD", sealed, aad[:len(aad)-1]},
		{"flipped tag byte", mangled(func(b []byte) []byte { b[0] ^= 1; return b }), aad},
		{"flipped body byte", mangled(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), aad},
		{"truncated", sealed[:len(sealed)-1], aad},
		{"extended", append(bytes.Clone(sealed), 0), aad},
		{"shorter than a tag", sealed[:3], aad},
		{"empty", nil, aad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := fake.Sealer{}.Open(ctx, tc.sealed, tc.aad)
			if idv.ErrorCode(err) != idv.ETAMPERED || got != nil {
				t.Fatalf("Open = %q, %v; want an ETAMPERED error", got, err)
			}
			if bytes.Contains([]byte(err.Error()), []byte("Canary")) {
				t.Fatalf("error quotes the value: %v", err)
			}
		})
	}
}
