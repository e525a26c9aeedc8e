// Package imagekey keeps the workers' HPKE key pairs that the capture page
// encrypts document images to (doc_auth.image_encryption: hpke): creating
// and rotating them, serving the current public key to the web tier without
// unsealing anything, and opening images in the workers, which alone unseal
// private keys. The object format is seal's (seal.ParseImageHeader);
// docs/encryption.md describes both.
//
// Keys live in a KeyStore (idv_image_keys; queue.Queue.ImageKeys). The
// private key is sealed by the envelope sealer (key file or KMS) with an AAD
// bound to its key id. A rotation makes a new key current and retires the
// others; a retired key still opens images for Options.Grace after its
// retirement, the longest an upload can be in flight (a page keeps the key
// it was rendered with for as long as its upload URLs live, and a job waits
// at most jobs.stale_after), and is refused after that.
package imagekey

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hpke"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

// StoredKey is a key pair as it is kept.
type StoredKey struct {
	ID string // the key id in image headers
	// PublicKey is the raw DHKEM(P-256) public key (65 bytes).
	PublicKey []byte
	// SealedPrivateKey is the serialized private key sealed by the envelope
	// sealer with PrivateKeyAAD(ID).
	SealedPrivateKey []byte
	CreatedAt        time.Time
	// RetiredAt is when a newer key took over; zero for the current key.
	RetiredAt time.Time
}

// Encapsulation is one image's encapsulated key as a worker saw it.
type Encapsulation struct {
	EncHash   []byte // SHA-256 of enc
	KeyID     string
	CaptureID string
	Side      idv.Side
	SeenAt    time.Time
}

// KeyStore keeps key pairs and the encapsulations seen.
type KeyStore interface {
	// InsertKey adds a key. A key id that exists is an ECONFLICT.
	InsertKey(ctx context.Context, k StoredKey) error
	// ListKeys returns every key, newest (by CreatedAt, then ID) first.
	ListKeys(ctx context.Context) ([]StoredKey, error)
	// RetireKey sets the retirement time of a key that has none.
	RetireKey(ctx context.Context, id string, at time.Time) error
	// RecordEncapsulations records each of es unless its EncHash is
	// recorded already, in one transaction, and returns for each the
	// capture and side that hold it: its own, or the first ones recorded.
	RecordEncapsulations(ctx context.Context, es []Encapsulation) ([]Owner, error)
	// PruneEncapsulations deletes those seen before t.
	PruneEncapsulations(ctx context.Context, before time.Time) error
}

// Owner is the capture and side an encapsulated key was first recorded for.
type Owner struct {
	CaptureID string
	Side      idv.Side
}

// PrivateKeyAAD binds a sealed private key to its key id: a sealed key
// copied into another row does not open.
func PrivateKeyAAD(kid string) []byte { return []byte("idv/image-key/v1|" + kid) }

// Defaults of Options.
const (
	DefaultReloadInterval = time.Minute
	DefaultGrace          = 13 * time.Hour // web.session_lifetime's default 12 h + jobs.stale_after
)

// Options configure Keys and Public. The zero value works.
type Options struct {
	// Grace is how long a retired key still opens images.
	Grace time.Duration
	// ReloadInterval is how often the keys are read again; an unknown key
	// id is looked up at once anyway.
	ReloadInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	o.Grace = cmp.Or(o.Grace, DefaultGrace)
	o.ReloadInterval = cmp.Or(o.ReloadInterval, DefaultReloadInterval)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// current is the newest key that is not retired, or nil.
func current(keys []StoredKey) *StoredKey {
	var cur *StoredKey
	for i, k := range keys {
		if k.RetiredAt.IsZero() && (cur == nil || newer(k, *cur)) {
			cur = &keys[i]
		}
	}
	return cur
}

// newer orders keys as ListKeys does: by creation time, then by id.
func newer(a, b StoredKey) bool {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c > 0
	}
	return a.ID > b.ID
}

// PublicKey is the key the capture page encrypts to.
type PublicKey struct {
	ID  string
	Raw []byte // 65 bytes, uncompressed P-256
}

