package queue

import (
	"context"
	"time"

	"github.com/idv-dev/idv/receipt"
)

// SigningKeys returns the receipt signing keys kept in this database
// (idv_signing_keys, migration 005). The rows hold private keys sealed by
// the caller only; nothing here sees a key in clear. The statements are
// the dialect-neutral ones of sqltx.go.
func (q *Queue) SigningKeys() receipt.KeyStore { return signingKeys{q} }

type signingKeys struct{ q *Queue }

func (k signingKeys) table() sealedKeys { return sealedKeys{k.q, "idv_signing_keys", "signing key"} }

func (k signingKeys) InsertKey(ctx context.Context, key receipt.StoredKey) error {
	return k.table().insert(ctx, sealedKey(key))
}

func (k signingKeys) ListKeys(ctx context.Context) ([]receipt.StoredKey, error) {
	keys, err := k.table().list(ctx)
	return convertKeys[receipt.StoredKey](keys), err
}

func (k signingKeys) RetireKey(ctx context.Context, id string, at time.Time) error {
	return k.table().retire(ctx, id, at)
}
