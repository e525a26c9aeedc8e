// Package memory counts rate-limit attempts in this process's memory, for
// `idv dev` and tests. Its expiries follow an injectable clock.
package memory

import (
	"context"
	"sync"
	"time"

	"github.com/idv-dev/idv/ratelimit"
)

// sweepEvery bounds how often an increment scans for ended windows, so the
// map does not grow with targets that never come back.
const sweepEvery = time.Minute

// Limiter is an in-memory ratelimit.Limiter.
type Limiter struct {
	now func() time.Time

	mu        sync.Mutex
	counters  map[counterKey]counter
	lastSweep time.Time
}

type counterKey struct{ name, target string }

type counter struct {
	count   int
	expires time.Time
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// New returns an empty Limiter on now (time.Now when nil).
func New(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, counters: make(map[counterKey]counter)}
}

// Increment counts one attempt unless target is already limited; a counted
// attempt moves the end of the window to one Window from now.
func (m *Limiter) Increment(_ context.Context, l ratelimit.Limit, target string) (ratelimit.Attempts, error) {
	if err := ratelimit.Check(l, target); err != nil {
		return ratelimit.Attempts{}, err
	}
	now := m.now()
	k := counterKey{l.Name, target}
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastSweep) >= sweepEvery {
		m.sweep(now)
	}
	c := m.live(k, now)
	counted := c.count < l.Max
	if counted {
		c = counter{count: c.count + 1, expires: now.Add(l.Window)}
		m.counters[k] = c
	}
	at := l.Attempts(c.count, c.expires)
	at.Counted = counted
	return at, nil
}

// Status returns the count and window end without counting.
func (m *Limiter) Status(_ context.Context, l ratelimit.Limit, target string) (ratelimit.Attempts, error) {
	if err := ratelimit.Check(l, target); err != nil {
		return ratelimit.Attempts{}, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.live(counterKey{l.Name, target}, now)
	return l.Attempts(c.count, c.expires), nil
}

// Reset forgets the target's attempts.
func (m *Limiter) Reset(_ context.Context, l ratelimit.Limit, target string) error {
	if err := ratelimit.Check(l, target); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.counters, counterKey{l.Name, target})
	return nil
}

// Len returns how many counters are held, ended or not, so tests can see the
// sweep work.
func (m *Limiter) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.counters)
}

// live returns the counter of k, or the zero counter once its window ended;
// m.mu must be held.
func (m *Limiter) live(k counterKey, now time.Time) counter {
	c, ok := m.counters[k]
	if !ok {
		return counter{}
	}
	if !now.Before(c.expires) {
		delete(m.counters, k)
		return counter{}
	}
	return c
}

// sweep drops counters whose window ended; m.mu must be held.
func (m *Limiter) sweep(now time.Time) {
	for k, c := range m.counters {
		if !now.Before(c.expires) {
			delete(m.counters, k)
		}
	}
	m.lastSweep = now
}
