package fake

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/imagekey"
)

// ImageKeyStore is an in-memory imagekey.KeyStore (queue.Queue.ImageKeys
// is the real one, tested on both databases).
type ImageKeyStore struct {
	// ListFn, if set, is called first by ListKeys: its error is returned.
	ListFn func() error

	mu   sync.Mutex
	keys []imagekey.StoredKey
	encs map[string]imagekey.Encapsulation
}

func (m *ImageKeyStore) InsertKey(_ context.Context, k imagekey.StoredKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.keys {
		if o.ID == k.ID {
			return idv.Errorf(idv.ECONFLICT, "exists")
		}
	}
	m.keys = append(m.keys, k)
	return nil
}

func (m *ImageKeyStore) ListKeys(context.Context) ([]imagekey.StoredKey, error) {
	if m.ListFn != nil {
		if err := m.ListFn(); err != nil {
			return nil, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.keys)
	slices.SortFunc(out, func(a, b imagekey.StoredKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (m *ImageKeyStore) RetireKey(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		if m.keys[i].ID == id && m.keys[i].RetiredAt.IsZero() {
			m.keys[i].RetiredAt = at
		}
	}
	return nil
}

func (m *ImageKeyStore) RecordEncapsulations(_ context.Context, es []imagekey.Encapsulation) ([]imagekey.Owner, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.encs == nil {
		m.encs = map[string]imagekey.Encapsulation{}
	}
	owners := make([]imagekey.Owner, len(es))
	for i, e := range es {
		got, ok := m.encs[string(e.EncHash)]
		if !ok {
			m.encs[string(e.EncHash)], got = e, e
		}
		owners[i] = imagekey.Owner{CaptureID: got.CaptureID, Side: got.Side}
	}
	return owners, nil
}

func (m *ImageKeyStore) PruneEncapsulations(_ context.Context, before time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, e := range m.encs {
		if e.SeenAt.Before(before) {
			delete(m.encs, h)
		}
	}
	return nil
}
