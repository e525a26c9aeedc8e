package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// The private servers of the fault tests stop (refusing connections) and
// start again on the same address.
func TestPrivateServersRestart(t *testing.T) {
	t.Parallel()
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		r := StartRedisServer(t)
		c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		r.Stop(t)
		if err := c.Ping(ctx).Err(); err == nil {
			t.Fatal("a stopped Redis answered")
		}
		r.Start(t)
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("after restart: %v", err)
		}
		if n, _ := c.Exists(ctx, "k").Result(); n != 0 {
			t.Error("a key survived the restart: the server persists data")
		}
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		pg := StartPostgresCluster(t)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		exec := func(sql string) error {
			conn, err := pgx.Connect(ctx, pg.URL)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, sql)
			return err
		}
		if err := exec(`CREATE TABLE t (x int); INSERT INTO t VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		pg.Stop(t)
		if err := exec(`SELECT 1`); err == nil {
			t.Fatal("a stopped PostgreSQL answered")
		}
		pg.Start(t)
		if err := exec(`SELECT x FROM t`); err != nil {
			t.Fatalf("after restart: %v", err)
		}
	})
}
