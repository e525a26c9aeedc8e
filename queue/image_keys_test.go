package queue

import (
	"bytes"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/imagekey"
)

// The image key store on both backends: keys round-trip newest first, a
// retirement is set once, a duplicate id is a conflict; an encapsulation is
// owned by the first capture and side that record it, and pruning removes
// the old ones.
func TestImageKeyStore(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		store := q.ImageKeys()
		t0 := time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC)
		a := imagekey.StoredKey{ID: "a", PublicKey: []byte{4, 1}, SealedPrivateKey: []byte{0, 1}, CreatedAt: t0}
		b := imagekey.StoredKey{ID: "b", PublicKey: []byte{4, 2}, SealedPrivateKey: []byte{0, 2}, CreatedAt: t0.Add(time.Hour)}
		for _, k := range []imagekey.StoredKey{a, b} {
			if err := store.InsertKey(ctx(t), k); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.InsertKey(ctx(t), a); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Errorf("duplicate: %v", err)
		}
		for _, at := range []time.Time{t0.Add(2 * time.Hour), t0.Add(3 * time.Hour)} {
			if err := store.RetireKey(ctx(t), "a", at); err != nil {
				t.Fatal(err)
			}
		}
		keys, err := store.ListKeys(ctx(t))
		if err != nil || len(keys) != 2 || keys[0].ID != "b" || keys[1].ID != "a" ||
			!keys[1].RetiredAt.Equal(t0.Add(2*time.Hour)) || !keys[0].RetiredAt.IsZero() ||
			!keys[0].CreatedAt.Equal(b.CreatedAt) || !bytes.Equal(keys[1].SealedPrivateKey, a.SealedPrivateKey) || !bytes.Equal(keys[1].PublicKey, a.PublicKey) {
			t.Fatalf("ListKeys = %+v, %v", keys, err)
		}

		e := imagekey.Encapsulation{EncHash: bytes.Repeat([]byte{1}, 32), KeyID: "b", CaptureID: "c1", Side: idv.SideFront, SeenAt: t0}
		for i, try := range []struct {
			capture string
			side    idv.Side
		}{{"c1", idv.SideFront}, {"c1", idv.SideFront}, {"c2", idv.SideFront}, {"c1", idv.SideBack}} {
			e.CaptureID, e.Side = try.capture, try.side
			o, err := store.RecordEncapsulations(ctx(t), []imagekey.Encapsulation{e})
			if err != nil || len(o) != 1 || o[0] != (imagekey.Owner{CaptureID: "c1", Side: idv.SideFront}) {
				t.Fatalf("record %d: owners %v, %v; want c1 front", i, o, err)
			}
		}
		if err := store.PruneEncapsulations(ctx(t), t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		// After pruning the hash is free again; two at once in one
		// transaction each get their owner.
		e.CaptureID, e.Side = "c2", idv.SideBack
		f := imagekey.Encapsulation{EncHash: bytes.Repeat([]byte{2}, 32), KeyID: "b", CaptureID: "c2", Side: idv.SideFront, SeenAt: t0}
		o, err := store.RecordEncapsulations(ctx(t), []imagekey.Encapsulation{f, e})
		if err != nil || len(o) != 2 || o[0] != (imagekey.Owner{CaptureID: "c2", Side: idv.SideFront}) || o[1] != (imagekey.Owner{CaptureID: "c2", Side: idv.SideBack}) {
			t.Fatalf("after pruning: owners %v, %v", o, err)
		}
	})
}
