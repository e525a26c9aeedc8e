package app

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"path/filepath"
	"time"

	"github.com/alexedwards/scs/v2/memstore"

	"github.com/idv-dev/idv/config"
	memlimit "github.com/idv-dev/idv/ratelimit/memory"
	"github.com/idv-dev/idv/results"
	"github.com/idv-dev/idv/results/memory"
	"github.com/idv-dev/idv/telemetry"
	"github.com/idv-dev/idv/web"
)

// StartDev starts everything in one process on embedded defaults, for
// `idv dev`: jobs in a SQLite file under dataDir, results, sessions and
// limits in memory, the vendor simulators on a loopback port of their own,
// document images in a folder under dataDir (objects.dir) uploaded to the
// web server's own signed URLs, and the workers. It serves web.addr until
// ctx ends.
func StartDev(ctx context.Context, cfg config.Config, log *slog.Logger, dataDir string) (r *Role, err error) {
	cfg.Jobs.RescueAfter = devRescueAfter(cfg.Jobs.RescueAfter) // SQLite: no heartbeat rescue
	c := &Components{Config: cfg, Log: log, Metrics: telemetry.NewMetrics()}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	sealer, err := OpenDevSealer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.Sealer = sealer
	if c.Results, err = memory.New(sealer, results.Options{}); err != nil {
		return nil, err
	}
	c.onClose(func() { _ = c.Results.Close() })

	// The simulators, reached over HTTP like real vendors; they stop last.
	vctx, stopVendors := context.WithCancel(context.WithoutCancel(ctx))
	sims, err := StartVendors(vctx, "127.0.0.1:0", cfg.Vendors.SimulatorLatency, log)
	if err != nil {
		stopVendors()
		return nil, err
	}
	c.onClose(func() { stopVendors(); _ = sims.Wait() })
	cfg.Vendors.BaseURL = sims.URL
	c.Config = cfg
	vc, err := VendorClients(cfg)
	if err != nil {
		return nil, err
	}

	if c.Queue, err = openDevQueue(ctx, filepath.Join(dataDir, "jobs.sqlite"), cfg, log); err != nil {
		return nil, err
	}
	c.onClose(c.Queue.Close)
	c.Metrics.QueueDepth(queueDepth(c.Queue))
	c.storeGauges()

	ln, err := listen(cfg.Web.Addr, "web", log)
	if err != nil {
		return nil, err
	}
	c.onClose(func() { _ = ln.Close() }) // a no-op once served
	base := "http://" + ln.Addr().String()
	// Links, receipts' iss and the demo use this run's address unless a
	// public URL is configured (web.addr may name port 0).
	if cfg.Verifications.PublicURL == "" {
		cfg.Verifications.PublicURL = base
		c.Config = cfg
	}
	var docs *web.DocumentOptions
	if cfg.DocAuth.Enabled {
		objects, err := openLocalObjects(cmp.Or(cfg.Objects.Dir, filepath.Join(dataDir, "objects")))
		if err != nil {
			return nil, err
		}
		c.Objects = objects
		docs = documentOptions(cfg, objects)
		docs.Uploads = objects.Handler()
	}
	stopWorkers, err := c.startWorkers(ctx, vc)
	if err != nil {
		return nil, err
	}
	admin, err := jobsAdmin(ctx, cfg, c.Queue)
	if err != nil {
		_ = stopWorkers(0)
		return nil, err
	}
	health := c.Health(true, vc)
	demo, err := ensureDemoRP(ctx, c.Queue, sealer, base)
	if err != nil {
		_ = stopWorkers(0)
		return nil, err
	}
	limiter := memlimit.New(time.Now)
	mounts, provider, err := c.relyingPartyMounts(ctx, limiter)
	if err != nil {
		_ = stopWorkers(0)
		return nil, err
	}
	demoApp, err := demo.app(cfg, base, log)
	if err != nil {
		_ = stopWorkers(0)
		return nil, err
	}
	maps.Copy(mounts, demoApp.Mounts())
	srv, err := web.New(web.Options{
		Mounts: mounts, Verifications: c.Queue, SelfServe: demo.selfServe(c.Queue, cfg), Results: c.Results, Sealer: sealer, Logger: log, Config: webConfig(cfg), Documents: docs, Admin: admin, OIDC: provider,
		Sessions: sessionManager(cfg, memstore.New(), sealer),
		// One loopback port for everything in development: metrics and
		// health stay beside the pages, as before the ops listener.
		Observer: c.Metrics, Metrics: c.Metrics.Handler(), OpsOnPublic: true,
		Limiter: limiter, FingerprintKey: devFingerprintKey(cfg),
		Health: health.Stores, JobsHealth: health.Jobs, Outbound: health.Outbound,
	})
	if err != nil {
		_ = stopWorkers(0)
		return nil, err
	}
	return runRole(base, func() error {
		defer c.Close()
		serveErr := serve(ctx, ln, srv, log, 5*time.Second, srv.Drain)
		if err := stopWorkers(10 * time.Second); err != nil {
			return err
		}
		return serveErr
	}), nil
}
