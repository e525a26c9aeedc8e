package queue

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/imagekey"
)

// ImageKeys returns the workers' HPKE image keys kept in this database
// (idv_image_keys, migration 007) and the encapsulated keys workers have
// opened images with (idv_image_encapsulations). Private keys are sealed by
// the caller; nothing here sees one in clear.
func (q *Queue) ImageKeys() imagekey.KeyStore { return imageKeys{q} }

type imageKeys struct{ q *Queue }

func (k imageKeys) table() sealedKeys { return sealedKeys{k.q, "idv_image_keys", "image key"} }

func (k imageKeys) InsertKey(ctx context.Context, key imagekey.StoredKey) error {
	return k.table().insert(ctx, sealedKey(key))
}

func (k imageKeys) ListKeys(ctx context.Context) ([]imagekey.StoredKey, error) {
	keys, err := k.table().list(ctx)
	return convertKeys[imagekey.StoredKey](keys), err
}

func (k imageKeys) RetireKey(ctx context.Context, id string, at time.Time) error {
	return k.table().retire(ctx, id, at)
}

func (k imageKeys) RecordEncapsulations(ctx context.Context, es []imagekey.Encapsulation) ([]imagekey.Owner, error) {
	if len(es) == 0 {
		return nil, nil
	}
	// Two statements in one transaction whatever the number: one
	// multi-row insert that leaves recorded hashes alone, one read of the
	// owners.
	var values, in []string
	var args, hashes []any
	for _, e := range es {
		n := len(args)
		values = append(values, fmt.Sprintf("($%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5))
		args = append(args, e.EncHash, e.KeyID, e.CaptureID, string(e.Side), e.SeenAt)
		hashes = append(hashes, e.EncHash)
		in = append(in, fmt.Sprintf("$%d", len(hashes)))
	}
	found := map[string]imagekey.Owner{}
	err := k.q.b.inTx(ctx, func(tx sqlTx) error {
		if _, err := tx.exec(ctx, `INSERT INTO {p}idv_image_encapsulations (enc_hash, kid, capture_id, side, seen_at)
			VALUES `+strings.Join(values, ", ")+` ON CONFLICT (enc_hash) DO NOTHING`, args...); err != nil {
			return err
		}
		rows, err := tx.query(ctx, `SELECT enc_hash, capture_id, side FROM {p}idv_image_encapsulations
			WHERE enc_hash IN (`+strings.Join(in, ", ")+`)`, hashes...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var hash []byte
			var o imagekey.Owner
			var side string
			if err := rows.Scan(&hash, &o.CaptureID, &side); err != nil {
				return err
			}
			o.Side = idv.Side(side)
			found[string(hash)] = o
		}
		return rows.Err()
	})
	if err != nil {
		return nil, unavailable(err)
	}
	owners := make([]imagekey.Owner, len(es))
	for i, e := range es {
		owners[i] = found[string(e.EncHash)]
	}
	return owners, nil
}

func (k imageKeys) PruneEncapsulations(ctx context.Context, before time.Time) error {
	err := k.q.b.inTx(ctx, func(tx sqlTx) error {
		_, err := tx.exec(ctx, `DELETE FROM {p}idv_image_encapsulations WHERE seen_at < $1`, before)
		return err
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}
