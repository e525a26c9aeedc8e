package queue

import (
	"bytes"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/receipt"
)

// The signing key store on both backends: rows round-trip, newest first,
// a retirement time is set once, a duplicate id is a conflict.
func TestSigningKeyStore(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		store := q.SigningKeys()
		if keys, err := store.ListKeys(ctx(t)); err != nil || len(keys) != 0 {
			t.Fatalf("empty store: %v, %v", keys, err)
		}
		t0 := time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC)
		key := func(id string, created time.Time) receipt.StoredKey {
			return receipt.StoredKey{ID: id, PublicKey: []byte("pub-" + id), SealedPrivateKey: []byte{0, 1, 2, byte(len(id))}, CreatedAt: created}
		}
		a, b, c := key("a", t0), key("b", t0.Add(time.Hour)), key("c", t0.Add(time.Hour))
		for _, k := range []receipt.StoredKey{a, c, b} {
			if err := store.InsertKey(ctx(t), k); err != nil {
				t.Fatalf("InsertKey %s: %v", k.ID, err)
			}
		}
		if err := store.InsertKey(ctx(t), key("a", t0)); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Errorf("duplicate key id: %v, want %s", err, idv.ECONFLICT)
		}

		retired := t0.Add(2 * time.Hour)
		for _, at := range []time.Time{retired, retired.Add(time.Hour)} {
			if err := store.RetireKey(ctx(t), "a", at); err != nil {
				t.Fatalf("RetireKey: %v", err)
			}
		}
		if err := store.RetireKey(ctx(t), "nonesuch", retired); err != nil {
			t.Errorf("RetireKey of an unknown id: %v", err)
		}

		keys, err := store.ListKeys(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		a.RetiredAt = retired
		want := []receipt.StoredKey{c, b, a} // newest first, ties by id
		if len(keys) != len(want) {
			t.Fatalf("ListKeys: %d keys, want %d", len(keys), len(want))
		}
		for i, w := range want {
			g := keys[i]
			if g.ID != w.ID || !bytes.Equal(g.PublicKey, w.PublicKey) || !bytes.Equal(g.SealedPrivateKey, w.SealedPrivateKey) ||
				!g.CreatedAt.Equal(w.CreatedAt) || !g.RetiredAt.Equal(w.RetiredAt) || g.CreatedAt.Location() != time.UTC {
				t.Errorf("key %d = %+v, want %+v", i, g, w)
			}
		}
	})
}
