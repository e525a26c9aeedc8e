// Package app opens idv's components from its configuration and assembles
// them into the roles (web, worker, dev, vendors, migrate), once: the
// commands, their tests and the benchmarks start roles from here, so a new
// role or a new health check is wired in one place.
//
// Opening is separate from starting: Open gives the Components a
// production role shares (sealer, Redis, results, the PostgreSQL queue, the
// document bucket), and StartWeb, StartWorker, StartDev and StartVendors
// listen and run until their context ends. A caller that needs a part of
// its own (the benchmarks' key of one run, an in-process vendor) builds
// Components by hand and uses the same functions.
package app

import (
	"context"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/imagekey"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/results"
	redisresults "github.com/idv-dev/idv/results/redis"
	"github.com/idv-dev/idv/seal"
	"github.com/idv-dev/idv/telemetry"
)

// Components are what a role works with. Redis (one node, Sentinel or
// Cluster, as redis.* says) is nil under `idv dev`;
// Objects is nil while the document step is off.
type Components struct {
	Config  config.Config
	Log     *slog.Logger
	Sealer  idv.Sealer
	Redis   goredis.UniversalClient
	Results *results.Store
	Queue   *queue.Queue
	Objects idv.ObjectStore
	Metrics *telemetry.Metrics
	// ImageKeys are the workers' HPKE image keys, private halves
	// included: set by the roles that run jobs (worker, dev) only, never
	// by the web role.
	ImageKeys *imagekey.Keys

	closers []func() // run last first by Close
}

// Open opens what the production roles share: the sealer (key file or KMS),
// Redis, the results store in Redis, the PostgreSQL queue and, when the
// document step is on, the S3 bucket.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Components, error) {
	sealer, err := OpenSealer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return OpenWithSealer(ctx, cfg, log, sealer)
}

// OpenWithSealer is Open with a sealer made by the caller (the benchmarks
// seal with a key of one run, written nowhere).
func OpenWithSealer(ctx context.Context, cfg config.Config, log *slog.Logger, sealer *seal.Envelope) (c *Components, err error) {
	c = &Components{Config: cfg, Log: log, Sealer: sealer, Metrics: telemetry.NewMetrics()}
	// opened, not c: a failed return has set c to nil by the time this runs.
	defer func(opened *Components) {
		if err != nil {
			opened.Close()
		}
	}(c)
	routeRedisLog(log)
	if c.Redis, err = OpenRedis(ctx, cfg); err != nil {
		return nil, err
	}
	c.onClose(func() { _ = c.Redis.Close() })
	if c.Results, err = redisresults.New(c.Redis, sealer, results.Options{Prefix: cfg.Redis.Prefix}); err != nil {
		return nil, err
	}
	c.onClose(func() { _ = c.Results.Close() })
	if c.Queue, err = OpenQueue(ctx, cfg, log); err != nil {
		return nil, err
	}
	c.onClose(c.Queue.Close)
	if cfg.DocAuth.Enabled {
		if c.Objects, err = OpenS3(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// imageKeyOptions are the image keys' settings under cfg.
func imageKeyOptions(cfg config.Config) imagekey.Options {
	return imagekey.Options{Grace: cfg.ImageKeyGrace()}
}

// openImageKeys sets c.ImageKeys for a role that runs document jobs and,
// with doc_auth.image_encryption hpke, makes the first key if there is
// none. A worker under form_key still opens hpke jobs enqueued before a
// switch, with the keys there are.
func (c *Components) openImageKeys(ctx context.Context) error {
	if c.Objects == nil || c.Queue == nil {
		return nil
	}
	k, err := imagekey.New(c.Queue.ImageKeys(), c.Sealer, imageKeyOptions(c.Config))
	if err != nil {
		return err
	}
	if c.Config.DocAuth.HPKE() {
		kid, err := k.EnsureKey(ctx)
		if err != nil {
			return err
		}
		c.Log.Info("image encryption: hpke", "image_key_id", kid)
	}
	c.ImageKeys = k
	return nil
}

// onClose adds f to what Close releases.
func (c *Components) onClose(f func()) { c.closers = append(c.closers, f) }

// Close releases what was opened, in reverse order: the queue, then the
// results store, then the Redis client under it. Stop the role first.
func (c *Components) Close() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
	c.closers = nil
}
