package redis_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/idv-dev/idv/internal/testenv"
	sessions "github.com/idv-dev/idv/sessions/redis"
)

// TestStore runs the store against one Redis node (the shared test Redis)
// and against a Redis Cluster of three primaries, whose sessions spread
// over the slots.
func TestStore(t *testing.T) {
	t.Parallel()
	backends := []struct {
		name   string
		client func(t *testing.T) (goredis.UniversalClient, string)
	}{
		{"single node", func(t *testing.T) (goredis.UniversalClient, string) { return testenv.Redis(t) }},
		{"cluster", func(t *testing.T) (goredis.UniversalClient, string) {
			return testenv.StartRedisCluster(t).Client(t), "test:"
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			client, prefix := b.client(t)
			testStore(t, client, prefix+"session:")
		})
	}
}

func testStore(t *testing.T, client goredis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := sessions.New(client, prefix)
	var _ scs.CtxStore = s

	// Many tokens, so that under Cluster they land on every node.
	tokens := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
	for i, tok := range tokens {
		if err := s.CommitCtx(ctx, tok, []byte{byte(i), 'x'}, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for i, tok := range tokens {
		b, found, err := s.FindCtx(ctx, tok)
		if err != nil || !found || !bytes.Equal(b, []byte{byte(i), 'x'}) {
			t.Fatalf("find %s: %q %v %v", tok, b, found, err)
		}
	}
	if b, found, err := s.FindCtx(ctx, "nobody"); err != nil || found || b != nil {
		t.Fatalf("an unknown token: %q %v %v", b, found, err)
	}

	// The key layout and its expiry, to the second.
	ttl, err := client.TTL(ctx, prefix+"alpha").Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL of %salpha = %s %v, want about an hour", prefix, ttl, err)
	}
	if err := s.CommitCtx(ctx, "alpha", []byte("new"), time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := s.FindCtx(ctx, "alpha"); string(b) != "new" {
		t.Fatalf("overwrite: %q", b)
	}
	if ttl, _ := client.TTL(ctx, prefix+"alpha").Result(); ttl <= time.Hour {
		t.Fatalf("overwrite kept the old expiry: %s", ttl)
	}

	all, err := s.AllCtx(ctx)
	if err != nil || len(all) != len(tokens) || string(all["alpha"]) != "new" {
		t.Fatalf("all: %d sessions %v, want %d", len(all), err, len(tokens))
	}

	if err := s.DeleteCtx(ctx, "bravo"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCtx(ctx, "bravo"); err != nil {
		t.Fatalf("deleting a deleted session: %v", err)
	}
	if _, found, _ := s.FindCtx(ctx, "bravo"); found {
		t.Fatal("a deleted session was found")
	}
	// An expiry already passed removes the session (scs commits one when
	// a session is destroyed by its lifetime).
	if err := s.CommitCtx(ctx, "charlie", []byte("late"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.FindCtx(ctx, "charlie"); found {
		t.Fatal("a session committed with a past expiry was found")
	}
	// A session that expires while stored is gone when its time comes.
	if err := s.CommitCtx(ctx, "delta", []byte("brief"), time.Now().Add(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	for {
		_, found, err := s.FindCtx(ctx, "delta")
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the session did not expire")
		}
		time.Sleep(100 * time.Millisecond) // waiting for Redis to expire it
	}
	for _, tok := range tokens {
		_ = s.DeleteCtx(ctx, tok)
	}
}

// TestStoreUnavailable: a Redis that is gone is an error, never "no
// session" (which would send the person to the start page).
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedisServer(t)
	client := goredis.NewClient(&goredis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	r.Stop(t)
	s := sessions.New(client, "idv:session:")
	if _, found, err := s.Find("tok"); err == nil || found {
		t.Fatalf("find with Redis down: found %v, err %v", found, err)
	}
	if err := s.Commit("tok", []byte("x"), time.Now().Add(time.Hour)); err == nil {
		t.Fatal("commit with Redis down: no error")
	}
}
