package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/seal"
	"github.com/idv-dev/idv/telemetry"
)

// env is what every benchmark shares: the configuration, the log, a sealer
// with a key of this run only, and the schemas and Redis prefix to remove at
// the end.
type env struct {
	cfg     config.Config
	log     *slog.Logger
	logOut  io.Writer
	logFile io.Closer
	sealer  *seal.Envelope
	redis   goredis.UniversalClient
	prefix  string
	schemas []string
	runID   string
}

func newEnv(ctx context.Context, cfg config.Config, o Settings) (*env, error) {
	level, err := telemetry.ParseLevel(cfg.Log.Level)
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, runID: randomID()}
	var logOut io.Writer = io.Discard
	if o.LogPath != "" {
		f, err := telemetry.OpenLog(o.LogPath)
		if err != nil {
			return nil, err
		}
		logOut, e.logFile = f, f
	}
	e.log, e.logOut = telemetry.NewLogger(logOut, level), logOut
	// A key of this run only: the bench writes no key file, and nothing it
	// seals outlives it.
	key := make([]byte, seal.MasterKeySize)
	_, _ = rand.Read(key)
	ring, err := seal.NewLocalKeyRing(map[string][]byte{"bench": key}, "bench")
	if err != nil {
		return nil, err
	}
	if e.sealer, err = seal.NewEnvelope(ring, seal.Options{DataKeyTTL: cfg.Keys.DataKeyLifetime}); err != nil {
		return nil, err
	}
	if e.redis, err = app.OpenRedis(ctx, cfg); err != nil {
		return nil, err
	}
	e.prefix = cfg.Redis.Prefix + "bench-" + e.runID + ":"
	return e, nil
}

func randomID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// schema names a fresh PostgreSQL schema for one part of a benchmark; the
// queue's Migrate creates it and close drops it.
func (e *env) schema(part string) string {
	s := "idv_bench_" + e.runID + "_" + part
	e.schemas = append(e.schemas, s)
	return s
}

// redisPrefix is a key prefix under the run's own.
func (e *env) redisPrefix(part string) string { return e.prefix + part + ":" }

// services describes the servers used, without credentials.
func (e *env) services(ctx context.Context) map[string]any {
	out := map[string]any{"redis_addr": strings.Join(e.cfg.Redis.Endpoints(), ","), "redis_mode": e.cfg.Redis.Mode()}
	if u, err := url.Parse(e.cfg.DatabaseURL); err == nil {
		out["postgres"] = u.Host + u.Path
		if mc := u.Query().Get("pool_max_conns"); mc != "" {
			out["pool_max_conns"] = mc
		} else {
			out["pool_max_conns"] = fmt.Sprintf("pgxpool default, max(4, NumCPU) = %d per pool", max(4, runtime.NumCPU()))
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if conn, err := e.connect(cctx); err == nil {
		var v string
		if conn.QueryRow(cctx, "SHOW server_version").Scan(&v) == nil {
			out["postgres_version"] = v
		}
		_ = conn.Close(cctx)
	}
	if info, err := e.redis.Info(cctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				out["redis_version"] = v
			}
		}
	}
	return out
}

// connect opens one connection to the database of database_url, which may
// carry pgxpool's settings (pool_max_conns...): a plain pgx.Connect
// refuses those as unknown server parameters.
func (e *env) connect(ctx context.Context) (*pgx.Conn, error) {
	pc, err := pgxpool.ParseConfig(e.cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, pc.ConnConfig)
}

// close drops the schemas and deletes the Redis keys of this run, even when
// the run was interrupted.
func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if len(e.schemas) > 0 {
		if conn, err := e.connect(ctx); err == nil {
			for _, s := range e.schemas {
				if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
					e.log.Warn("bench: schema not dropped", "schema", s, "error", err.Error())
				}
			}
			_ = conn.Close(ctx)
		}
	}
	deleteRedisPrefix(ctx, e.redis, e.prefix)
	_ = e.redis.Close()
	if e.logFile != nil {
		_ = e.logFile.Close()
	}
}

func deleteRedisPrefix(ctx context.Context, c goredis.UniversalClient, prefix string) {
	// One DEL a key: under Redis Cluster the keys of a batch would span slots.
	_ = forEachKey(ctx, c, prefix+"*", func(ctx context.Context, node goredis.Cmdable, key string) error {
		node.Del(ctx, key)
		return nil
	})
}

// forEachKey calls fn for each key matching pattern, on the node that holds
// it: the one server, or each primary of a Redis Cluster (one at a time:
// fn need not be safe for concurrent use).
func forEachKey(ctx context.Context, c goredis.UniversalClient, pattern string, fn func(ctx context.Context, node goredis.Cmdable, key string) error) error {
	scan := func(ctx context.Context, node goredis.Cmdable) error {
		iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			if err := fn(ctx, node, iter.Val()); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	if cc, ok := c.(*goredis.ClusterClient); ok {
		var mu sync.Mutex // ForEachMaster runs the primaries at once
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(ctx, node)
		})
	}
	return scan(ctx, c)
}
