package redis

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/idv-dev/idv/results"
	goredis "github.com/redis/go-redis/v9"
)

// subscription is the one SUBSCRIBE a process holds on the announce channel.
// A per-request SUBSCRIBE would cost a Redis connection per waiting page;
// instead every message is fanned out to in-process waiters through the hub.
//
// go-redis's PubSub reconnects and re-subscribes by itself after a network
// error or a Redis restart (and pings every few seconds to notice a dead
// connection). Messages published while it was away are lost, so each
// subscribe confirmation — the first one and each after a reconnect — wakes
// every waiter to re-read.
type subscription struct {
	client  goredis.UniversalClient
	channel string
	hub     *results.Hub

	started atomic.Bool // fast path for start once running (or closed)

	mu     sync.Mutex
	pubsub *goredis.PubSub
	closed bool
	done   chan struct{} // closed when the fan-out goroutine has returned
}

func (s *subscription) init(client goredis.UniversalClient, channel string, hub *results.Hub) {
	s.client, s.channel, s.hub = client, channel, hub
}

// start subscribes on first use. It does not wait for Redis: if Redis is
// down, go-redis keeps retrying in the background.
func (s *subscription) start() {
	if s.started.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pubsub != nil || s.closed {
		return
	}
	// The subscription outlives the request that started it.
	s.pubsub = s.client.Subscribe(context.Background(), s.channel)
	msgs := s.pubsub.ChannelWithSubscriptions()
	s.done = make(chan struct{})
	go s.fanOut(msgs, s.done)
	s.started.Store(true)
}

func (s *subscription) fanOut(msgs <-chan any, done chan<- struct{}) {
	defer close(done)
	for m := range msgs {
		switch m := m.(type) {
		case *goredis.Message:
			s.hub.Wake(m.Payload)
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				s.hub.WakeAll()
			}
		}
	}
}

// close ends the subscription and waits for the fan-out goroutine.
func (s *subscription) close() error {
	s.mu.Lock()
	s.closed = true
	s.started.Store(true)
	ps, done := s.pubsub, s.done
	s.pubsub = nil
	s.mu.Unlock()
	if ps == nil {
		return nil
	}
	err := ps.Close()
	<-done
	return err
}