// Public serves the current public key to the web tier. It has no sealer
// and never sees a private key. Safe for concurrent use.
type Public struct {
	store KeyStore
	opts  Options

	mu       sync.Mutex
	cur      PublicKey
	nextLoad time.Time
}

// NewPublic returns the public side of the keys in store.
func NewPublic(store KeyStore, opts Options) *Public {
	return &Public{store: store, opts: opts.withDefaults()}
}

// CurrentImageKey returns the key pages encrypt to now, read again at most every
// ReloadInterval. With no key yet (no worker has started, nobody ran `idv
// keys rotate-image`) it is an EUNAVAILABLE, asked again on every call.
func (p *Public) CurrentImageKey(ctx context.Context) (PublicKey, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	if p.cur.ID != "" && now.Before(p.nextLoad) {
		return p.cur, nil
	}
	keys, err := p.store.ListKeys(ctx)
	if err != nil {
		if p.cur.ID != "" {
			p.nextLoad = now.Add(p.opts.ReloadInterval)
			return p.cur, nil
		}
		return PublicKey{}, err
	}
	cur := current(keys)
	if cur == nil {
		return PublicKey{}, idv.Errorf(idv.EUNAVAILABLE, "no image key yet: start a worker or run `idv keys rotate-image`")
	}
	p.cur, p.nextLoad = PublicKey{ID: cur.ID, Raw: bytes.Clone(cur.PublicKey)}, now.Add(p.opts.ReloadInterval)
	return p.cur, nil
}

// Keys is the workers' (and the operator's) side: it makes keys and opens
// images. Safe for concurrent use.
type Keys struct {
	store  KeyStore
	sealer idv.Sealer
	opts   Options
	pub    *Public

	ensureMu sync.Mutex

	mu        sync.Mutex // guards what follows
	keys      []StoredKey
	nextLoad  time.Time
	opened    map[string]hpke.PrivateKey
	nextPrune time.Time
}

// New returns the keys in store, whose private keys sealer seals.
func New(store KeyStore, sealer idv.Sealer, opts Options) (*Keys, error) {
	if store == nil || sealer == nil {
		return nil, idv.Errorf(idv.EINVALID, "image keys need a key store and a sealer")
	}
	if opts.Grace < 0 || opts.ReloadInterval < 0 {
		return nil, idv.Errorf(idv.EINVALID, "image keys: durations must not be negative")
	}
	opts = opts.withDefaults()
	return &Keys{store: store, sealer: sealer, opts: opts, pub: NewPublic(store, opts), opened: map[string]hpke.PrivateKey{}}, nil
}

// CurrentImageKey is the current public key (Public.CurrentImageKey).
func (k *Keys) CurrentImageKey(ctx context.Context) (PublicKey, error) {
	return k.pub.CurrentImageKey(ctx)
}

// EnsureKey returns the current key's id, creating the first key if there
// is none (workers and idv dev call it at start-up).
func (k *Keys) EnsureKey(ctx context.Context) (string, error) {
	k.ensureMu.Lock()
	defer k.ensureMu.Unlock()
	keys, err := k.store.ListKeys(ctx)
	if err != nil {
		return "", err
	}
	if cur := current(keys); cur != nil {
		return cur.ID, nil
	}
	return k.Rotate(ctx)
}

