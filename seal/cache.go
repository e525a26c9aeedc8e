package seal

import (
	"crypto/cipher"
	"crypto/sha256"
	"sync"
	"time"
)

// cacheKey identifies a wrapped data key: the SHA-256 of the header after
// the format byte (key id and wrapped key, with their lengths). Hashing keeps
// entries small whatever the wrapped key's size, and a cached key is only
// found for exactly the bytes it was unwrapped from.
type cacheKey [sha256.Size]byte

func cacheKeyOf(header []byte) cacheKey { return sha256.Sum256(header[1:]) }

type cacheEntry struct {
	aead    cipher.AEAD
	expires time.Time
}

// keyCache holds unwrapped data keys (as ready-to-use ciphers) so repeated
// Opens do not call the wrapper. It is bounded in size, evicting the oldest
// insertion first, and entries expire so that a key revoked in KMS stops
// opening values within the TTL. Lookups take only a read lock: Opens run
// on every worker goroutine.
type keyCache struct {
	mu      sync.RWMutex
	entries map[cacheKey]cacheEntry
	order   []cacheKey // ring of inserted keys, oldest at next once full
	next    int
	ttl     time.Duration
}

func newKeyCache(size int, ttl time.Duration) *keyCache {
	return &keyCache{
		entries: make(map[cacheKey]cacheEntry, size),
		order:   make([]cacheKey, 0, size),
		ttl:     ttl,
	}
}

// get returns the cipher cached under k if it has not expired at now.
func (c *keyCache) get(k cacheKey, now time.Time) (cipher.AEAD, bool) {
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.aead, true
}

// put caches aead under k until now+ttl, evicting the oldest entry if the
// cache is full.
func (c *keyCache) put(k cacheKey, aead cipher.AEAD, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := cacheEntry{aead: aead, expires: now.Add(c.ttl)}
	if _, ok := c.entries[k]; ok {
		// Refreshed after expiry: keep its place in the ring, so the ring
		// and the map always hold the same keys.
		c.entries[k] = e
		return
	}
	if len(c.order) < cap(c.order) {
		c.order = append(c.order, k)
	} else {
		delete(c.entries, c.order[c.next])
		c.order[c.next] = k
		c.next = (c.next + 1) % len(c.order)
	}
	c.entries[k] = e
}
