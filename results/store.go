package results

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/idv-dev/idv"
)

// DefaultPrefix starts every key when Options.Prefix is empty.
const DefaultPrefix = "idv:"

// Options configures a Store.
type Options struct {
	// Prefix starts every key, so one backend can serve several deployments
	// (and each test its own keys). Empty means DefaultPrefix.
	Prefix string
	// TTL is how long a stored value lives; it is the web timeout. Zero means
	// idv.ResultTTL. It must be a whole number of seconds, because Redis
	// expiries are whole seconds and a silently rounded timeout would differ
	// between backends.
	TTL time.Duration
}

// WithDefaults returns o with empty fields set to their defaults.
func (o Options) WithDefaults() Options {
	o.Prefix = cmp.Or(o.Prefix, DefaultPrefix)
	o.TTL = cmp.Or(o.TTL, idv.ResultTTL)
	return o
}

// Validate reports a setting that a Store cannot honour.
func (o Options) Validate() error {
	o = o.WithDefaults()
	if o.TTL < time.Second || o.TTL%time.Second != 0 {
		return idv.Errorf(idv.EINVALID, "result TTL %s is not a positive whole number of seconds", o.TTL)
	}
	return nil
}

// Store implements idv.ResultStore: it seals each idv.AsyncResult with AAD
// bound to its key, so a value copied to another key does not open, and
// writes the ciphertext to a KV.
type Store struct {
	kv     KV
	sealer idv.Sealer
	prefix string
	ttl    time.Duration
}

var _ idv.ResultStore = (*Store)(nil)

// New returns a Store on kv that seals with sealer.
func New(kv KV, sealer idv.Sealer, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	return &Store{kv: kv, sealer: sealer, prefix: opts.Prefix, ttl: opts.TTL}, nil
}

// Key is the backend key of result id: <prefix>result:<id>.
func (s *Store) Key(id string) string { return s.prefix + "result:" + id }

// TTL is how long each stored value lives.
func (s *Store) TTL() time.Duration { return s.ttl }

// Store seals r and writes it under id for the Store's TTL, replacing any
// value (so the done write restarts the clock the browser has to read it),
// then announces the write to Changed waiters.
func (s *Store) Store(ctx context.Context, id string, r idv.AsyncResult) error {
	if id == "" {
		return idv.Errorf(idv.EINVALID, "result id is empty")
	}
	if r.Status != idv.StatusInProgress && r.Status != idv.StatusDone {
		return idv.Errorf(idv.EINVALID, "result status %q cannot be stored", r.Status)
	}
	// json.Marshal replaces invalid UTF-8 in vendor strings with U+FFFD, so a
	// stored value always decodes.
	plain, err := json.Marshal(r)
	if err != nil {
		// Do not wrap: an encoding error may quote a value.
		return idv.Errorf(idv.EINTERNAL, "result could not be encoded")
	}
	key := s.Key(id)
	sealed, err := s.sealer.Seal(ctx, plain, idv.ResultAAD(key))
	clear(plain) // the plaintext may hold PII; do not leave it for the heap
	if err != nil {
		return sealerError(err, idv.EINTERNAL, "result could not be sealed")
	}
	return s.kv.Put(ctx, key, id, sealed, s.ttl)
}

// Load returns the result stored under id: idv.ErrNotFound when it expired or
// was never written, an ETAMPERED error when the stored value does not open
// or does not decode (the web treats it as missing and raises an alert), and
// the backend's error (EUNAVAILABLE) when the backend cannot be reached.
func (s *Store) Load(ctx context.Context, id string) (idv.AsyncResult, error) {
	if id == "" {
		return idv.AsyncResult{}, idv.ErrNotFound
	}
	key := s.Key(id)
	sealed, err := s.kv.Get(ctx, key)
	if err != nil {
		return idv.AsyncResult{}, err
	}
	plain, err := s.sealer.Open(ctx, sealed, idv.ResultAAD(key))
	if err != nil {
		return idv.AsyncResult{}, sealerError(err, idv.ETAMPERED, "stored result did not open")
	}
	defer clear(plain)
	var r idv.AsyncResult
	if err := json.Unmarshal(plain, &r); err != nil {
		// Do not wrap: json errors can quote parts of the (PII) plaintext.
		return idv.AsyncResult{}, idv.Errorf(idv.ETAMPERED, "stored result is malformed")
	}
	if r.Status != idv.StatusInProgress && r.Status != idv.StatusDone {
		return idv.AsyncResult{}, idv.Errorf(idv.ETAMPERED, "stored result has an unknown status")
	}
	return r, nil
}

// Changed returns a channel that receives (best effort) after id is next
// written by any process sharing the backend; it is closed when ctx is done.
func (s *Store) Changed(ctx context.Context, id string) <-chan struct{} {
	return s.kv.Changed(ctx, id)
}

// Close releases what the backend holds open (a Redis subscription). It does
// not close a client the caller passed in.
func (s *Store) Close() error {
	if c, ok := s.kv.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// sealerError keeps the code of a coded sealer error whose code is
// specific (ETAMPERED, or EUNAVAILABLE when a key service is down) and gives
// any other error the code fallback. Sealer errors are PII-free by contract,
// so they are wrapped for operators.
func sealerError(err error, fallback, message string) error {
	var e *idv.Error
	if errors.As(err, &e) && e.Code != idv.EINTERNAL {
		return idv.WrapError(e.Code, message, err)
	}
	return idv.WrapError(fallback, message, err)
}
