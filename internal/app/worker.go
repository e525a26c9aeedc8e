package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/idv-dev/idv/queue"
)

// StartWorker starts the worker role on c: it claims and runs jobs of every
// kind c handles, and serves the health endpoints and /metrics on
// worker.addr. When ctx ends it stops taking work and lets running jobs
// finish (or hands them back) for up to 30 s.
func StartWorker(ctx context.Context, c *Components) (*Role, error) {
	cfg, log := c.Config, c.Log
	c.Metrics.QueueDepth(queueDepth(c.Queue))
	vc, err := VendorClients(cfg)
	if err != nil {
		return nil, err
	}
	p, err := VendorProofers(cfg, vc)
	if err != nil {
		return nil, err
	}
	h, err := c.Handlers(p)
	if err != nil {
		return nil, err
	}
	workers, err := c.Queue.StartWorkers(ctx, c.WorkerConfig(h))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	c.Health(true, vc).routes(mux)
	mux.Handle("GET /metrics", c.Metrics.Handler())
	ln, err := Listen(cfg.Worker.Addr, "worker", log)
	if err != nil {
		_ = workers.Stop(context.Background())
		return nil, err
	}
	return runRole("http://"+ln.Addr().String(), func() error {
		serveErr := Serve(ctx, ln, mux, log, 5*time.Second, nil)
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		log.Info("worker stopping: finishing running jobs")
		if err := workers.Stop(sctx); err != nil && !errors.Is(err, queue.ErrStopTimeout) {
			return err
		}
		log.Info("worker stopped")
		return serveErr
	}), nil
}
