// Package memory is an in-process result-store backend for `idv dev` and unit
// tests: a map whose entries expire on the injected clock, with change
// notification fanned out inside the process. Values are still sealed by
// results.Store, so the map holds only ciphertext.
package memory

import (
	"context"
	"sync"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/results"
)

// sweepEvery bounds how often a write scans the map for expired entries, so
// the map does not grow with ids nobody reads again.
const sweepEvery = time.Minute

// KV is an in-memory results.KV. The zero value is not usable; use NewKV.
type KV struct {
	now func() time.Time
	hub results.Hub

	mu        sync.Mutex
	entries   map[string]entry
	lastSweep time.Time
}

type entry struct {
	value   []byte
	expires time.Time
}

var _ results.KV = (*KV)(nil)

// NewKV returns an empty KV whose expiries follow now (time.Now when nil), so
// tests can move time instead of waiting for it.
func NewKV(now func() time.Time) *KV {
	if now == nil {
		now = time.Now
	}
	return &KV{now: now, entries: make(map[string]entry)}
}

// New returns a result store held in this process's memory.
func New(sealer idv.Sealer, opts results.Options) (*results.Store, error) {
	return results.New(NewKV(nil), sealer, opts)
}

// Put stores a copy of value until now+ttl and wakes the waiters of id.
func (kv *KV) Put(ctx context.Context, key, id string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return idv.WrapError(idv.EUNAVAILABLE, "result store unavailable", err)
	}
	now := kv.now()
	kv.mu.Lock()
	kv.entries[key] = entry{value: clone(value), expires: now.Add(ttl)}
	if now.Sub(kv.lastSweep) >= sweepEvery {
		kv.sweep(now)
	}
	kv.mu.Unlock()
	kv.hub.Wake(id)
	return nil
}

// Get returns a copy of the value under key, or idv.ErrNotFound once it has
// expired. The copy keeps a caller that opens in place from altering the map.
func (kv *KV) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, idv.WrapError(idv.EUNAVAILABLE, "result store unavailable", err)
	}
	now := kv.now()
	kv.mu.Lock()
	defer kv.mu.Unlock()
	e, ok := kv.entries[key]
	if !ok {
		return nil, idv.ErrNotFound
	}
	if !now.Before(e.expires) {
		delete(kv.entries, key)
		return nil, idv.ErrNotFound
	}
	return clone(e.value), nil
}

// TTL returns how long the value under key has left to live, or
// idv.ErrNotFound.
func (kv *KV) TTL(key string) (time.Duration, error) {
	now := kv.now()
	kv.mu.Lock()
	defer kv.mu.Unlock()
	e, ok := kv.entries[key]
	if !ok || !now.Before(e.expires) {
		return 0, idv.ErrNotFound
	}
	return e.expires.Sub(now), nil
}

// Changed registers a waiter for id; see results.Hub.Wait.
func (kv *KV) Changed(ctx context.Context, id string) <-chan struct{} {
	return kv.hub.Wait(ctx, id)
}

// Waiting returns how many Changed waiters are registered.
func (kv *KV) Waiting() int { return kv.hub.Waiting() }

// sweep deletes expired entries; kv.mu must be held.
func (kv *KV) sweep(now time.Time) {
	for k, e := range kv.entries {
		if !now.Before(e.expires) {
			delete(kv.entries, k)
		}
	}
	kv.lastSweep = now
}

// Len returns how many entries the map holds, expired or not, so tests can
// see the sweep work.
func (kv *KV) Len() int {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return len(kv.entries)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
