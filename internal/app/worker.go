package app

import (
	"context"
	"net/http"
	"time"
)

// StartWorker starts the worker role on c: it claims and runs jobs of every
// kind c handles, and serves the health endpoints and /metrics on
// worker.addr. When ctx ends it stops taking work and lets running jobs
// finish (or hands them back) for up to 30 s.
func StartWorker(ctx context.Context, c *Components) (*Role, error) {
	cfg, log := c.Config, c.Log
	c.Metrics.QueueDepth(queueDepth(c.Queue))
	c.storeGauges()
	vc, err := vendorClients(cfg, c.vendorGuard())
	if err != nil {
		return nil, err
	}
	stopWorkers, err := c.startWorkers(ctx, vc)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	c.Health(true, vc).routes(mux)
	mux.Handle("GET /metrics", c.Metrics.Handler())
	ln, err := listen(cfg.Worker.Addr, "worker", log)
	if err != nil {
		_ = stopWorkers(0)
		return nil, err
	}
	return runRole("http://"+ln.Addr().String(), func() error {
		serveErr := serve(ctx, ln, mux, log, 5*time.Second, nil)
		log.Info("worker stopping: finishing running jobs")
		if err := stopWorkers(shutdownGrace); err != nil {
			return err
		}
		log.Info("worker stopped")
		return serveErr
	}), nil
}
