// Package results keeps the sealed status of each proofing attempt (the
// result store). Store seals every value before it reaches the backend, so the
// backend (Redis in production, a map in `idv dev`) only ever holds
// ciphertext; the backends live in results/redis and results/memory and share
// the conformance suite in results/resultstest.
package results

import (
	"context"
	"time"
)

// KV is the byte-level backend under a Store. It knows nothing of sealing or
// of the value's shape, so each backend stays a thin adapter.
type KV interface {
	// Put writes value under key for ttl (whole seconds), replacing any value
	// and its TTL, and then announces id to the Changed waiters of every
	// process sharing the backend. The id, not the key, is announced: it is
	// what waiters know, and it is random, never PII.
	Put(ctx context.Context, key, id string, value []byte, ttl time.Duration) error
	// Get returns the value under key, or idv.ErrNotFound when it expired or
	// was never written.
	Get(ctx context.Context, key string) ([]byte, error)
	// Changed returns a channel (buffer 1) that receives after id is next
	// announced, and may receive spuriously (for example after the backend
	// reconnects, when announcements may have been missed). It is closed when
	// ctx is done.
	Changed(ctx context.Context, id string) <-chan struct{}
}
