package receipt

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/idv-dev/idv"
)

// Defaults of Options.
const (
	// DefaultPublishRetiredFor keeps a retired key in the key set for 90
	// days: an RP may check a receipt it stored, or one it fetched again
	// from the API, long after the verification ended, and a few extra
	// public keys in the set cost nothing.
	DefaultPublishRetiredFor = 90 * 24 * time.Hour
	// DefaultReloadInterval is how stale a process's view of the keys may
	// get before it reads them again; it bounds how long a process goes on
	// signing with a key that another process has retired (still
	// published, so its receipts verify) and how long its key set lacks a
	// key another process added.
	DefaultReloadInterval = 30 * time.Second
)

// Algorithm is the JWS algorithm of every receipt.
const Algorithm = jose.ES256

// TokenType is the "typ" header of a receipt. Explicit typing (RFC 8725,
// section 3.11) lets an RP tell a receipt from any other JWT signed by the
// same keys.
const TokenType = "idv-receipt+jwt"

// Options configures a Signer. The zero value works apart from Issuer.
type Options struct {
	// Issuer is the "iss" of receipts whose Claims leave it empty: idv's
	// public base URL, where the key set is served.
	Issuer string
	// PublishRetiredFor is how long a retired key stays in the key set.
	// Default DefaultPublishRetiredFor.
	PublishRetiredFor time.Duration
	// ReloadInterval is how often the keys are read again. Default
	// DefaultReloadInterval.
	ReloadInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Signer signs receipts with the newest signing key that is not retired
// and publishes the key set. It is safe for concurrent use.
//
// The keys are read once and then again at most every ReloadInterval, on
// demand (no goroutine); the current private key is unsealed once and kept
// in memory until a newer key replaces it. A rotation in another process is
// therefore seen within ReloadInterval. If a reload fails, the keys read
// before go on being used until a reload succeeds.
type Signer struct {
	store  KeyStore
	sealer idv.Sealer
	opts   Options

	ensureMu sync.Mutex // serialises creating the first key

	mu       sync.Mutex // guards what follows and serialises loads
	set      *keySet
	nextLoad time.Time
	opened   map[string]*ecdsa.PrivateKey // by kid: the current key only
}

// keySet is one view of the stored keys. It is not changed once built.
type keySet struct {
	kid       string // the current key; empty when there is none
	priv      *ecdsa.PrivateKey
	published jose.JSONWebKeySet
	json      []byte // published, encoded
}

// New returns a Signer over the keys in store, whose private keys sealer
// seals. Nothing is read until the first use; call EnsureKey at start-up
// to create the first key and to fail early if the store or the sealer is
// broken.
func New(store KeyStore, sealer idv.Sealer, opts Options) (*Signer, error) {
	if store == nil || sealer == nil {
		return nil, idv.Errorf(idv.EINVALID, "receipt signer needs a key store and a sealer")
	}
	if opts.Issuer == "" {
		return nil, idv.Errorf(idv.EINVALID, "receipt signer needs an issuer (idv's public base URL)")
	}
	if opts.PublishRetiredFor < 0 || opts.ReloadInterval < 0 {
		return nil, idv.Errorf(idv.EINVALID, "receipt signer: durations must not be negative")
	}
	opts.PublishRetiredFor = cmp.Or(opts.PublishRetiredFor, DefaultPublishRetiredFor)
	opts.ReloadInterval = cmp.Or(opts.ReloadInterval, DefaultReloadInterval)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Signer{store: store, sealer: sealer, opts: opts, opened: map[string]*ecdsa.PrivateKey{}}, nil
}

// Sign returns c signed as a compact JWS. An empty Issuer becomes the
// configured one and a zero IssuedAt the current time. If no key exists
// yet, one is created first.
func (s *Signer) Sign(ctx context.Context, c Claims) (string, error) {
	c.Issuer = cmp.Or(c.Issuer, s.opts.Issuer)
	if c.IssuedAt.IsZero() {
		c.IssuedAt = s.opts.Now()
	}
	if err := c.Validate(); err != nil {
		return "", err
	}
	set, err := s.load(ctx, false)
	if err != nil {
		return "", err
	}
	if set.kid == "" {
		if _, err := s.EnsureKey(ctx); err != nil {
			return "", err
		}
		if set, err = s.load(ctx, false); err != nil {
			return "", err
		}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", idv.WrapError(idv.EINTERNAL, "encode receipt", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: Algorithm, Key: jose.JSONWebKey{Key: set.priv, KeyID: set.kid}},
		(&jose.SignerOptions{}).WithType(TokenType))
	if err != nil {
		return "", idv.WrapError(idv.EINTERNAL, "receipt signer", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", idv.WrapError(idv.EINTERNAL, "sign receipt", err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		return "", idv.WrapError(idv.EINTERNAL, "encode receipt", err)
	}
	return token, nil
}

// JWKS returns the public keys an RP checks receipts with: the current key
// and the retired keys still inside their publish window.
func (s *Signer) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	set, err := s.load(ctx, false)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return set.published, nil
}

// CurrentKeyID returns the id of the key receipts are signed with now, or
// "" when there is none yet.
func (s *Signer) CurrentKeyID(ctx context.Context) (string, error) {
	set, err := s.load(ctx, false)
	if err != nil {
		return "", err
	}
	return set.kid, nil
}

// EnsureKey returns the current key's id, creating the first key if there
// is none. Two processes starting together on an empty store may each
// create one; both are published and the newer signs.
func (s *Signer) EnsureKey(ctx context.Context) (string, error) {
	s.ensureMu.Lock()
	defer s.ensureMu.Unlock()
	set, err := s.load(ctx, true)
	if err != nil {
		return "", err
	}
	if set.kid != "" {
		return set.kid, nil
	}
	return s.Rotate(ctx)
}

// Rotate creates a signing key, makes it the current one and retires every
// older key that is not retired yet; retired keys stay published for
// PublishRetiredFor. It returns the new key's id. Other processes start
// signing with the new key within their ReloadInterval.
//
// Two rotations at once leave the newer key current: each retires only
// keys older than its own.
func (s *Signer) Rotate(ctx context.Context) (string, error) {
	keys, err := s.store.ListKeys(ctx)
	if err != nil {
		return "", err
	}
	// The new key must sort after every key there is, even on a clock
	// that went back or did not move.
	now := s.opts.Now().UTC().Truncate(time.Microsecond) // PostgreSQL's precision
	for _, old := range keys {
		if !now.After(old.CreatedAt) {
			now = old.CreatedAt.Add(time.Microsecond)
		}
	}
	k, priv, err := newKey(ctx, s.sealer, now)
	if err != nil {
		return "", err
	}
	if err := s.store.InsertKey(ctx, k); err != nil {
		return "", err
	}
	// Read again: a key another process added meanwhile is retired too if
	// it is older than ours.
	if keys, err = s.store.ListKeys(ctx); err != nil {
		return "", err
	}
	for _, old := range keys {
		if old.RetiredAt.IsZero() && newer(k, old) {
			if err := s.store.RetireKey(ctx, old.ID, now); err != nil {
				return "", err
			}
		}
	}
	s.mu.Lock()
	s.opened[k.ID] = priv // spare the unseal of a key made here
	s.mu.Unlock()
	if _, err := s.load(ctx, true); err != nil {
		return "", err
	}
	return k.ID, nil
}

// newer orders keys as ListKeys does: by creation time, then by id.
func newer(a, b StoredKey) bool {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c > 0
	}
	return a.ID > b.ID
}

