package receipt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"time"

	"github.com/idv-dev/idv"
)

// StoredKey is a signing key as it is kept. The private key is sealed; the
// public key is public by nature and kept in clear, so publishing the key
// set needs no unsealing (and no KMS call).
type StoredKey struct {
	ID string // the JWS "kid"
	// PublicKey is the SubjectPublicKeyInfo (DER) of the P-256 key.
	PublicKey []byte
	// SealedPrivateKey is the PKCS #8 (DER) private key sealed by the
	// envelope sealer with the AAD of privateKeyAAD(ID).
	SealedPrivateKey []byte
	CreatedAt        time.Time
	// RetiredAt is when a newer key took over; zero while the key signs.
	RetiredAt time.Time
}

// KeyStore keeps signing keys (idv_signing_keys; queue.Queue.SigningKeys
// implements it on PostgreSQL and SQLite).
type KeyStore interface {
	// InsertKey adds a key. A key id that exists is an ECONFLICT.
	InsertKey(ctx context.Context, k StoredKey) error
	// ListKeys returns every key, newest (by CreatedAt) first.
	ListKeys(ctx context.Context) ([]StoredKey, error)
	// RetireKey sets the retirement time of a key that has none; a key
	// already retired keeps its time, and an unknown id is no error.
	RetireKey(ctx context.Context, id string, at time.Time) error
}

// privateKeyAAD binds a sealed private key to its key id: a sealed key
// copied into another row does not open.
func privateKeyAAD(kid string) []byte { return []byte("idv/signing-key/v1|" + kid) }

// newKey generates a P-256 key and seals its private half.
func newKey(ctx context.Context, sealer idv.Sealer, now time.Time) (StoredKey, *ecdsa.PrivateKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return StoredKey{}, nil, idv.WrapError(idv.EINTERNAL, "generate a signing key", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return StoredKey{}, nil, idv.WrapError(idv.EINTERNAL, "encode a signing key", err)
	}
	defer clear(der)
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return StoredKey{}, nil, idv.WrapError(idv.EINTERNAL, "encode a signing key", err)
	}
	k := StoredKey{ID: idv.NewID(), PublicKey: pub, CreatedAt: now.UTC()}
	k.SealedPrivateKey, err = sealer.Seal(ctx, der, privateKeyAAD(k.ID))
	if err != nil {
		return StoredKey{}, nil, err
	}
	return k, priv, nil
}

// openKey unseals a stored private key and checks that it belongs to the
// stored public key, so a receipt is never signed with a key the key set
// would not publish.
func openKey(ctx context.Context, sealer idv.Sealer, k StoredKey) (*ecdsa.PrivateKey, error) {
	der, err := sealer.Open(ctx, k.SealedPrivateKey, privateKeyAAD(k.ID))
	if err != nil {
		return nil, err
	}
	defer clear(der)
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, idv.Errorf(idv.ETAMPERED, "signing key %s does not parse", k.ID)
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, idv.Errorf(idv.ETAMPERED, "signing key %s is not a P-256 key", k.ID)
	}
	pub, err := publicKey(k)
	if err != nil {
		return nil, err
	}
	if !priv.PublicKey.Equal(pub) {
		return nil, idv.Errorf(idv.ETAMPERED, "signing key %s does not match its public key", k.ID)
	}
	return priv, nil
}

func publicKey(k StoredKey) (*ecdsa.PublicKey, error) {
	parsed, err := x509.ParsePKIXPublicKey(k.PublicKey)
	if err != nil {
		return nil, idv.Errorf(idv.ETAMPERED, "public key of signing key %s does not parse", k.ID)
	}
	pub, ok := parsed.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, idv.Errorf(idv.ETAMPERED, "public key of signing key %s is not a P-256 key", k.ID)
	}
	return pub, nil
}
