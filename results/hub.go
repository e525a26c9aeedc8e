package results

import (
	"context"
	"sync"
)

// Hub fans announcements out to the in-process waiters of each id. A backend
// holds one Hub and one upstream source of announcements (a Redis
// subscription, or its own writes), so the number of waiting pages never
// multiplies connections to the backend. The zero Hub is ready to use.
type Hub struct {
	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
}

// Wait registers a waiter for id. The returned channel has a buffer of one
// and receives without blocking the announcer: a waiter that has not yet
// drained an earlier wake-up loses nothing, since one pending wake-up already
// tells it to re-read. The waiter is removed and its channel closed when ctx
// is done, so ctx must end (a request context does).
func (h *Hub) Wait(ctx context.Context, id string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	if ctx.Err() != nil {
		// Already over: never registered, so no wake-up can reach it.
		close(ch)
		return ch
	}
	h.mu.Lock()
	if h.waiters == nil {
		h.waiters = make(map[string]map[chan struct{}]struct{})
	}
	set := h.waiters[id]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		h.waiters[id] = set
	}
	set[ch] = struct{}{}
	h.mu.Unlock()

	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		// Close under the lock so no Wake can send on a closed channel.
		if set := h.waiters[id]; set != nil {
			delete(set, ch)
			if len(set) == 0 {
				delete(h.waiters, id)
			}
		}
		close(ch)
	})
	return ch
}

// Wake tells every waiter of id that it may have changed.
func (h *Hub) Wake(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.waiters[id] {
		notify(ch)
	}
}

// WakeAll tells every waiter that its id may have changed. Backends call it
// when announcements may have been lost (a subscription that just started or
// came back after a reconnect), so that nobody waits for a write they missed.
func (h *Hub) WakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, set := range h.waiters {
		for ch := range set {
			notify(ch)
		}
	}
}

// Waiting returns how many waiters are registered, for tests and metrics.
func (h *Hub) Waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.waiters {
		n += len(set)
	}
	return n
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
