package seal

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/idv-dev/idv"
)

// Defaults for Options.
const (
	DefaultDataKeyTTL     = 5 * time.Minute
	DefaultDataKeyMaxUses = 1_000_000
	DefaultOpenCacheSize  = 1024
	DefaultOpenCacheTTL   = 10 * time.Minute
)

// maxDataKeyUses is the most values one data key may seal. Nonces are 96
// random bits, so NIST SP 800-38D caps a key at 2^32 messages to keep the
// chance of a nonce collision negligible.
const maxDataKeyUses = 1 << 32

// Options tunes an Envelope. The zero value means the defaults.
type Options struct {
	// DataKeyTTL bounds how long one data key seals new values before a
	// fresh one is generated (one wrapper call per TTL instead of per job).
	// Default 5 minutes.
	DataKeyTTL time.Duration
	// DataKeyMaxUses bounds how many values one data key seals, at most
	// 2^32. Default 1,000,000.
	DataKeyMaxUses int64
	// OpenCacheSize bounds how many unwrapped data keys are kept for Open.
	// Default 1024.
	OpenCacheSize int
	// OpenCacheTTL bounds how long an unwrapped data key is kept, which is
	// also how long a key revoked in KMS may go on opening values here.
	// Default 10 minutes: a data key seals for up to DataKeyTTL and what it
	// sealed is read within minutes.
	OpenCacheTTL time.Duration
	// Now returns the current time. Tests inject a clock; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.DataKeyTTL < 0:
		return o, fmt.Errorf("seal: DataKeyTTL must not be negative")
	case o.DataKeyMaxUses < 0 || o.DataKeyMaxUses > maxDataKeyUses:
		return o, fmt.Errorf("seal: DataKeyMaxUses must be between 1 and 2^32 (0 for the default)")
	case o.OpenCacheSize < 0:
		return o, fmt.Errorf("seal: OpenCacheSize must not be negative")
	case o.OpenCacheTTL < 0:
		return o, fmt.Errorf("seal: OpenCacheTTL must not be negative")
	}
	o.DataKeyTTL = cmp.Or(o.DataKeyTTL, DefaultDataKeyTTL)
	o.DataKeyMaxUses = cmp.Or(o.DataKeyMaxUses, DefaultDataKeyMaxUses)
	o.OpenCacheSize = cmp.Or(o.OpenCacheSize, DefaultOpenCacheSize)
	o.OpenCacheTTL = cmp.Or(o.OpenCacheTTL, DefaultOpenCacheTTL)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// Envelope seals and opens values with envelope encryption (see the package
// documentation for the format). It is safe for concurrent use; create it
// with NewEnvelope and share one per process, since its caches are what keep
// the wrapper off the hot path.
type Envelope struct {
	wrapper KeyWrapper
	opts    Options

	// current is the data key new values are sealed with. Seal reads it
	// without locking; replacing it is serialized by gen, a one-slot
	// semaphore (rather than a mutex) so that Seals waiting for a slow
	// wrapper can give up when their context ends.
	current atomic.Pointer[sealingKey]
	gen     chan struct{}

	cache *keyCache
}

var _ idv.Sealer = (*Envelope)(nil)

// sealingKey is a data key in use for sealing, with its precomputed header.
type sealingKey struct {
	aead    cipher.AEAD
	header  []byte
	expires time.Time
	uses    atomic.Int64
	maxUses int64
}

// take counts one use of k and reports whether k may seal at now.
func (k *sealingKey) take(now time.Time) bool {
	return now.Before(k.expires) && k.uses.Add(1) <= k.maxUses
}

// NewEnvelope returns an Envelope whose data keys are wrapped by w.
func NewEnvelope(w KeyWrapper, opts Options) (*Envelope, error) {
	if w == nil {
		return nil, errors.New("seal: NewEnvelope needs a KeyWrapper")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Envelope{
		wrapper: w,
		opts:    opts,
		gen:     make(chan struct{}, 1),
		cache:   newKeyCache(opts.OpenCacheSize, opts.OpenCacheTTL),
	}, nil
}

// Seal encrypts plaintext and binds it to aad: Open succeeds only with the
// same aad. It calls the wrapper only when the current data key has reached
// its age or use limit. Errors are idv.EUNAVAILABLE when the wrapper cannot
// be reached.
func (e *Envelope) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	k, err := e.sealingKey(ctx)
	if err != nil {
		return nil, err
	}
	hl := len(k.header)
	out := make([]byte, hl, hl+k.aead.Overhead()+len(plaintext))
	copy(out, k.header)
	return k.aead.Seal(out, nil, plaintext, additionalData(k.header, aad)), nil
}