// load returns the current view of the keys, reading them again when the
// view is older than ReloadInterval or force is set.
func (s *Signer) load(ctx context.Context, force bool) (*keySet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if s.set != nil && !force && now.Before(s.nextLoad) {
		return s.set, nil
	}
	set, err := s.read(ctx, now)
	if err != nil {
		if s.set != nil && !force {
			s.nextLoad = now.Add(s.opts.ReloadInterval)
			return s.set, nil
		}
		return nil, err
	}
	s.set, s.nextLoad = set, now.Add(s.opts.ReloadInterval)
	return set, nil
}

// read builds a keySet from the store; s.mu is held.
func (s *Signer) read(ctx context.Context, now time.Time) (*keySet, error) {
	keys, err := s.store.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	set := &keySet{published: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}}
	var current *StoredKey
	for i, k := range keys {
		if k.RetiredAt.IsZero() {
			if current == nil || newer(k, *current) {
				current = &keys[i]
			}
		} else if !now.Before(k.RetiredAt.Add(s.opts.PublishRetiredFor)) {
			continue
		}
		pub, err := publicKey(k)
		if err != nil {
			return nil, err
		}
		set.published.Keys = append(set.published.Keys, jose.JSONWebKey{
			Key: pub, KeyID: k.ID, Algorithm: string(Algorithm), Use: "sig"})
	}
	if current != nil {
		priv, ok := s.opened[current.ID]
		if !ok {
			if priv, err = openKey(ctx, s.sealer, *current); err != nil {
				return nil, err
			}
		}
		clear(s.opened)
		s.opened[current.ID] = priv
		set.kid, set.priv = current.ID, priv
	}
	if set.json, err = json.Marshal(set.published); err != nil {
		return nil, idv.WrapError(idv.EINTERNAL, "encode the key set", err)
	}
	return set, nil
}

// CurrentKey returns the current signing key and its kid, creating the
// first key if there is none: the OpenID Provider signs ID tokens with the
// receipts' key, so one JWKS serves both.
func (s *Signer) CurrentKey(ctx context.Context) (string, *ecdsa.PrivateKey, error) {
	set, err := s.load(ctx, false)
	if err != nil {
		return "", nil, err
	}
	if set.kid == "" {
		if _, err := s.EnsureKey(ctx); err != nil {
			return "", nil, err
		}
		if set, err = s.load(ctx, false); err != nil {
			return "", nil, err
		}
	}
	return set.kid, set.priv, nil
}
