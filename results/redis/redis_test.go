package redis_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/results"
	resultsredis "github.com/idv-dev/idv/results/redis"
	"github.com/idv-dev/idv/results/resultstest"
	goredis "github.com/redis/go-redis/v9"
)

// newStore returns a store on client under prefix, closed when the test ends
// (before testenv closes the client).
func newStore(t testing.TB, client goredis.UniversalClient, sealer idv.Sealer, opts results.Options) (*results.Store, *resultsredis.KV) {
	t.Helper()
	kv := resultsredis.NewKV(client, opts.WithDefaults().Prefix)
	s, err := results.New(kv, sealer, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, kv
}

// otherClient is a second connection pool, standing in for another process.
func otherClient(t testing.TB, opts *goredis.Options) *goredis.Client {
	if opts == nil {
		opts = &goredis.Options{}
	}
	opts.Addr = testenv.RedisAddr()
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	t.Parallel()
	resultstest.Run(t, func(t *testing.T, ttl time.Duration) resultstest.Fixture {
		client, prefix := testenv.Redis(t)
		sealer := fake.Sealer{}
		opts := results.Options{Prefix: prefix, TTL: ttl}
		store, kv := newStore(t, client, sealer, opts)
		peer, _ := newStore(t, otherClient(t, nil), sealer, opts)
		return resultstest.Fixture{
			Store: store, Peer: peer, KV: kv, Sealer: sealer,
			TTL:     pttl(client),
			Waiting: kv.Waiting,
		}
	})
}

// pttl is the suite's TTL on client: how long key has left, or
// idv.ErrNotFound.
func pttl(client goredis.UniversalClient) func(key string) (time.Duration, error) {
	return func(key string) (time.Duration, error) {
		d, err := client.PTTL(context.Background(), key).Result()
		if err == nil && d < 0 {
			return 0, idv.ErrNotFound
		}
		return d, err
	}
}

// TestNoPIIInRedis stores a result full of distinctive PII and reads back
// everything Redis holds or carries for it: the key, the raw value and the
// announcement on the channel.
func TestNoPIIInRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client, prefix := testenv.Redis(t)
	store, kv := newStore(t, client, fake.Sealer{}, results.Options{Prefix: prefix})

	sub := client.Subscribe(ctx, kv.Channel())
	defer sub.Close()
	if _, err := sub.ReceiveTimeout(ctx, resultstest.Deadline); err != nil { // subscribe confirmation
		t.Fatal(err)
	}

	id := idv.NewID()
	if err := store.Store(ctx, id, resultstest.DoneWithCanary()); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.ReceiveTimeout(ctx, resultstest.Deadline)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := msg.(*goredis.Message); !ok || m.Payload != id || m.Channel != prefix+"result-written" {
		t.Fatalf("announcement = %#v, want id %q on %q", msg, id, prefix+"result-written")
	}

	keys, err := client.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != prefix+"result:"+id {
		t.Fatalf("keys = %q, want [%q]", keys, prefix+"result:"+id)
	}
	raw, err := client.Get(ctx, keys[0]).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 {
		t.Fatal("empty value")
	}
	for _, v := range append(resultstest.CanaryValues(), "Canary", `"status"`, "done", "success") {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("raw Redis value contains %q", v)
		}
	}
	got, err := store.Load(ctx, id)
	if err != nil || got.Result == nil || got.Result.Applicant == nil || *got.Result.Applicant != resultstest.Canary {
		t.Fatalf("Load after the checks: %v", err)
	}
}

// TestUnavailable checks that a Redis that cannot be reached gives
// EUNAVAILABLE errors that carry no PII, and that waiting does not block.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	client := goredis.NewClient(&goredis.Options{Addr: testenv.ClosedAddr(t), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	store, _ := newStore(t, client, fake.Sealer{}, results.Options{})
	ctx := context.Background()

	errs := map[string]error{}
	errs["Store"] = store.Store(ctx, "id", resultstest.DoneWithCanary())
	_, errs["Load"] = store.Load(ctx, "id")
	for op, err := range errs {
		if idv.ErrorCode(err) != idv.EUNAVAILABLE || idv.ErrorMessage(err) != "result store unavailable" {
			t.Errorf("%s error = %v, want EUNAVAILABLE result store unavailable", op, err)
			continue
		}
		for _, v := range resultstest.CanaryValues() {
			if strings.Contains(err.Error(), v) {
				t.Errorf("%s error %q contains PII", op, err)
			}
		}
	}

	waitCtx, cancel := context.WithCancel(ctx)
	ch := store.Changed(waitCtx, "id") // must return although Redis is down
	cancel()
	select {
	case <-ch:
	case <-time.After(resultstest.Deadline):
		t.Fatal("Changed channel not closed with its context")
	}
}

