package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/seal"
)

// The run functions load the configuration a command's flags point at and
// start the role from internal/app, which opens and assembles everything.

func runWeb(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("web", "Serve the pages, the waiting page's status endpoint, enqueue, the relying parties' API and /api/health;\n/metrics and every health endpoint on --ops-addr.", stdout, true, "default web.addr, 127.0.0.1:8080").withOpsAddr()
	return runProduction(ctx, f, args, config.RoleWeb, func(c *config.Config) *string { return &c.Web.Addr }, app.StartWeb, stdout)
}

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("worker", "Claim and run proofing jobs and webhook deliveries. Serves /api/health, /api/health/jobs,\n/api/health/outbound and /metrics on --addr.", stdout, true, "health server; default worker.addr, 127.0.0.1:9090")
	return runProduction(ctx, f, args, config.RoleWorker, func(c *config.Config) *string { return &c.Worker.Addr }, app.StartWorker, stdout)
}

// runProduction is a production role: flags, configuration, the
// components, then the role until ctx ends.
func runProduction(ctx context.Context, f *commonFlags, args []string, role config.Role, addr func(*config.Config) *string,
	start func(context.Context, *app.Components) (*app.Role, error), stdout io.Writer) error {
	cfg, log, closeLog, err := f.setup(args, role, addr, stdout)
	if err != nil {
		return err
	}
	defer closeLog()
	c, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := start(ctx, c)
	if err != nil {
		return err
	}
	return r.Wait()
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("dev", "Run everything in one process on embedded defaults: jobs in a SQLite file, results and\nsessions in memory, the vendor simulators, a key file created on first run. Nothing to install.", stdout, true, "default 127.0.0.1:8080")
	data := f.fs.String("data", ".idv-dev", "`DIR` for the SQLite jobs file, the key file and uploaded (encrypted) images")
	cfg, err := f.load(args)
	if err != nil {
		return err
	}
	if f.addr != "" {
		cfg.Web.Addr = f.addr
	}
	// Quiet by default: a line per request and River's periodic lines
	// would bury the one line that says where idv runs.
	switch _, set := os.LookupEnv("IDV_LOG_LEVEL"); {
	case f.logLevel != "":
		cfg.Log.Level = f.logLevel
	case !set && f.configPath == "":
		cfg.Log.Level = "warn"
	}
	cfg.Web.SecureCookies = false // plain HTTP on loopback
	// A YAML file can stand in for a photo to pick the document
	// simulator's answer, unless the configuration says otherwise.
	if _, set := os.LookupEnv("IDV_DOC_AUTH_ALLOW_TEST_FILES"); !set && f.configPath == "" {
		cfg.DocAuth.AllowTestFiles = true
	}
	// The demo app's webhook endpoint is on this loopback server.
	if _, set := os.LookupEnv("IDV_VERIFICATIONS_WEBHOOKS_ALLOW_INSECURE"); !set && f.configPath == "" {
		cfg.Verifications.WebhooksAllowInsecure = true
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
	if cfg.Keys.File == config.Defaults().Keys.File {
		cfg.Keys.File = filepath.Join(*data, "keys.json")
	}
	if err := cfg.Validate(config.RoleDev); err != nil {
		return err
	}
	log, closeLog, err := logger(cfg, stdout)
	if err != nil {
		return err
	}
	defer closeLog()
	r, err := app.StartDev(ctx, cfg, log, *data)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "\n  idv is running: open %s/demo in a browser to see a relying party use it, or %s/ to verify\n  yourself (Ctrl-C stops it)\n\n", r.URL, r.URL)
	return r.Wait()
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("migrate", "Apply River's migrations and idv's to database_url (safe to run again).", stdout, false, "")
	cfg, log, closeLog, err := f.setup(args, config.RoleMigrate, nil, stdout)
	if err != nil {
		return err
	}
	defer closeLog()
	return app.Migrate(ctx, cfg, log)
}

func runVendors(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("vendors", "Serve the deterministic vendor simulators (document, resolution, state ID, phone) over HTTP.", stdout, true, "default 127.0.0.1:8081")
	cfg, err := f.load(args)
	if err != nil {
		return err
	}
	if f.logLevel != "" {
		cfg.Log.Level = f.logLevel
	}
	log, closeLog, err := logger(cfg, stdout)
	if err != nil {
		return err
	}
	defer closeLog()
	r, err := app.StartVendors(ctx, cmp.Or(f.addr, "127.0.0.1:8081"), cfg.Vendors.SimulatorLatency, log)
	if err != nil {
		return err
	}
	return r.Wait()
}

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("keys", "With no argument, show the key file's current key; with 'init', create the key file if missing\n"+
		"(only this and idv dev create one: web and worker refuse to start without it); with 'rotate', add a new key\n"+
		"that seals from now on (old keys keep opening what they sealed); with 'rotate-signing', make a new receipt\n"+
		"signing key current (the old one stays in the JWKS); with 'rotate-image', make a new HPKE key current for document\n"+
		"images (the old one opens uploads in flight for the longer of doc_auth.upload_url_expiry and web.session_lifetime,\n"+
		"plus jobs.stale_after).\n"+
		"Usage: idv keys [--config FILE] [init|rotate|rotate-signing|rotate-image]", stdout, false, "")
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(f.configPath, os.Environ())
	if err != nil {
		return err
	}
	if f.fs.Arg(0) == "rotate-signing" {
		return rotateSigning(ctx, cfg, stdout, stderr)
	}
	if f.fs.Arg(0) == "rotate-image" {
		return rotateImage(ctx, cfg, stdout, stderr)
	}
	if cfg.Keys.KMSKeyID != "" {
		return fmt.Errorf("keys.kms_key_id is set: the wrapping keys live in AWS KMS, rotate them there (docs/operations.md, Keys); idv keys manages only keys.file")
	}
	switch f.fs.Arg(0) {
	case "":
		ring, err := seal.LoadKeyFile(cfg.Keys.File)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("keys.file: %s does not exist (create it with `idv keys init`)", cfg.Keys.File)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key file %s: current key %s\n", cfg.Keys.File, ring.CurrentKeyID())
	case "init":
		what := "exists"
		ring, err := seal.LoadKeyFile(cfg.Keys.File)
		if errors.Is(err, fs.ErrNotExist) {
			what = "created"
			ring, err = seal.LoadOrCreateKeyFile(cfg.Keys.File)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key file %s %s: current key %s\n", cfg.Keys.File, what, ring.CurrentKeyID())
	case "rotate":
		id, err := seal.RotateKeyFile(cfg.Keys.File)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key file %s: new current key %s (restart web and workers to use it)\n", cfg.Keys.File, id)
	default:
		return fmt.Errorf("unknown keys action %q (want init, rotate, rotate-signing, rotate-image or nothing)", f.fs.Arg(0))
	}
	return nil
}