// Rotate creates a key pair, makes it current and retires every older key
// not retired yet. It returns the new key's id. Pages rendered from now on
// (within the web tier's ReloadInterval) encrypt to it; images sealed to
// the keys it retired still open for Grace.
func (k *Keys) Rotate(ctx context.Context) (string, error) {
	keys, err := k.store.ListKeys(ctx)
	if err != nil {
		return "", err
	}
	now := k.opts.Now().UTC().Truncate(time.Microsecond) // PostgreSQL's precision
	for _, old := range keys {
		if !now.After(old.CreatedAt) {
			now = old.CreatedAt.Add(time.Microsecond)
		}
	}
	priv, err := seal.ImageKEM().GenerateKey()
	if err != nil {
		return "", idv.WrapError(idv.EINTERNAL, "generate an image key", err)
	}
	raw, err := priv.Bytes()
	if err != nil {
		return "", idv.WrapError(idv.EINTERNAL, "encode an image key", err)
	}
	defer clear(raw)
	sk := StoredKey{ID: idv.NewID(), PublicKey: priv.PublicKey().Bytes(), CreatedAt: now}
	if sk.SealedPrivateKey, err = k.sealer.Seal(ctx, raw, PrivateKeyAAD(sk.ID)); err != nil {
		return "", err
	}
	if err := k.store.InsertKey(ctx, sk); err != nil {
		return "", err
	}
	if keys, err = k.store.ListKeys(ctx); err != nil {
		return "", err
	}
	for _, old := range keys {
		if old.RetiredAt.IsZero() && newer(sk, old) {
			if err := k.store.RetireKey(ctx, old.ID, now); err != nil {
				return "", err
			}
		}
	}
	k.mu.Lock()
	k.opened[sk.ID] = priv
	k.nextLoad = time.Time{}
	k.mu.Unlock()
	k.pub.mu.Lock()
	k.pub.nextLoad = time.Time{}
	k.pub.mu.Unlock()
	return sk.ID, nil
}

// privateKey returns the private key of kid if it may open images now:
// DocCodeImageKeyUnknown for a kid never stored, DocCodeImageKeyRetired for
// one retired longer than Grace ago.
func (k *Keys) privateKey(ctx context.Context, kid string) (hpke.PrivateKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.opts.Now()
	find := func() *StoredKey {
		for i := range k.keys {
			if k.keys[i].ID == kid {
				return &k.keys[i]
			}
		}
		return nil
	}
	sk := find()
	if sk == nil || !now.Before(k.nextLoad) {
		// A key made since the last read (a rotation elsewhere) is looked
		// up at once.
		keys, err := k.store.ListKeys(ctx)
		if err != nil {
			return nil, err
		}
		k.keys, k.nextLoad = keys, now.Add(k.opts.ReloadInterval)
		sk = find()
	}
	if sk == nil {
		return nil, &seal.ImageError{Code: idv.DocCodeImageKeyUnknown, Err: idv.Errorf(idv.ETAMPERED, "image sealed to an unknown key")}
	}
	if !sk.RetiredAt.IsZero() && !now.Before(sk.RetiredAt.Add(k.opts.Grace)) {
		delete(k.opened, sk.ID)
		return nil, &seal.ImageError{Code: idv.DocCodeImageKeyRetired,
			Err: idv.Errorf(idv.ETAMPERED, "image sealed to key %s, retired at %s, past its %s grace", sk.ID, sk.RetiredAt.Format(time.RFC3339), k.opts.Grace)}
	}
	if priv, ok := k.opened[sk.ID]; ok {
		return priv, nil
	}
	raw, err := k.sealer.Open(ctx, sk.SealedPrivateKey, PrivateKeyAAD(sk.ID))
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	priv, err := seal.ImageKEM().NewPrivateKey(raw)
	if err != nil {
		return nil, idv.Errorf(idv.ETAMPERED, "image key %s does not parse", sk.ID)
	}
	if !bytes.Equal(priv.PublicKey().Bytes(), sk.PublicKey) {
		return nil, idv.Errorf(idv.ETAMPERED, "image key %s does not match its public key", sk.ID)
	}
	k.opened[sk.ID] = priv
	return priv, nil
}

// Object is one side's object of a capture, to open.
type Object struct {
	Side idv.Side
	Data []byte
}

// OpenCapture opens the objects of one capture, in order. It parses every
// header before it opens anything, refuses objects that share an
// encapsulated key, records each encapsulated key (a key recorded for
// another capture or side is refused) and opens each with its key and the
// info of its capture and side. A problem the person can mend (taking the
// photos again) is a *seal.ImageError carrying a document code and the
// side it is on; any other error is an infrastructure fault.
//
// timed, if not nil, runs the decryption (parse, keys, open) as "decrypt"
// and the records as "record_encapsulations", for the job's timings.
func (k *Keys) OpenCapture(ctx context.Context, captureID string, objs []Object, timed func(name string, f func() error) error) ([][]byte, error) {
	if timed == nil {
		timed = func(_ string, f func() error) error { return f() }
	}
	var out [][]byte
	if err := timed("decrypt", func() error {
		var err error
		out, err = k.open(ctx, captureID, objs)
		return err
	}); err != nil {
		return nil, err
	}
	err := timed("record_encapsulations", func() error { return k.record(ctx, captureID, objs) })
	if err != nil {
		for _, p := range out {
			clear(p)
		}
		return nil, err
	}
	return out, nil
}

