// Package testenv connects tests to the real components they run against
// (PostgreSQL, Redis) and gives each test data of its own: a fresh PostgreSQL
// schema or a Redis key prefix, removed when the test ends.
//
// The servers are the ones CI starts (see .ci/run); their addresses can be
// changed with IDV_TEST_DATABASE_URL and IDV_TEST_REDIS_ADDR. A test that
// needs a server that is not there fails: it never silently skips.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// DatabaseURL is the PostgreSQL server tests use.
func DatabaseURL() string {
	if u := os.Getenv("IDV_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// RedisAddr is the Redis server tests use.
func RedisAddr() string {
	if a := os.Getenv("IDV_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// RandomName returns prefix followed by 12 random hex characters, safe as a
// PostgreSQL identifier or Redis key part.
func RandomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Schema creates an empty PostgreSQL schema for the test and returns its name
// and a database URL whose connections use it as search_path. The schema is
// dropped when the test ends.
func Schema(t testing.TB) (schema, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	schema = RandomName("t_")
	conn, err := pgx.Connect(ctx, DatabaseURL())
	if err != nil {
		t.Fatalf("testenv: PostgreSQL at %s is not reachable (start it, see .ci/run): %v", DatabaseURL(), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("testenv: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, DatabaseURL())
		if err != nil {
			t.Logf("testenv: drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("testenv: drop schema %s: %v", schema, err)
		}
	})
	return schema, WithSearchPath(DatabaseURL(), schema)
}

// WithSearchPath adds search_path=schema to a postgres:// URL.
func WithSearchPath(url, schema string) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}

// Pool opens a pgx pool on url, closed when the test ends.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("testenv: open pool: %v", err)
	}
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("testenv: PostgreSQL at %s is not reachable (start it, see .ci/run): %v", DatabaseURL(), err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Redis returns a client for the test Redis and a key prefix of the test's
// own ("test:<random>:"). Every key under the prefix is deleted when the test
// ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: RedisAddr()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("testenv: Redis at %s is not reachable (start it, see .ci/run): %v", RedisAddr(), err)
	}
	prefix := RandomName("test:") + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		DeleteRedisPrefix(ctx, client, prefix)
		_ = client.Close()
	})
	return client, prefix
}

// DeleteRedisPrefix deletes every key that starts with prefix.
func DeleteRedisPrefix(ctx context.Context, client *redis.Client, prefix string) {
	iter := client.Scan(ctx, 0, prefix+"*", 500).Iterator()
	for iter.Next(ctx) {
		client.Del(ctx, iter.Val())
	}
}
