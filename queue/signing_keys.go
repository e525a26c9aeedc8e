package queue

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/receipt"
)

// SigningKeys returns the receipt signing keys kept in this database
// (idv_signing_keys, migration 005). The rows hold private keys sealed by
// the caller only; nothing here sees a key in clear.
func (q *Queue) SigningKeys() receipt.KeyStore {
	switch b := q.b.(type) {
	case *postgres:
		return &pgSigningKeys{p: b}
	case *sqliteDB:
		return &sqliteSigningKeys{s: b}
	default:
		panic(fmt.Sprintf("queue: no signing key store for %T", q.b))
	}
}

// signingKeyError gives a database error its idv code. Driver errors may
// quote a statement's values: here ids, times and sealed bytes.
func signingKeyError(err error, unique bool) error {
	switch {
	case err == nil:
		return nil
	case unique:
		return idv.WrapError(idv.ECONFLICT, "signing key already exists", err)
	default:
		return unavailable(err)
	}
}

type pgSigningKeys struct{ p *postgres }

func (k *pgSigningKeys) InsertKey(ctx context.Context, key receipt.StoredKey) error {
	_, err := k.p.pool.Exec(ctx, `INSERT INTO `+k.p.prefix+`idv_signing_keys
		(kid, public_key, sealed_private_key, created_at, retired_at) VALUES ($1, $2, $3, $4, $5)`,
		key.ID, key.PublicKey, key.SealedPrivateKey, key.CreatedAt, nullTime(key.RetiredAt))
	return signingKeyError(err, err != nil && k.p.isUniqueViolation(err))
}

func (k *pgSigningKeys) ListKeys(ctx context.Context) ([]receipt.StoredKey, error) {
	rows, err := k.p.pool.Query(ctx, `SELECT kid, public_key, sealed_private_key, created_at, retired_at
		FROM `+k.p.prefix+`idv_signing_keys ORDER BY created_at DESC, kid DESC`)
	if err != nil {
		return nil, unavailable(err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (receipt.StoredKey, error) {
		var key receipt.StoredKey
		var retired *time.Time
		err := r.Scan(&key.ID, &key.PublicKey, &key.SealedPrivateKey, &key.CreatedAt, &retired)
		key.CreatedAt = key.CreatedAt.UTC()
		if retired != nil {
			key.RetiredAt = retired.UTC()
		}
		return key, err
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return keys, nil
}

func (k *pgSigningKeys) RetireKey(ctx context.Context, id string, at time.Time) error {
	_, err := k.p.pool.Exec(ctx, `UPDATE `+k.p.prefix+`idv_signing_keys SET retired_at = $2
		WHERE kid = $1 AND retired_at IS NULL`, id, at)
	return signingKeyError(err, false)
}

type sqliteSigningKeys struct{ s *sqliteDB }

func (k *sqliteSigningKeys) InsertKey(ctx context.Context, key receipt.StoredKey) error {
	var retired any
	if !key.RetiredAt.IsZero() {
		retired = sqliteTime(key.RetiredAt)
	}
	_, err := k.s.db.ExecContext(ctx, `INSERT INTO idv_signing_keys
		(kid, public_key, sealed_private_key, created_at, retired_at) VALUES (?, ?, ?, ?, ?)`,
		key.ID, key.PublicKey, key.SealedPrivateKey, sqliteTime(key.CreatedAt), retired)
	return signingKeyError(err, err != nil && k.s.isUniqueViolation(err))
}

func (k *sqliteSigningKeys) ListKeys(ctx context.Context) ([]receipt.StoredKey, error) {
	rows, err := k.s.db.QueryContext(ctx, `SELECT kid, public_key, sealed_private_key, created_at, retired_at
		FROM idv_signing_keys ORDER BY created_at DESC, kid DESC`)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var keys []receipt.StoredKey
	for rows.Next() {
		var key receipt.StoredKey
		var created string
		var retired sql.NullString
		if err := rows.Scan(&key.ID, &key.PublicKey, &key.SealedPrivateKey, &created, &retired); err != nil {
			return nil, unavailable(err)
		}
		if key.CreatedAt, err = time.ParseInLocation(sqliteTimeLayout, created, time.UTC); err != nil {
			return nil, idv.WrapError(idv.EINTERNAL, "signing key "+key.ID+": bad created_at", err)
		}
		if retired.Valid {
			if key.RetiredAt, err = time.ParseInLocation(sqliteTimeLayout, retired.String, time.UTC); err != nil {
				return nil, idv.WrapError(idv.EINTERNAL, "signing key "+key.ID+": bad retired_at", err)
			}
		}
		keys = append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(err)
	}
	return keys, nil
}

func (k *sqliteSigningKeys) RetireKey(ctx context.Context, id string, at time.Time) error {
	_, err := k.s.db.ExecContext(ctx, `UPDATE idv_signing_keys SET retired_at = ?
		WHERE kid = ? AND retired_at IS NULL`, sqliteTime(at), id)
	return signingKeyError(err, false)
}
