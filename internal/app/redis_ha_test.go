package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/ratelimit"
	redislimit "github.com/idv-dev/idv/ratelimit/redis"
	"github.com/idv-dev/idv/results"
	redisresults "github.com/idv-dev/idv/results/redis"
	redissessions "github.com/idv-dev/idv/sessions/redis"
)

// TestRedisSentinelFailover opens Redis as a deployment with Sentinel does
// (redis.master_name and the Sentinels in redis.addrs), once for a web
// process and once for a worker, and SIGKILLs the primary. The Sentinels
// promote the replica; results, sessions and attempt limits written before
// the kill are still there, new writes land on the new primary, and a
// person who was waiting when the primary died gets their result, woken by
// the web process's subscription that followed the primary.
func TestRedisSentinelFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	set := testenv.StartRedisSentinel(t, testenv.RedisSentinelOptions{})
	cfg := config.Defaults()
	cfg.Redis.Addrs, cfg.Redis.MasterName, cfg.Redis.Prefix = set.SentinelAddrs(), set.MasterName, "idv:"
	if err := cfg.Validate(config.RoleWorker); err != nil && strings.Contains(err.Error(), "redis.") {
		t.Fatal(err)
	}
	webRedis, web := openProcess(t, ctx, cfg)
	_, worker := openProcess(t, ctx, cfg)
	if _, ok := webRedis.(*goredis.Client); !ok { // NewFailoverClient's type; a cluster client would be another
		t.Fatalf("OpenRedis with Sentinel gave a %T", webRedis)
	}
	sessions := redissessions.New(webRedis, cfg.Redis.Prefix+"session:")
	limiter := redislimit.New(webRedis, cfg.Redis.Prefix)
	limit := ratelimit.Limit{Name: "failover_test", Max: 5, Window: time.Hour}

	// Before the failover: a session, two counted attempts, a result the
	// person has read, and a person waiting for a result not written yet.
	if err := sessions.CommitCtx(ctx, "person-1", []byte("sealed session"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := limiter.Increment(ctx, limit, "user-1"); err != nil {
			t.Fatal(err)
		}
	}
	done := idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{Outcome: idv.OutcomeSuccess}}
	read := idv.NewID()
	if err := worker.Store(ctx, read, done); err != nil {
		t.Fatal(err)
	}
	pending := idv.NewID()
	if err := web.Store(ctx, pending, idv.AsyncResult{Status: idv.StatusInProgress}); err != nil {
		t.Fatal(err)
	}
	// Replication is asynchronous: a write the primary acknowledged just
	// before dying can be lost. WAIT makes this test's writes reach the
	// replica first, so what it checks is the failover, not that race.
	if n, err := webRedis.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT for the replica: %d %v", n, err)
	}
	waiter := waitForDone(ctx, web, pending)

	old := set.Primary(t)
	old.Stop(t)
	killed := time.Now()
	promoted := set.WaitForFailover(t, old, time.Minute)
	t.Logf("the sentinels promoted %s %s after the kill", promoted.Addr, time.Since(killed).Round(100*time.Millisecond))

	// The worker writes the waiting person's result, trying again while
	// the failover is still settling, as jobs.Runner does.
	for {
		err := worker.Store(ctx, pending, done)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("storing after the failover: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // as jobs.Runner backs off
	}
	select {
	case err := <-waiter:
		if err != nil {
			t.Fatalf("the waiting person: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the person waiting across the failover never got their result")
	}

	// What was written before is still there.
	if b, found, err := sessions.FindCtx(ctx, "person-1"); err != nil || !found || string(b) != "sealed session" {
		t.Errorf("session after the failover: %q %v %v", b, found, err)
	}
	if at, err := limiter.Status(ctx, limit, "user-1"); err != nil || at.Count != 2 {
		t.Errorf("attempts after the failover: %+v %v, want 2", at, err)
	}
	if r, err := web.Load(ctx, read); err != nil || r.Status != idv.StatusDone {
		t.Errorf("result after the failover: %+v %v", r, err)
	}
	// New writes land on the new primary.
	if at, err := limiter.Increment(ctx, limit, "user-1"); err != nil || at.Count != 3 {
		t.Errorf("an attempt after the failover: %+v %v, want count 3", at, err)
	}
	if err := sessions.CommitCtx(ctx, "person-2", []byte("later"), time.Now().Add(time.Hour)); err != nil {
		t.Error(err)
	}
	if n, err := promoted.Client(t).Exists(ctx, cfg.Redis.Prefix+"session:person-2").Result(); err != nil || n != 1 {
		t.Errorf("the new session is not on the promoted primary: %d %v", n, err)
	}

	// The web process's one subscription moved to the new primary: a
	// person who starts waiting now is woken by the announcement itself.
	pc := promoted.Client(t)
	for {
		// Only the web's store subscribes: a store subscribes on its
		// first Changed, and the worker's never waits.
		n, err := pc.PubSubNumSub(ctx, cfg.Redis.Prefix+"result-written").Result()
		if err == nil && n[cfg.Redis.Prefix+"result-written"] == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no subscription on the promoted primary: %v %v", n, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the promoted primary
	}
	later := idv.NewID()
	ch := web.Changed(ctx, later)
	if err := worker.Store(ctx, later, done); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("an announcement on the new primary did not reach the web process's subscription")
	}
}