// TestResubscribe cuts the shared subscription's connection, as a Redis
// restart or a network fault would, and checks that go-redis reconnects and
// re-subscribes: waiters from before the cut are woken to re-read (their
// announcement may be lost), and later writes are announced again.
func TestResubscribe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin, prefix := testenv.Redis(t)
	name := strings.ReplaceAll(testenv.RandomName("idvtest-"), ":", "")
	client := otherClient(t, &goredis.Options{ClientName: name})
	store, kv := newStore(t, client, fake.Sealer{}, results.Options{Prefix: prefix})

	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	first := idv.NewID()
	ch := store.Changed(waitCtx, first)
	if err := store.Store(ctx, first, idv.AsyncResult{Status: idv.StatusInProgress}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch)
	if n := subscribers(t, admin, kv.Channel()); n != 1 {
		t.Fatalf("%d subscribers on the channel, want 1 (one per process)", n)
	}

	before := store.Changed(waitCtx, idv.NewID()) // a waiter whose write will never come
	killed := 0
	for line := range strings.Lines(admin.ClientList(ctx).Val()) {
		if strings.Contains(line, " name="+name+" ") && strings.Contains(line, " sub=1 ") {
			id := strings.TrimPrefix(strings.Fields(line)[0], "id=")
			if err := admin.ClientKillByFilter(ctx, "ID", id).Err(); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d subscription connections, want 1", killed)
	}
	waitFor(t, before) // woken by the new subscription's confirmation

	if n := subscribers(t, admin, kv.Channel()); n != 1 {
		t.Fatalf("%d subscribers after reconnect, want 1", n)
	}
	next := idv.NewID()
	ch = store.Changed(waitCtx, next)
	if err := store.Store(ctx, next, idv.AsyncResult{Status: idv.StatusInProgress}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch)
}

// TestLazySubscription checks that a store that nobody waits on (a worker)
// holds no subscription.
func TestLazySubscription(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client, prefix := testenv.Redis(t)
	store, kv := newStore(t, client, fake.Sealer{}, results.Options{Prefix: prefix})
	if err := store.Store(ctx, idv.NewID(), idv.AsyncResult{Status: idv.StatusInProgress}); err != nil {
		t.Fatal(err)
	}
	if n := subscribers(t, client, kv.Channel()); n != 0 {
		t.Fatalf("%d subscribers before any Changed, want 0", n)
	}
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range 10 {
		store.Changed(waitCtx, idv.NewID())
	}
	// Changed does not wait for Redis to confirm; poll until it has.
	waitSubscribers(t, client, kv.Channel(), 1)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	// Redis drops a closed connection's subscriptions when it reads the
	// close, after Close has returned; poll until it has.
	waitSubscribers(t, client, kv.Channel(), 0)
}

// waitSubscribers polls until channel has want subscribers, and fails the
// test if it has not within resultstest.Deadline.
func waitSubscribers(t *testing.T, c *goredis.Client, channel string, want int64) {
	t.Helper()
	deadline := time.Now().Add(resultstest.Deadline)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		n := subscribers(t, c, channel)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers on %s, want %d", n, channel, want)
		}
		<-tick.C
	}
}

func subscribers(t *testing.T, c *goredis.Client, channel string) int64 {
	t.Helper()
	m, err := c.PubSubNumSub(context.Background(), channel).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m[channel]
}

func waitFor(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
	case <-time.After(resultstest.Deadline):
		t.Fatalf("no notification within %s", resultstest.Deadline)
	}
}

// TestConformanceCluster runs the suite on a Redis Cluster of three
// primaries: SETEX and PUBLISH of one write go to different nodes (the
// key's slot and the channel's), and the announcement crosses the cluster
// bus to the node the subscription is on.
func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartRedisCluster(t)
	resultstest.Run(t, func(t *testing.T, ttl time.Duration) resultstest.Fixture {
		client := cluster.Client(t)
		prefix := testenv.RandomName("test:") + ":"
		sealer := fake.Sealer{}
		opts := results.Options{Prefix: prefix, TTL: ttl}
		store, kv := newStore(t, client, sealer, opts)
		peer, _ := newStore(t, cluster.Client(t), sealer, opts)
		return resultstest.Fixture{
			Store: store, Peer: peer, KV: kv, Sealer: sealer,
			TTL:     pttl(client),
			Waiting: kv.Waiting,
		}
	})
}
