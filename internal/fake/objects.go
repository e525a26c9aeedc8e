package fake

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idv-dev/idv"
)

// ObjectURLPrefix begins every URL the fake ObjectStore issues; the key
// follows it.
const ObjectURLPrefix = "https://objects.test/bucket/"

// ObjectURL is the URL the fake ObjectStore's PresignPut issues for key.
func ObjectURL(key string) string { return ObjectURLPrefix + key + "?sig=fake" }

// ObjectStore is an idv.ObjectStore in memory, for tests of the web tier
// and the document job (the adapters are tested against real backends in
// package objects). It keeps the port's contract where callers rely on it:
// a missing object is ErrNotFound, one over MaxImageBytes is EINVALID, and
// KeyFromURL accepts only its own URLs. The zero value is ready to use.
type ObjectStore struct {
	// GetFn, when set, answers Get (a store that is down).
	GetFn func(ctx context.Context, key string) ([]byte, error)

	mu       sync.Mutex
	objects  map[string][]byte
	deleted  []string
	presigns []Presign
}

var _ idv.ObjectStore = (*ObjectStore)(nil)

// Presign is one PresignPut call the fake answered.
type Presign struct {
	Key     string
	Size    int64
	Expires time.Duration
}

// PresignPut returns ObjectURL(key); nothing can be PUT to it. It refuses
// a size outside 1..MaxImageBytes or a non-positive expiry, as the
// adapters do, and records the call (Presigns).
func (s *ObjectStore) PresignPut(_ context.Context, key string, size int64, expires time.Duration) (string, error) {
	if size < 1 || size > idv.MaxImageBytes || expires <= 0 {
		return "", idv.Errorf(idv.EINVALID, "fake object store: size %d or expiry %s out of range", size, expires)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.presigns = append(s.presigns, Presign{Key: key, Size: size, Expires: expires})
	return ObjectURL(key), nil
}

// Presigns lists the PresignPut calls answered so far.
func (s *ObjectStore) Presigns() []Presign {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.presigns)
}

// Put stores a copy of data at key.
func (s *ObjectStore) Put(_ context.Context, key string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects == nil {
		s.objects = map[string][]byte{}
	}
	s.objects[key] = slices.Clone(data)
	return nil
}

// Get returns a copy of the object at key.
func (s *ObjectStore) Get(ctx context.Context, key string) ([]byte, error) {
	if s.GetFn != nil {
		return s.GetFn(ctx, key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[key]
	if !ok {
		return nil, idv.ErrNotFound
	}
	if len(b) > idv.MaxImageBytes {
		return nil, idv.Errorf(idv.EINVALID, "object too large")
	}
	return slices.Clone(b), nil
}

// Delete removes the object at key, if any, and records key.
func (s *ObjectStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
	s.deleted = append(s.deleted, key)
	return nil
}

// KeyFromURL returns the key of a URL under ObjectURLPrefix, without its
// query, and refuses any other URL with EINVALID.
func (s *ObjectStore) KeyFromURL(raw string) (string, error) {
	key, ok := strings.CutPrefix(raw, ObjectURLPrefix)
	if !ok {
		return "", idv.Errorf(idv.EINVALID, "not a URL of this store")
	}
	key, _, _ = strings.Cut(key, "?")
	return key, nil
}

// Deleted returns the keys passed to Delete, in order.
func (s *ObjectStore) Deleted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deleted)
}