// openProcess opens Redis and the result store on it as one web or worker
// process does (app.OpenRedis from cfg); both close when the test ends.
func openProcess(t *testing.T, ctx context.Context, cfg config.Config) (goredis.UniversalClient, *results.Store) {
	t.Helper()
	c, err := app.OpenRedis(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s, err := redisresults.New(c, fake.Sealer{}, results.Options{Prefix: cfg.Redis.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return c, s
}

// waitForDone waits for id's result as the status long poll does, but with
// no fallback tick: only the store's change notifications wake it, so it
// proves the wake-up path. The channel gets nil once the result is done.
func waitForDone(ctx context.Context, s *results.Store, id string) <-chan error {
	out := make(chan error, 1)
	go func() {
		for {
			changed := s.Changed(ctx, id)
			r, err := s.Load(ctx, id)
			if err == nil && r.Status == idv.StatusDone {
				out <- nil
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				out <- ctx.Err()
				return
			}
		}
	}()
	return out
}

// TestRedisCluster opens Redis as a deployment on Redis Cluster does (the
// seed nodes in redis.addrs) and checks that results (with their wake-up),
// sessions and attempt limits work across the three primaries.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cluster := testenv.StartRedisCluster(t)
	cfg := config.Defaults()
	cfg.Redis.Addrs, cfg.Redis.Prefix = cluster.Addrs(), "idv:"
	if err := cfg.Validate(config.RoleWorker); err != nil && strings.Contains(err.Error(), "redis.") {
		t.Fatal(err)
	}
	web, webResults := openProcess(t, ctx, cfg)
	_, workerResults := openProcess(t, ctx, cfg)
	if _, ok := web.(*goredis.ClusterClient); !ok {
		t.Fatalf("OpenRedis with several addrs gave a %T", web)
	}

	// Ten people waiting, their results written by the worker: keys in
	// slots all over the cluster, one announcement channel.
	var waiters []<-chan error
	var ids []string
	for range 10 {
		id := idv.NewID()
		if err := webResults.Store(ctx, id, idv.AsyncResult{Status: idv.StatusInProgress}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		waiters = append(waiters, waitForDone(ctx, webResults, id))
	}
	for _, id := range ids {
		if err := workerResults.Store(ctx, id, idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{Outcome: idv.OutcomeSuccess}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range waiters {
		if err := <-w; err != nil {
			t.Fatalf("person %d: %v", i, err)
		}
	}

	sessions := redissessions.New(web, cfg.Redis.Prefix+"session:")
	for _, tok := range []string{"a", "b", "c", "d"} {
		if err := sessions.CommitCtx(ctx, tok, []byte(tok), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if all, err := sessions.AllCtx(ctx); err != nil || len(all) != 4 {
		t.Fatalf("sessions across the cluster: %d %v", len(all), err)
	}
	limiter := redislimit.New(web, cfg.Redis.Prefix)
	for _, target := range []string{"u1", "u2", "u3"} {
		if at, err := limiter.Increment(ctx, ratelimit.IDVResolution, target); err != nil || at.Count != 1 {
			t.Fatalf("limit of %s: %+v %v", target, at, err)
		}
	}
}

// TestRedisSentinelSwitchover is a planned failover (SENTINEL FAILOVER, as
// an operator or a managed service's maintenance does): the old primary
// stays up and becomes a replica. Writes go to the new primary once the
// processes hear of the switch, and the web process's subscription, which
// was on the old one, still wakes a waiting person.
func TestRedisSentinelSwitchover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	set := testenv.StartRedisSentinel(t, testenv.RedisSentinelOptions{})
	cfg := config.Defaults()
	cfg.Redis.Addrs, cfg.Redis.MasterName, cfg.Redis.Prefix = set.SentinelAddrs(), set.MasterName, "idv:"
	_, web := openProcess(t, ctx, cfg)
	_, worker := openProcess(t, ctx, cfg)
	pending := idv.NewID()
	if err := web.Store(ctx, pending, idv.AsyncResult{Status: idv.StatusInProgress}); err != nil {
		t.Fatal(err)
	}
	waiter := waitForDone(ctx, web, pending)

	old := set.Primary(t)
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: set.SentinelAddrs()[0]})
	defer sc.Close()
	if err := sc.Failover(ctx, set.MasterName).Err(); err != nil {
		t.Fatal(err)
	}
	promoted := set.WaitForFailover(t, old, time.Minute)
	done := idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{Outcome: idv.OutcomeSuccess}}
	// The Sentinels name the new primary a moment before they announce the
	// switch, and the old one takes writes until they demote it: a write in
	// between lands there and is lost with it (docs/operations.md). Once
	// the worker has heard the announcement its writes reach the new one.
	for {
		err := worker.Store(ctx, pending, done)
		if err == nil {
			n, xerr := promoted.Client(t).Exists(ctx, web.Key(pending)).Result()
			if xerr == nil && n == 1 {
				break
			}
			err = fmt.Errorf("the result is not on the new primary: %d %v", n, xerr)
		}
		if ctx.Err() != nil {
			t.Fatalf("storing after the switchover: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // as jobs.Runner backs off
	}
	select {
	case err := <-waiter:
		if err != nil {
			t.Fatalf("the waiting person: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the person waiting across the switchover never got their result")
	}
}

// TestRedisClusterFailover kills the primary that serves the announcement
// channel's slot in a cluster of three primaries with a replica each: the
// replica takes over, the web process's subscription follows the slot to
// it, and a person who was waiting gets their result.
func TestRedisClusterFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster := testenv.StartRedisClusterWith(t, 1)
	cfg := config.Defaults()
	cfg.Redis.Addrs, cfg.Redis.Prefix = cluster.Addrs(), "idv:"
	_, web := openProcess(t, ctx, cfg)
	_, worker := openProcess(t, ctx, cfg)
	channel := cfg.Redis.Prefix + "result-written"

	pending := idv.NewID()
	if err := web.Store(ctx, pending, idv.AsyncResult{Status: idv.StatusInProgress}); err != nil {
		t.Fatal(err)
	}
	waiter := waitForDone(ctx, web, pending)
	old := cluster.MasterOf(t, channel)
	for { // the subscription is up on the channel's primary
		n, err := old.Client(t).PubSubNumSub(ctx, channel).Result()
		if err == nil && n[channel] == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no subscription on %s: %v %v", old.Addr, n, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the primary
	}
	old.Stop(t)
	killed := time.Now()
	promoted := cluster.WaitForTakeover(t, old, channel, time.Minute)
	t.Logf("%s took over the channel's slot %s after the kill", promoted.Addr, time.Since(killed).Round(100*time.Millisecond))

	done := idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{Outcome: idv.OutcomeSuccess}}
	for {
		err := worker.Store(ctx, pending, done)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("storing after the takeover: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // as jobs.Runner backs off
	}
	select {
	case err := <-waiter:
		if err != nil {
			t.Fatalf("the waiting person: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the person waiting across the cluster failover never got their result")
	}
	t.Logf("the waiting person was woken %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	for { // the subscription moved with the slot
		n, err := promoted.Client(t).PubSubNumSub(ctx, channel).Result()
		if err == nil && n[channel] == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no subscription on the new primary %s: %v %v", promoted.Addr, n, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the new primary
	}
	later := idv.NewID()
	ch := web.Changed(ctx, later)
	if err := worker.Store(ctx, later, done); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("an announcement after the takeover did not reach the web process")
	}
}
