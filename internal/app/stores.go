package app

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/objects/local"
	"github.com/idv-dev/idv/objects/s3"
	"github.com/idv-dev/idv/queue"
)

// OpenRedis connects to Redis as redis.* configures it (config.Redis.Mode):
// one node, the primary the Sentinels name (followed across failovers), or
// a Redis Cluster. Timeouts are short (a request waits at most about 2 s
// on a Redis that is gone) and it checks that Redis answers.
func OpenRedis(ctx context.Context, cfg config.Config) (goredis.UniversalClient, error) {
	c := goredis.NewUniversalClient(RedisOptions(cfg))
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis at %s (%s): %w", strings.Join(cfg.Redis.Endpoints(), ","), cfg.Redis.Mode(), err)
	}
	return c, nil
}

// RedisOptions are the go-redis options of cfg's Redis: NewUniversalClient
// on them gives a Client, a FailoverClient (Sentinel) or a ClusterClient,
// as config.Redis.Mode says.
func RedisOptions(cfg config.Config) *goredis.UniversalOptions {
	r := cfg.Redis
	o := &goredis.UniversalOptions{
		Addrs: r.Endpoints(), Password: r.Password, DB: r.DB,
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		MaxRetries: 1,
	}
	switch r.Mode() {
	case config.RedisSentinel:
		o.MasterName, o.SentinelPassword = r.MasterName, r.SentinelPassword
	case config.RedisCluster:
		o.IsClusterMode = true
	default:
		o.Addrs = o.Addrs[:1]
	}
	return o
}

// routeRedisLog sends go-redis's own log lines (a Sentinel naming a new
// primary, a failed dial) to log as JSON; otherwise it prints plain text on
// stderr. go-redis has one logger for the whole process, installed here at
// start-up, before any client runs (SetLogger is not safe for concurrent
// use); the first role's logger is the one it writes to.
func routeRedisLog(log *slog.Logger) { redisLogTo.CompareAndSwap(nil, log) }

var redisLogTo atomic.Pointer[slog.Logger]

func init() { goredis.SetLogger(redisLog{}) }

// redisLog is go-redis's logger on slog. Its lines name addresses, masters
// and channels, never keys or values.
type redisLog struct{}

func (redisLog) Printf(ctx context.Context, format string, v ...any) {
	log := redisLogTo.Load()
	if log == nil {
		log = slog.Default()
	}
	log.InfoContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}

// OpenQueue opens the job queue on database_url, in database_schema.
func OpenQueue(ctx context.Context, cfg config.Config, log *slog.Logger) (*queue.Queue, error) {
	return queue.OpenPostgres(ctx, cfg.DatabaseURL, queueConfig(cfg, log))
}

// openDevQueue opens `idv dev`'s queue, a SQLite file, and migrates it.
func openDevQueue(ctx context.Context, path string, cfg config.Config, log *slog.Logger) (*queue.Queue, error) {
	q, err := queue.OpenSQLite(ctx, path, queueConfig(cfg, log))
	if err != nil {
		return nil, err
	}
	if err := q.Migrate(ctx); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

func queueConfig(cfg config.Config, log *slog.Logger) queue.Config {
	return queue.Config{Schema: cfg.DatabaseSchema, Logger: log}
}

// OpenS3 opens the bucket of document images (objects.*).
func OpenS3(ctx context.Context, cfg config.Config) (*s3.Store, error) {
	o := cfg.Objects
	return s3.New(ctx, s3.Config{
		Bucket: o.Bucket, Region: o.Region, Endpoint: o.Endpoint, PathStyle: o.PathStyle,
		AccessKeyID: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey,
	})
}

// openLocalObjects is `idv dev`'s object store: a folder whose signed
// upload URLs are path-only (/uploads/...), so the browser PUTs to the web
// server at whichever origin the page was opened (localhost or 127.0.0.1).
// The signing secret lives for this run only: so do the pages holding URLs.
func openLocalObjects(dir string) (*local.Store, error) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return local.New(local.Config{Dir: dir, Secret: secret})
}

// uploadOrigin is the origin the browser PUTs images to, for the pages'
// Content-Security-Policy connect-src. It is read off a URL the store
// signs, so it is right for AWS and S3-compatible endpoints alike; signing
// makes no request. A store whose URLs are path-only (the local store's)
// needs no extra origin: its uploads are 'self'.
func uploadOrigin(ctx context.Context, store idv.ObjectStore) ([]string, error) {
	raw, err := store.PresignPut(ctx, idv.DocumentImageKey("origin-probe", idv.SideFront), 1, time.Minute)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("object store signed an unparseable URL: %w", err)
	}
	if u.Scheme == "" && u.Host == "" {
		return nil, nil
	}
	return []string{u.Scheme + "://" + u.Host}, nil
}
