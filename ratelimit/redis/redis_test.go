package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/ratelimit/ratelimittest"
	ratelimitredis "github.com/idv-dev/idv/ratelimit/redis"
	goredis "github.com/redis/go-redis/v9"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	ratelimittest.Run(t, func(t *testing.T) ratelimittest.Fixture {
		client, prefix := testenv.Redis(t)
		r := ratelimitredis.New(client, prefix)
		return ratelimittest.Fixture{
			Limiter: r,
			Now:     time.Now,
			Age: func(l ratelimit.Limit, target string, d time.Duration) {
				age(t, client, r.Key(l, target), d)
			},
		}
	})
}

// TestConformanceCluster runs the suite on a Redis Cluster of three
// primaries: each script touches one key, so every counter may live in a
// slot of its own.
func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartRedisCluster(t)
	ratelimittest.Run(t, func(t *testing.T) ratelimittest.Fixture {
		client := cluster.Client(t)
		r := ratelimitredis.New(client, testenv.RandomName("test:")+":")
		return ratelimittest.Fixture{
			Limiter: r,
			Now:     time.Now,
			Age: func(l ratelimit.Limit, target string, d time.Duration) {
				age(t, client, r.Key(l, target), d)
			},
		}
	})
}

// age shortens key's expiry by d, which is what d passing does to it.
func age(t *testing.T, client goredis.UniversalClient, key string, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	left, err := client.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if left < 0 {
		t.Fatalf("PTTL(%s) = %s: no counter with an expiry", key, left)
	}
	if left-d <= 0 {
		err = client.Del(ctx, key).Err()
	} else {
		err = client.PExpire(ctx, key, left-d).Err()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestKeyAndTTL checks the key layout and that Redis itself holds the window
// (the TTL), for each default limit.
func TestKeyAndTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client, prefix := testenv.Redis(t)
	r := ratelimitredis.New(client, prefix)
	fp := ratelimit.Fingerprint([]byte("0123456789abcdef0123456789abcdef"), "900-55-1234")
	for _, l := range []ratelimit.Limit{ratelimit.IDVResolution, ratelimit.ProofSSN, ratelimit.ProofAddress, ratelimit.IDVDocAuth} {
		if _, err := r.Increment(ctx, l, fp); err != nil {
			t.Fatal(err)
		}
		key := prefix + "ratelimit:" + l.Name + ":" + fp
		if r.Key(l, fp) != key {
			t.Fatalf("Key = %q, want %q", r.Key(l, fp), key)
		}
		ttl, err := client.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl > l.Window || ttl < l.Window-2*time.Second {
			t.Errorf("%s: TTL %s, want about %s", l.Name, ttl, l.Window)
		}
		if n, err := client.Get(ctx, key).Int(); err != nil || n != 1 {
			t.Errorf("%s: counter = %d, %v; want 1", l.Name, n, err)
		}
	}
	keys, err := client.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, "900") && strings.Contains(k, "1234") {
			t.Errorf("key %q contains the SSN", k)
		}
	}
	if len(keys) != 4 {
		t.Errorf("keys = %q, want 4", keys)
	}
	if got := ratelimitredis.New(client, "").Key(ratelimit.ProofSSN, "t"); got != "idv:ratelimit:proof_ssn:t" {
		t.Errorf("default Key = %q", got)
	}
}

// TestRealExpiry lets one short window lapse on Redis's own clock, polling.
func TestRealExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client, prefix := testenv.Redis(t)
	r := ratelimitredis.New(client, prefix)
	l := ratelimit.Limit{Name: "short", Max: 1, Window: time.Second}
	start := time.Now()
	a, err := r.Increment(ctx, l, "t")
	if err != nil || !a.Limited {
		t.Fatalf("Increment = %+v, %v; want limited", a, err)
	}
	deadline := start.Add(5 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := r.Status(ctx, l, "t")
		if err != nil {
			t.Fatal(err)
		}
		if !s.Limited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still limited 5 s into a 1 s window")
		}
		<-tick.C
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("limit ended after %s, window is 1 s", el)
	}
}

// TestUnavailable checks that a Redis that cannot be reached gives
// EUNAVAILABLE errors that do not name the target.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	client := goredis.NewClient(&goredis.Options{Addr: testenv.ClosedAddr(t), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	r := ratelimitredis.New(client, "")
	ctx := context.Background()
	const target = "user-4242"
	_, errI := r.Increment(ctx, ratelimit.ProofAddress, target)
	_, errS := r.Status(ctx, ratelimit.ProofAddress, target)
	errR := r.Reset(ctx, ratelimit.ProofAddress, target)
	for op, err := range map[string]error{"Increment": errI, "Status": errS, "Reset": errR} {
		if idv.ErrorCode(err) != idv.EUNAVAILABLE || idv.ErrorMessage(err) != "rate limiter unavailable" {
			t.Errorf("%s error = %v, want EUNAVAILABLE rate limiter unavailable", op, err)
		} else if strings.Contains(err.Error(), target) {
			t.Errorf("%s error %q names the target", op, err)
		}
	}
}
