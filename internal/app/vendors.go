package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/idv-dev/idv/vendors/sim"
)

// StartVendors starts the deterministic vendor simulators (resolution,
// state ID, phone, document) on addr, each answer delayed by latency.
func StartVendors(ctx context.Context, addr string, latency time.Duration, log *slog.Logger) (*Role, error) {
	ln, err := listen(addr, "vendors", log)
	if err != nil {
		return nil, err
	}
	return runRole("http://"+ln.Addr().String(), func() error {
		return serve(ctx, ln, sim.New(sim.Options{Latency: latency}), log, 5*time.Second, nil)
	}), nil
}