// open parses, finds the keys and opens.
func (k *Keys) open(ctx context.Context, captureID string, objs []Object) ([][]byte, error) {
	hdrs := make([]seal.ImageHeader, len(objs))
	for i, o := range objs {
		h, err := seal.ParseImageHeader(o.Data)
		if err != nil {
			return nil, sideError(o.Side, err)
		}
		for j := range i {
			if bytes.Equal(hdrs[j].Enc, h.Enc) {
				return nil, sideError(o.Side, &seal.ImageError{Code: idv.DocCodeImageEncapsulationReused,
					Err: idv.Errorf(idv.ETAMPERED, "the %s and %s images share an encapsulated key", objs[j].Side, o.Side)})
			}
		}
		hdrs[i] = h
	}
	privs := make([]hpke.PrivateKey, len(objs))
	for i, o := range objs {
		priv, err := k.privateKey(ctx, hdrs[i].KeyID)
		if err != nil {
			return nil, sideError(o.Side, err)
		}
		privs[i] = priv
	}
	out := make([][]byte, len(objs))
	for i, o := range objs {
		img, err := seal.OpenImageHPKE(privs[i], hdrs[i], o.Data, seal.ImageInfo(captureID, o.Side))
		if err != nil {
			for _, p := range out {
				clear(p)
			}
			return nil, sideError(o.Side, err)
		}
		out[i] = img
	}
	return out, nil
}

// record records the encapsulated key of each object, opened already:
// only the sender of an image knows the secret behind its enc, so a
// recorded enc is that sender's.
func (k *Keys) record(ctx context.Context, captureID string, objs []Object) error {
	k.prune(ctx)
	es := make([]Encapsulation, 0, len(objs))
	for _, o := range objs {
		h, err := seal.ParseImageHeader(o.Data)
		if err != nil {
			return sideError(o.Side, err)
		}
		sum := sha256.Sum256(h.Enc)
		es = append(es, Encapsulation{EncHash: sum[:], KeyID: h.KeyID, CaptureID: captureID, Side: o.Side, SeenAt: k.opts.Now().UTC()})
	}
	owners, err := k.store.RecordEncapsulations(ctx, es)
	if err != nil {
		return err
	}
	for i, o := range objs {
		if owners[i] != (Owner{CaptureID: captureID, Side: o.Side}) {
			return sideError(o.Side, &seal.ImageError{Code: idv.DocCodeImageEncapsulationReused,
				Err: idv.Errorf(idv.ETAMPERED, "encapsulated key seen before, under another capture or side")})
		}
	}
	return nil
}

// prune deletes encapsulations older than the longest a key opens images
// after its retirement, at most once an hour per process. A failure is
// left to the next time.
func (k *Keys) prune(ctx context.Context) {
	k.mu.Lock()
	now := k.opts.Now()
	due := !now.Before(k.nextPrune)
	if due {
		k.nextPrune = now.Add(time.Hour)
	}
	k.mu.Unlock()
	if due {
		_ = k.store.PruneEncapsulations(ctx, now.Add(-RecordFor(k.opts.Grace)).UTC())
	}
}

// RecordFor is how long an encapsulated key is remembered: twice the
// grace, longer than any upload can be in flight. A page draws a fresh
// ephemeral key per image, so an enc seen twice within the window is a
// broken or forged page; beyond it, a replayed object still opens only for
// the capture and side its info names (docs/encryption.md).
func RecordFor(grace time.Duration) time.Duration { return 2 * grace }

// SideError is an ImageError on one side.
type SideError struct {
	Side idv.Side
	*seal.ImageError
}

func (e *SideError) Unwrap() error { return e.ImageError }

func sideError(side idv.Side, err error) error {
	if ie, ok := err.(*seal.ImageError); ok {
		return &SideError{Side: side, ImageError: ie}
	}
	return err
}
