package app_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/internal/testenv"
)

// `idv web` warns at start-up when the session cookie is not Secure; `idv
// dev`, on plain HTTP by design, does not.
func TestInsecureCookiesWarned(t *testing.T) {
	t.Parallel()
	const warning = `"level":"WARN","msg":"web.secure_cookies is off`
	for _, tc := range []struct {
		name  string
		start func(t *testing.T, ctx context.Context) *testenv.Log
		warn  bool
	}{
		{"web, cookies not Secure", func(t *testing.T, ctx context.Context) *testenv.Log { return startWebLogged(t, ctx, false) }, true},
		{"web, cookies Secure", func(t *testing.T, ctx context.Context) *testenv.Log { return startWebLogged(t, ctx, true) }, false},
		{"dev", func(t *testing.T, ctx context.Context) *testenv.Log {
			dir := t.TempDir()
			cfg := config.Defaults()
			cfg.Web.Addr, cfg.Web.SecureCookies = "127.0.0.1:0", false
			cfg.Keys.File = filepath.Join(dir, "keys.json")
			log, logs := testenv.Logger(t)
			run(t, ctx, func(ctx context.Context) (*app.Role, error) { return app.StartDev(ctx, cfg, log, dir) })
			return logs
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			logs := tc.start(t, ctx)
			if got := strings.Contains(logs.String(), warning); got != tc.warn {
				t.Fatalf("warned %v, want %v:\n%s", got, tc.warn, logs.String())
			}
		})
	}
}

// startWebLogged starts the web role on the test's own stores with the
// session cookie Secure or not, and returns its log.
func startWebLogged(t *testing.T, ctx context.Context, secure bool) *testenv.Log {
	t.Helper()
	cfg := production(t, ctx)
	cfg.Web.SecureCookies = secure
	log, logs := testenv.Logger(t)
	c, err := app.Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	run(t, ctx, func(ctx context.Context) (*app.Role, error) { return app.StartWeb(ctx, c) })
	return logs
}
