package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// B3's baseline: the same Redis answering plain GETs of one value the size
// of a stored result, from the same process with as many concurrent callers
// as B3 has pollers. A status check does more than one GET (the session,
// the sealed result, PostgreSQL, two opens, HTTP), so the ratio of B3's rate
// to this one says how much of Redis's capacity the endpoint keeps.

// RedisGetOptions says what RunRedisGet asks for.
type RedisGetOptions struct {
	// Prefix is put before the key; the key is deleted at the end.
	Prefix string
	// ValueSize is the value's length in bytes (random bytes; may be 0).
	ValueSize int
	// Conns is how many goroutines GET at once, each waiting for its answer
	// before asking again. Each holds one of the client's connections while
	// it waits, so give the client a PoolSize of at least Conns.
	Conns int
	// Ops is how many GETs are made in all.
	Ops int
}

// RedisGetResult is one run.
type RedisGetResult struct {
	// Ops is how many GETs answered with the value: all that were asked.
	Ops int
	// Elapsed runs from the first GET to the last answer.
	Elapsed time.Duration
	// PerSecond is Ops / Elapsed.
	PerSecond float64
}

// RunRedisGet stores a random value of o.ValueSize bytes under one key, GETs
// it o.Ops times from o.Conns goroutines sharing rc, and deletes the key,
// whatever happened. A GET that fails or answers another value ends the run
// with an error, as does ctx.
func RunRedisGet(ctx context.Context, rc goredis.UniversalClient, o RedisGetOptions) (RedisGetResult, error) {
	switch {
	case o.ValueSize < 0:
		return RedisGetResult{}, fmt.Errorf("redis GET baseline: value size must not be negative, not %d", o.ValueSize)
	case o.Conns < 1:
		return RedisGetResult{}, fmt.Errorf("redis GET baseline: connections must be positive, not %d", o.Conns)
	case o.Ops < 1:
		return RedisGetResult{}, fmt.Errorf("redis GET baseline: operations must be positive, not %d", o.Ops)
	}
	value := make([]byte, o.ValueSize)
	_, _ = rand.Read(value)
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	key := o.Prefix + "redis-get-baseline:" + hex.EncodeToString(suffix[:])
	if err := rc.Set(ctx, key, value, 0).Err(); err != nil {
		return RedisGetResult{}, fmt.Errorf("redis GET baseline: set: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = rc.Del(dctx, key).Err()
	}()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, answered atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range o.Conns {
		wg.Go(func() {
			for next.Add(1) <= int64(o.Ops) {
				got, err := rc.Get(ctx, key).Bytes()
				switch {
				case err != nil:
					cancel(err)
					return
				case !bytes.Equal(got, value):
					cancel(errors.New("GET answered another value"))
					return
				}
				answered.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := answered.Load(); n < int64(o.Ops) {
		return RedisGetResult{}, fmt.Errorf("redis GET baseline: %d of %d GETs answered: %w", n, o.Ops, context.Cause(ctx))
	}
	return RedisGetResult{Ops: o.Ops, Elapsed: elapsed, PerSecond: float64(o.Ops) / elapsed.Seconds()}, nil
}
