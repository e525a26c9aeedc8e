package queue

import (
	"context"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/receipt"
)

// SigningKeys returns the receipt signing keys kept in this database
// (idv_signing_keys, migration 005). The rows hold private keys sealed by
// the caller only; nothing here sees a key in clear. The statements are
// the dialect-neutral ones of sqltx.go.
func (q *Queue) SigningKeys() receipt.KeyStore { return signingKeys{q} }

type signingKeys struct{ q *Queue }

func (k signingKeys) InsertKey(ctx context.Context, key receipt.StoredKey) error {
	err := k.q.b.inTx(ctx, func(tx sqlTx) error {
		_, err := tx.exec(ctx, `INSERT INTO {p}idv_signing_keys
			(kid, public_key, sealed_private_key, created_at, retired_at) VALUES ($1, $2, $3, $4, $5)`,
			key.ID, key.PublicKey, key.SealedPrivateKey, key.CreatedAt, nullTime(key.RetiredAt))
		return err
	})
	switch {
	case err == nil:
		return nil
	case k.q.b.isUniqueViolation(err):
		// Driver errors may quote a statement's values: here ids, times
		// and sealed bytes.
		return idv.WrapError(idv.ECONFLICT, "signing key already exists", err)
	}
	return unavailable(err)
}

func (k signingKeys) ListKeys(ctx context.Context) ([]receipt.StoredKey, error) {
	var keys []receipt.StoredKey
	err := k.q.b.inTx(ctx, func(tx sqlTx) error {
		rows, err := tx.query(ctx, `SELECT kid, public_key, sealed_private_key, created_at, retired_at
			FROM {p}idv_signing_keys ORDER BY created_at DESC, kid DESC`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key receipt.StoredKey
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

func (k signingKeys) RetireKey(ctx context.Context, id string, at time.Time) error {
	err := k.q.b.inTx(ctx, func(tx sqlTx) error {
		_, err := tx.exec(ctx, `UPDATE {p}idv_signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL`, id, at)
		return err
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}
