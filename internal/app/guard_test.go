package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/telemetry"
)

// The worker role's vendor clients carry the guard of vendors.breaker and
// vendors.*.max_concurrent, in Redis under redis.prefix: a vendor failing
// vendors.breaker.failures times in a row is not called again during the
// cool-down, for the primary and the second phone vendor alike.
func TestWorkerVendorClientsAreGuarded(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		http.Error(w, "down", http.StatusBadGateway)
	}))
	t.Cleanup(vendor.Close)
	client, prefix := testenv.Redis(t)
	cfg := config.Defaults()
	cfg.Redis.Prefix = prefix
	cfg.Vendors.BaseURL = vendor.URL
	cfg.Vendors.PhoneSecondary.URL = vendor.URL
	cfg.Vendors.Breaker = config.Breaker{Failures: 2, Cooldown: time.Minute}
	c := &Components{Config: cfg, Redis: client, Metrics: telemetry.NewMetrics(), Log: slog.New(slog.DiscardHandler)}
	vc, err := vendorClients(cfg, c.vendorGuard())
	if err != nil {
		t.Fatal(err)
	}
	p, err := VendorProofers(cfg, vc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, phone := range []idv.PhoneProofer{p.Phone, p.PhoneSecondary} {
		reached.Store(0)
		var last idv.VendorResult
		for range 4 {
			last = phone.ProofPhone(ctx, idv.Applicant{Phone: "7035550100"})
		}
		if n := reached.Load(); n != 2 || last.Exception != "vendor unavailable (circuit open)" {
			t.Errorf("%s: vendor reached %d times (want 2), last answer %+v", last.Vendor, n, last)
		}
	}
	// Without Redis (idv dev) there is no guard.
	if g := (&Components{Config: cfg}).vendorGuard(); g != nil {
		t.Errorf("guard without Redis: %T", g)
	}
}
