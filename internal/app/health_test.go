package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/seal"
	"github.com/idv-dev/idv/telemetry"
	"github.com/idv-dev/idv/webhook"
)

// TestRolesAnswerHealthy starts every serving role as its command does and
// asks each health endpoint it serves (web: on its ops listener): healthy,
// each answers 200. Web and
// worker run on the real PostgreSQL and Redis, dev on its embedded stores.
// A role that serves an endpoint without its checks wired answers 503 (as
// /api/health/jobs did under `idv dev`), which fails here.
func TestRolesAnswerHealthy(t *testing.T) {
	t.Parallel()
	endpoints := []string{"/api/health", "/api/health/jobs", "/api/health/outbound"}
	for _, tc := range []struct {
		name  string
		start func(t *testing.T, ctx context.Context) string // where the role serves health
	}{
		{"web", func(t *testing.T, ctx context.Context) string {
			cfg := production(t, ctx)
			start(t, ctx, cfg, app.StartWorker) // the workers /api/health/jobs looks for
			return start(t, ctx, cfg, app.StartWeb).OpsURL
		}},
		{"web running jobs inline", func(t *testing.T, ctx context.Context) string {
			cfg := production(t, ctx)
			cfg.Jobs.Async = false
			return start(t, ctx, cfg, app.StartWeb).OpsURL
		}},
		{"worker", func(t *testing.T, ctx context.Context) string {
			return start(t, ctx, production(t, ctx), app.StartWorker).URL
		}},
		{"dev", func(t *testing.T, ctx context.Context) string {
			dir := t.TempDir()
			cfg := config.Defaults()
			cfg.Web.Addr, cfg.Web.SecureCookies = "127.0.0.1:0", false
			cfg.Keys.File = filepath.Join(dir, "keys.json")
			return run(t, ctx, func(ctx context.Context) (*app.Role, error) { return app.StartDev(ctx, cfg, quiet(), dir) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			base := tc.start(t, ctx)
			for _, path := range endpoints {
				// Workers take River's leadership a moment after they start:
				// until then /api/health/jobs rightly says 503.
				wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				code := waitFor(wctx, base+path, http.StatusOK)
				cancel()
				if code != http.StatusOK {
					t.Errorf("%s %s: HTTP %d, want 200", tc.name, path, code)
				}
			}
		})
	}
}

// `idv web` serves /metrics and the operators' health endpoints on its ops
// listener only; its public port keeps /api/health, the load balancer's
// readiness check. `idv dev` serves everything on its one port.
func TestOperationsListener(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfg := production(t, ctx)
	cfg.Jobs.Async = false // no worker needed: only where each path answers matters
	web := start(t, ctx, cfg, app.StartWeb)
	dir := t.TempDir()
	dcfg := config.Defaults()
	dcfg.Web.Addr, dcfg.Web.SecureCookies = "127.0.0.1:0", false
	dcfg.Keys.File = filepath.Join(dir, "keys.json")
	dev := run(t, ctx, func(ctx context.Context) (*app.Role, error) { return app.StartDev(ctx, dcfg, quiet(), dir) })
	for _, tc := range []struct {
		base, path string
		want       int
	}{
		{web.URL, "/api/health", http.StatusOK},
		{web.URL, "/metrics", http.StatusNotFound},
		{web.URL, "/api/health/jobs", http.StatusNotFound},
		{web.URL, "/api/health/outbound", http.StatusNotFound},
		{web.OpsURL, "/metrics", http.StatusOK},
		{web.OpsURL, "/api/health", http.StatusOK},
		{web.OpsURL, "/api/health/outbound", http.StatusOK},
		{web.OpsURL, "/", http.StatusNotFound}, // no pages on the ops port
		{dev, "/metrics", http.StatusOK},
		{dev, "/api/health", http.StatusOK},
	} {
		res, err := http.Get(tc.base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("GET %s%s: HTTP %d, want %d", tc.base, tc.path, res.StatusCode, tc.want)
		}
	}
}

// production is the configuration of web and worker for one test: its own
// schema (migrated) and Redis prefix, a key file, the vendor simulators.
func production(t *testing.T, ctx context.Context) config.Config {
	t.Helper()
	schema, _ := testenv.Schema(t)
	_, prefix := testenv.Redis(t)
	cfg := config.Defaults()
	cfg.DatabaseURL, cfg.DatabaseSchema = testenv.DatabaseURL(), schema
	cfg.Redis.Addr, cfg.Redis.Prefix = testenv.RedisAddr(), prefix
	cfg.Keys.File = filepath.Join(t.TempDir(), "keys.json")
	if _, err := seal.LoadOrCreateKeyFile(cfg.Keys.File); err != nil { // as `idv keys init` does
		t.Fatal(err)
	}
	cfg.Keys.FingerprintKey = "c2VjcmV0LWZpbmdlcnByaW50LWtleS1mb3ItdGVzdHMtb25seQ=="
	cfg.Web.Addr, cfg.Web.OpsAddr, cfg.Worker.Addr, cfg.Web.SecureCookies = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", false
	cfg.DocAuth.Enabled = false // no S3 here: the document step has its own tests
	vendors := run(t, ctx, func(ctx context.Context) (*app.Role, error) {
		return app.StartVendors(ctx, "127.0.0.1:0", 0, quiet())
	})
	cfg.Vendors.BaseURL = vendors
	if err := cfg.Validate(config.RoleWeb | config.RoleWorker); err != nil {
		t.Fatal(err)
	}
	if err := app.Migrate(ctx, cfg, quiet()); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// start opens the components of cfg and starts role on them, as `idv web`
// and `idv worker` do; both stop when the test ends.
func start(t *testing.T, ctx context.Context, cfg config.Config, role func(context.Context, *app.Components) (*app.Role, error)) *app.Role {
	t.Helper()
	c, err := app.Open(ctx, cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return runRole(t, ctx, func(ctx context.Context) (*app.Role, error) { return role(ctx, c) })
}

// run starts a role that stops, cleanly, when the test ends, and returns
// its URL.
func run(t *testing.T, ctx context.Context, start func(context.Context) (*app.Role, error)) string {
	t.Helper()
	return runRole(t, ctx, start).URL
}

// runRole is run returning the role.
func runRole(t *testing.T, ctx context.Context, start func(context.Context) (*app.Role, error)) *app.Role {
	t.Helper()
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r, err := start(rctx)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		if err := r.Wait(); err != nil {
			t.Errorf("role at %s stopped with %v", r.URL, err)
		}
	})
	return r
}

// waitFor asks url until it answers want or ctx ends, and returns the last
// status code.
func waitFor(ctx context.Context, url string, want int) int {
	code := 0
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			code = res.StatusCode
		}
		if code == want {
			return code
		}
		select {
		case <-ctx.Done():
			return code
		case <-time.After(100 * time.Millisecond): // polling a health endpoint
		}
	}
}

func quiet() *slog.Logger { return telemetry.NewLogger(io.Discard, slog.LevelInfo) }

// The queue stops retrying a webhook event when the sender's schedule ends.
func TestWebhookAttemptsAgree(t *testing.T) {
	if queue.WebhookMaxAttempts != webhook.MaxAttempts {
		t.Fatalf("queue.WebhookMaxAttempts %d, webhook.MaxAttempts %d", queue.WebhookMaxAttempts, webhook.MaxAttempts)
	}
}
