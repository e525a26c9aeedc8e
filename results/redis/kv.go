package redis

import (
	"context"
	"errors"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/results"
	goredis "github.com/redis/go-redis/v9"
)

// KV is a results.KV on Redis. Writes are SETEX then PUBLISH of the id, sent
// in one round trip; Changed waiters in this process all hang off one shared
// subscription to the announce channel, started on first use.
type KV struct {
	client  goredis.UniversalClient
	channel string
	hub     results.Hub
	sub     subscription
}

var _ results.KV = (*KV)(nil)

// NewKV returns a KV on client whose announce channel is prefix +
// "result-written".
func NewKV(client goredis.UniversalClient, prefix string) *KV {
	kv := &KV{client: client, channel: prefix + "result-written"}
	kv.sub.init(client, kv.channel, &kv.hub)
	return kv
}

// Channel is the pub/sub channel writes are announced on.
func (kv *KV) Channel() string { return kv.channel }

// Put writes value under key with SETEX and publishes id. A failed PUBLISH
// after a successful SETEX is not an error: the value is stored, and waiters
// re-read on their fallback tick anyway.
func (kv *KV) Put(ctx context.Context, key, id string, value []byte, ttl time.Duration) error {
	if ttl < time.Second || ttl%time.Second != 0 {
		// SETEX would silently round; results.Options.Validate stops this earlier.
		return idv.Errorf(idv.EINVALID, "result TTL %s is not a positive whole number of seconds", ttl)
	}
	var set *goredis.StatusCmd
	_, err := kv.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		set = p.SetEx(ctx, key, value, ttl)
		p.Publish(ctx, kv.channel, id)
		return nil
	})
	// Only SETEX's own reply proves the write: a pipeline that never got a
	// connection leaves its commands without error or value.
	if set.Val() != "OK" {
		if set.Err() != nil {
			err = set.Err()
		}
		if err == nil {
			err = errors.New("SETEX not acknowledged")
		}
		return unavailable(err)
	}
	return nil
}

// Get returns the value under key, or idv.ErrNotFound.
func (kv *KV) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := kv.client.Get(ctx, key).Bytes()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil, idv.ErrNotFound
	case err != nil:
		return nil, unavailable(err)
	}
	return b, nil
}

// Changed registers a waiter for id on this process's shared subscription,
// starting it if needed. It never blocks on Redis: a waiter registered before
// the subscription is confirmed is woken when it is, to re-read anything
// written in between.
func (kv *KV) Changed(ctx context.Context, id string) <-chan struct{} {
	kv.sub.start()
	return kv.hub.Wait(ctx, id)
}

// Waiting returns how many Changed waiters are registered.
func (kv *KV) Waiting() int { return kv.hub.Waiting() }

// Close ends the shared subscription. Waiters stay registered until their
// contexts end but are not woken again.
func (kv *KV) Close() error { return kv.sub.close() }

// unavailable hides a Redis failure behind the coded error the web maps to
// "try again later". go-redis errors name addresses and commands, never
// values, so the cause is kept for operators.
func unavailable(err error) error {
	return idv.WrapError(idv.EUNAVAILABLE, "result store unavailable", err)
}
