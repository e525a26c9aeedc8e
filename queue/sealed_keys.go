package queue

import (
	"context"
	"time"

	"github.com/idv-dev/idv"
)

// sealedKey is a row of a table of key pairs whose private halves the
// caller seals (idv_signing_keys, idv_image_keys): receipt.StoredKey and
// imagekey.StoredKey convert to and from it.
type sealedKey struct {
	ID               string
	PublicKey        []byte
	SealedPrivateKey []byte
	CreatedAt        time.Time
	RetiredAt        time.Time
}

// sealedKeys is one such table; what names its keys in errors. Nothing
// here sees a private key in clear. Driver errors may quote a statement's
// values: here ids, times and sealed bytes.
type sealedKeys struct {
	q     *Queue
	table string // a constant of this package, never input
	what  string
}

func (k sealedKeys) insert(ctx context.Context, key sealedKey) error {
	err := k.q.b.inTx(ctx, func(tx sqlTx) error {
		_, err := tx.exec(ctx, `INSERT INTO {p}`+k.table+`
			(kid, public_key, sealed_private_key, created_at, retired_at) VALUES ($1, $2, $3, $4, $5)`,
			key.ID, key.PublicKey, key.SealedPrivateKey, key.CreatedAt, nullTime(key.RetiredAt))
		return err
	})
	switch {
	case err == nil:
		return nil
	case k.q.b.isUniqueViolation(err):
		return idv.WrapError(idv.ECONFLICT, k.what+" already exists", err)
	}
	return unavailable(err)
}

// list returns the keys, newest first.
func (k sealedKeys) list(ctx context.Context) ([]sealedKey, error) {
	var keys []sealedKey
	err := k.q.b.inTx(ctx, func(tx sqlTx) error {
		rows, err := tx.query(ctx, `SELECT kid, public_key, sealed_private_key, created_at, retired_at
			FROM {p}`+k.table+` ORDER BY created_at DESC, kid DESC`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key sealedKey
			var created, retired dbTime
			if err := rows.Scan(&key.ID, &key.PublicKey, &key.SealedPrivateKey, &created, &retired); err != nil {
				return err
			}
			key.CreatedAt, key.RetiredAt = created.Time, retired.Time
			keys = append(keys, key)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return keys, nil
}

// retire marks key id retired at at, unless it already is.
func (k sealedKeys) retire(ctx context.Context, id string, at time.Time) error {
	err := k.q.b.inTx(ctx, func(tx sqlTx) error {
		_, err := tx.exec(ctx, `UPDATE {p}`+k.table+` SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL`, id, at)
		return err
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// convertKeys converts a list of keys between identical struct types.
func convertKeys[To, From ~struct {
	ID               string
	PublicKey        []byte
	SealedPrivateKey []byte
	CreatedAt        time.Time
	RetiredAt        time.Time
}](in []From) []To {
	if in == nil {
		return nil
	}
	out := make([]To, len(in))
	for i, k := range in {
		out[i] = To(k)
	}
	return out
}
