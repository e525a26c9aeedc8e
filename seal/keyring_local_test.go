package seal_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

func TestNewLocalKeyRingValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		keys    map[string][]byte
		current string
	}{
		{"no keys", nil, "k1"},
		{"current missing", map[string][]byte{"k1": masterK1}, "k2"},
		{"short key", map[string][]byte{"k1": masterK1[:16]}, "k1"},
		{"empty id", map[string][]byte{"": masterK1}, ""},
		{"id with space", map[string][]byte{"k 1": masterK1}, "k 1"},
		{"id too long", map[string][]byte{strings.Repeat("k", 256): masterK1}, strings.Repeat("k", 256)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := seal.NewLocalKeyRing(tt.keys, tt.current)
			wantCode(t, err, idv.EINVALID, string(masterK1))
		})
	}
}

func TestLocalKeyRingWrapsWithCurrentUnwrapsWithAny(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := newRing(t, map[string][]byte{"k1": masterK1}, "k1")
	both := newRing(t, map[string][]byte{"k1": masterK1, "k2": masterK2}, "k2")
	if got := both.KeyIDs(); len(got) != 2 || got[0] != "k1" || got[1] != "k2" {
		t.Fatalf("KeyIDs = %v", got)
	}

	id1, key1, wrapped1, err := old.GenerateDataKey(ctx)
	if err != nil || id1 != "k1" || len(key1) != 32 {
		t.Fatalf("GenerateDataKey = %q, %d bytes, %v", id1, len(key1), err)
	}
	id2, key2, wrapped2, err := both.GenerateDataKey(ctx)
	if err != nil || id2 != "k2" || bytes.Equal(key1, key2) {
		t.Fatalf("GenerateDataKey = %q, %v", id2, err)
	}
	for _, c := range []struct {
		ring    *seal.LocalKeyRing
		id      string
		wrapped []byte
		want    []byte
	}{
		{both, "k1", wrapped1, key1},
		{both, "k2", wrapped2, key2},
		{old, "k1", wrapped1, key1},
	} {
		got, err := c.ring.UnwrapDataKey(ctx, c.id, c.wrapped)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Fatalf("UnwrapDataKey(%s) = %x, %v", c.id, got, err)
		}
	}

	// The key id is bound to the wrapped key: relabelled, it fails.
	_, err = both.UnwrapDataKey(ctx, "k2", wrapped1)
	wantCode(t, err, idv.ETAMPERED)
	_, err = old.UnwrapDataKey(ctx, "k2", wrapped2)
	wantCode(t, err, idv.ETAMPERED)
	if !strings.Contains(err.Error(), `"k2"`) {
		t.Fatalf("unknown key error %q does not name the key", err)
	}
	_, err = old.UnwrapDataKey(ctx, "bad id\n", wrapped1)
	wantCode(t, err, idv.ETAMPERED)
	if strings.Contains(err.Error(), "bad id") {
		t.Fatalf("error %q echoes an invalid key id", err)
	}
	for i := range wrapped1 {
		tampered := bytes.Clone(wrapped1)
		tampered[i] ^= 0x01
		_, err := old.UnwrapDataKey(ctx, "k1", tampered)
		wantCode(t, err, idv.ETAMPERED)
	}
	_, err = old.UnwrapDataKey(ctx, "k1", wrapped1[:59])
	wantCode(t, err, idv.ETAMPERED)
}

func TestLocalKeyRingStringHidesKeys(t *testing.T) {
	t.Parallel()
	r := ringK1(t)
	if s := r.String(); strings.Contains(s, string(masterK1)) || !strings.Contains(s, "k1") {
		t.Fatalf("String() = %q", s)
	}
}