// Open decrypts a value made by Seal (in any process sharing the wrapping
// keys) with the same aad. Every failure caused by the value itself is
// idv.ETAMPERED; a wrapper that cannot be reached is idv.EUNAVAILABLE.
func (e *Envelope) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	h, body, err := parseHeader(sealed)
	if err != nil {
		return nil, err
	}
	aead, err := e.openingKey(ctx, h)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, nil, body, additionalData(h.raw, aad))
	if err != nil {
		return nil, errAuth
	}
	return plain, nil
}

// additionalData is what GCM authenticates besides the ciphertext: the
// header, so no part of it can be swapped, then the caller's aad.
func additionalData(header, aad []byte) []byte {
	ad := make([]byte, 0, len(header)+len(aad))
	return append(append(ad, header...), aad...)
}

// sealingKey returns the data key to seal with, generating a new one when
// the current one is used up or too old.
func (e *Envelope) sealingKey(ctx context.Context) (*sealingKey, error) {
	if k := e.current.Load(); k != nil && k.take(e.opts.Now()) {
		return k, nil
	}
	select {
	case e.gen <- struct{}{}:
	case <-ctx.Done():
		return nil, idv.WrapError(idv.EUNAVAILABLE, "key service is unavailable", ctx.Err())
	}
	defer func() { <-e.gen }()
	// Another Seal may have replaced the key while this one waited.
	now := e.opts.Now()
	if k := e.current.Load(); k != nil && k.take(now) {
		return k, nil
	}
	keyID, plain, wrapped, err := e.wrapper.GenerateDataKey(ctx)
	if err != nil {
		return nil, wrapperError(err)
	}
	defer clear(plain)
	if !validKeyID(keyID) || !validWrapped(wrapped) || len(plain) != DataKeySize {
		return nil, idv.Errorf(idv.EINTERNAL, "key wrapper returned a data key that does not fit the format")
	}
	aead, err := newAEAD(plain)
	if err != nil {
		return nil, err
	}
	k := &sealingKey{
		aead:    aead,
		header:  appendHeader(nil, keyID, wrapped),
		expires: now.Add(e.opts.DataKeyTTL),
		maxUses: e.opts.DataKeyMaxUses,
	}
	k.uses.Store(1) // this Seal
	// Values sealed here are often opened here too (results, sessions):
	// cache the key so that needs no unwrap.
	e.cache.put(cacheKeyOf(k.header), aead, now)
	e.current.Store(k)
	return k, nil
}

// openingKey returns the cipher for the data key in h, from the cache or by
// unwrapping it.
func (e *Envelope) openingKey(ctx context.Context, h header) (cipher.AEAD, error) {
	ck := cacheKeyOf(h.raw)
	now := e.opts.Now()
	if aead, ok := e.cache.get(ck, now); ok {
		return aead, nil
	}
	plain, err := e.wrapper.UnwrapDataKey(ctx, string(h.keyID), h.wrapped)
	if err != nil {
		return nil, wrapperError(err)
	}
	defer clear(plain)
	if len(plain) != DataKeySize {
		return nil, idv.Errorf(idv.EINTERNAL, "key wrapper returned a data key of the wrong size")
	}
	aead, err := newAEAD(plain)
	if err != nil {
		return nil, err
	}
	e.cache.put(ck, aead, now)
	return aead, nil
}

// newAEAD returns AES-256-GCM under key with random 96-bit nonces that Seal
// prepends to the ciphertext and Open reads from it. Letting the standard
// library draw the nonce keeps that step out of our hands and is the GCM
// mode Go's FIPS 140-3 module approves. A cipher.AEAD holds no mutable
// state after creation, so one is shared by all goroutines.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, idv.WrapError(idv.EINTERNAL, "cannot create data key cipher", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, idv.WrapError(idv.EINTERNAL, "cannot create data key cipher", err)
	}
	return aead, nil
}
