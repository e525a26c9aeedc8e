package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/alexedwards/scs/v2/memstore"
	goredis "github.com/redis/go-redis/v9"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/queue"
	memlimit "github.com/idv-dev/idv/ratelimit/memory"
	redislimit "github.com/idv-dev/idv/ratelimit/redis"
	"github.com/idv-dev/idv/results"
	"github.com/idv-dev/idv/results/memory"
	redisresults "github.com/idv-dev/idv/results/redis"
	"github.com/idv-dev/idv/seal"
	"github.com/idv-dev/idv/telemetry"
	"github.com/idv-dev/idv/vendors/sim"
	"github.com/idv-dev/idv/web"
)

const shutdownGrace = 30 * time.Second

// production is what web and worker share in the production shape.
type production struct {
	sealer  *seal.Envelope
	redis   *goredis.Client
	results *results.Store
	queue   *queue.Queue
}

func openProduction(ctx context.Context, cfg config.Config, log *slog.Logger) (*production, error) {
	sealer, err := openSealer(cfg)
	if err != nil {
		return nil, err
	}
	rc, err := openRedis(ctx, cfg)
	if err != nil {
		return nil, err
	}
	store, err := redisresults.New(rc, sealer, results.Options{Prefix: cfg.Redis.Prefix})
	if err != nil {
		_ = rc.Close()
		return nil, err
	}
	q, err := queue.OpenPostgres(ctx, cfg.DatabaseURL, queueConfig(cfg, log))
	if err != nil {
		_ = store.Close()
		_ = rc.Close()
		return nil, err
	}
	return &production{sealer: sealer, redis: rc, results: store, queue: q}, nil
}

func (p *production) pingRedis(ctx context.Context) error { return p.redis.Ping(ctx).Err() }

// close releases in reverse order: the store before the Redis client.
func (p *production) close() {
	p.queue.Close()
	_ = p.results.Close()
	_ = p.redis.Close()
}

func runWeb(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("web", "Serve the pages, the waiting page's status endpoint, enqueue and /api/health.", stdout, true, "default web.addr, 127.0.0.1:8080")
	cfg, log, closeLog, err := f.setup(args, config.RoleWeb, func(c *config.Config) *string { return &c.Web.Addr }, stdout)
	if err != nil {
		return err
	}
	defer closeLog()
	d, err := openProduction(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.close()
	sealer, rc, store, q := d.sealer, d.redis, d.results, d.queue
	metrics := telemetry.NewMetrics()
	wcfg := webConfig(cfg)
	var docStore idv.ObjectStore
	if cfg.DocAuth.Enabled {
		s3store, err := openS3(ctx, cfg)
		if err != nil {
			return err
		}
		docStore = s3store
		if cfg.DocAuth.PresignedUploads {
			if wcfg.ConnectSrc, err = uploadOrigin(ctx, s3store); err != nil {
				return err
			}
		}
	}
	var outbound func(context.Context) error
	var jobQueue idv.Queue = q
	if vc, err := vendorClients(cfg); err == nil {
		outbound = outboundCheck(vc)
		if !cfg.Jobs.Async {
			h, err := handlers(cfg, sealer, store, q, log, vc, metrics)
			if err != nil {
				return err
			}
			if err := addDocumentHandler(h, docStore, vc); err != nil {
				return err
			}
			jobQueue = queue.Inline{Queue: q, Handlers: h}
			log.Info("jobs run inline in web requests (jobs.async is false)")
		}
	} else if !cfg.Jobs.Async {
		return err
	}
	admin, err := jobsAdmin(ctx, cfg, q)
	if err != nil {
		return err
	}
	srv, err := web.New(web.Options{
		Queue: jobQueue, Results: store, Sealer: sealer, Logger: log, Config: wcfg, Outbound: outbound,
		Documents: documentOptions(cfg, docStore),
		Observer:  metrics, Metrics: metrics.Handler(),
		Sessions: sessionManager(cfg, redisSessionStore(rc, cfg), sealer),
		Limiter:  redislimit.New(rc, cfg.Redis.Prefix), FingerprintKey: fingerprintKey(cfg),
		Health:     map[string]func(context.Context) error{"database": q.Ping, "redis": d.pingRedis},
		JobsHealth: jobsHealth(q, cfg.Jobs.Async),
		Admin:      admin,
	})
	if err != nil {
		return err
	}
	ln, err := listen(cfg.Web.Addr, "web", log)
	if err != nil {
		return err
	}
	return serve(ctx, ln, srv, log, shutdownGrace, srv.Drain)
}

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("worker", "Claim and run proofing jobs. Serves /api/health and /api/health/jobs on --addr.", stdout, true, "health server; default worker.addr, 127.0.0.1:9090")
	cfg, log, closeLog, err := f.setup(args, config.RoleWorker, func(c *config.Config) *string { return &c.Worker.Addr }, stdout)
	if err != nil {
		return err
	}
	defer closeLog()
	d, err := openProduction(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.close()
	sealer, store, q := d.sealer, d.results, d.queue
	metrics := telemetry.NewMetrics()
	metrics.QueueDepth(queueDepth(q))
	vc, err := vendorClients(cfg)
	if err != nil {
		return err
	}
	h, err := handlers(cfg, sealer, store, q, log, vc, metrics)
	if err != nil {
		return err
	}
	if cfg.DocAuth.Enabled {
		s3store, err := openS3(ctx, cfg)
		if err != nil {
			return err
		}
		if err := addDocumentHandler(h, s3store, vc); err != nil {
			return err
		}
	}
	wc := workerConfig(cfg, h)
	wc.OnRescue = metrics.JobRescued
	workers, err := q.StartWorkers(ctx, wc)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", healthHandler(map[string]func(context.Context) error{
		"database": q.Ping, "redis": d.pingRedis,
	}))
	mux.Handle("GET /metrics", metrics.Handler())
	mux.HandleFunc("GET /api/health/outbound", healthHandler(map[string]func(context.Context) error{"outbound": outboundCheck(vc)}))
	mux.HandleFunc("GET /api/health/jobs", healthHandler(jobsHealth(q, true)))
	ln, err := listen(cfg.Worker.Addr, "worker", log)
	if err != nil {
		_ = workers.Stop(context.Background())
		return err
	}
	serveErr := serve(ctx, ln, mux, log, 5*time.Second, nil)
	// Stop taking work, let running jobs finish (or hand them back).
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	log.Info("worker stopping: finishing running jobs")
	if err := workers.Stop(sctx); err != nil && !errors.Is(err, queue.ErrStopTimeout) {
		return err
	}
	log.Info("worker stopped")
	return serveErr
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("migrate", "Apply River's migrations and idv's to database_url (safe to run again).", stdout, false, "")
	cfg, log, closeLog, err := f.setup(args, config.RoleMigrate, nil, stdout)
	if err != nil {
		return err
	}
	defer closeLog()
	q, err := queue.OpenPostgres(ctx, cfg.DatabaseURL, queueConfig(cfg, log))
	if err != nil {
		return err
	}
	defer q.Close()
	if err := q.Migrate(ctx); err != nil {
		return err
	}
	log.Info("migrations applied")
	return nil
}

func runVendors(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("vendors", "Serve the deterministic vendor simulators (resolution, state ID, phone) over HTTP.", stdout, true, "default 127.0.0.1:8081")
	cfg, err := f.load(args)
	if err != nil {
		return err
	}
	if f.addr == "" {
		f.addr = "127.0.0.1:8081"
	}
	log, closeLog, err := logger(cfg, stdout)
	if err != nil {
		return err
	}
	defer closeLog()
	ln, err := listen(f.addr, "vendors", log)
	if err != nil {
		return err
	}
	return serve(ctx, ln, sim.New(sim.Options{Latency: cfg.Vendors.SimulatorLatency}), log, 5*time.Second, nil)
}

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("keys", "Create the key file if missing, or with 'rotate' add a new key that seals from now on\n(old keys keep opening what they sealed). Usage: idv keys [--config FILE] [rotate]", stdout, false, "")
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(f.configPath, os.Environ())
	if err != nil {
		return err
	}
	if cfg.Keys.KMSKeyID != "" {
		return fmt.Errorf("keys.kms_key_id is set: the wrapping keys live in AWS KMS, rotate them there (docs/operations.md, Keys); idv keys manages only keys.file")
	}
	switch f.fs.Arg(0) {
	case "":
		ring, err := seal.LoadOrCreateKeyFile(cfg.Keys.File)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key file %s: current key %s\n", cfg.Keys.File, ring.CurrentKeyID())
	case "rotate":
		id, err := seal.RotateKeyFile(cfg.Keys.File)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key file %s: new current key %s (restart web and workers to use it)\n", cfg.Keys.File, id)
	default:
		return fmt.Errorf("unknown keys action %q (want rotate or nothing)", f.fs.Arg(0))
	}
	return nil
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
	cfg.Web.SecureCookies = false // plain HTTP on loopback
	// A YAML file can stand in for a photo to pick the document
	// simulator's answer, unless the configuration says otherwise.
	if _, set := os.LookupEnv("IDV_DOC_AUTH_ALLOW_TEST_FILES"); !set && f.configPath == "" {
		cfg.DocAuth.AllowTestFiles = true
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
	sealer, err := openSealer(cfg)
	if err != nil {
		return err
	}
	store, err := memory.New(sealer, results.Options{})
	if err != nil {
		return err
	}
	defer store.Close()

	// The simulators, reached over HTTP like real vendors.
	vln, err := listen("127.0.0.1:0", "vendors", log)
	if err != nil {
		return err
	}
	vctx, stopVendors := context.WithCancel(context.WithoutCancel(ctx))
	defer stopVendors()
	go func() {
		_ = serve(vctx, vln, sim.New(sim.Options{Latency: cfg.Vendors.SimulatorLatency}), log, time.Second, nil)
	}()
	cfg.Vendors.BaseURL = "http://" + vln.Addr().String()
	vc, err := vendorClients(cfg)
	if err != nil {
		return err
	}

	q, err := queue.OpenSQLite(ctx, filepath.Join(*data, "jobs.sqlite"), queueConfig(cfg, log))
	if err != nil {
		return err
	}
	defer q.Close()
	if err := q.Migrate(ctx); err != nil {
		return err
	}
	metrics := telemetry.NewMetrics()
	metrics.QueueDepth(queueDepth(q))
	h, err := handlers(cfg, sealer, store, q, log, vc, metrics)
	if err != nil {
		return err
	}
	// The web listener comes first: the local object store's upload URLs
	// point at it.
	ln, err := listen(cfg.Web.Addr, "web", log)
	if err != nil {
		return err
	}
	var docs *web.DocumentOptions
	if cfg.DocAuth.Enabled {
		dir := cfg.Objects.Dir
		if dir == "" {
			dir = filepath.Join(*data, "objects")
		}
		objects, err := openLocalObjects(dir, "http://"+ln.Addr().String())
		if err != nil {
			return err
		}
		if err := addDocumentHandler(h, objects, vc); err != nil {
			return err
		}
		docs = documentOptions(cfg, objects)
		docs.Uploads = objects.Handler()
	}
	wc := workerConfig(cfg, h)
	wc.OnRescue = metrics.JobRescued
	workers, err := q.StartWorkers(ctx, wc)
	if err != nil {
		return err
	}
	admin, err := jobsAdmin(ctx, cfg, q)
	if err != nil {
		return err
	}
	srv, err := web.New(web.Options{
		Queue: q, Results: store, Sealer: sealer, Logger: log, Config: webConfig(cfg), Documents: docs, Admin: admin,
		Sessions: sessionManager(cfg, memstore.New(), sealer), Outbound: outboundCheck(vc),
		Observer: metrics, Metrics: metrics.Handler(),
		Limiter: memlimit.New(time.Now), FingerprintKey: devFingerprintKey(cfg),
		Health: map[string]func(context.Context) error{"database": q.Ping},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "\n  idv is running: open http://%s/ in a browser (Ctrl-C stops it)\n\n", ln.Addr())
	serveErr := serve(ctx, ln, srv, log, 5*time.Second, srv.Drain)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := workers.Stop(sctx); err != nil && !errors.Is(err, queue.ErrStopTimeout) {
		return err
	}
	return serveErr
}

// healthHandler answers 200 {"status":"ok"} when every check passes, else
// 503 naming the failing checks (never their error text).
func healthHandler(checks map[string]func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		out, code := map[string]string{}, http.StatusOK
		for name, check := range checks {
			if err := check(ctx); err != nil {
				out[name], code = "unavailable", http.StatusServiceUnavailable
			} else {
				out[name] = "ok"
			}
		}
		status := "ok"
		if code != http.StatusOK {
			status = "unavailable"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"status":%q,"checks":%s}`, status, jsonMap(out))
	}
}

func jsonMap(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func fingerprintKey(cfg config.Config) []byte {
	k, _ := base64.StdEncoding.DecodeString(cfg.Keys.FingerprintKey) // checked by Validate
	return k
}

// devFingerprintKey is the configured key or, in `idv dev`, a fresh one: the
// limits live in memory for this run only.
func devFingerprintKey(cfg config.Config) []byte {
	if k := fingerprintKey(cfg); len(k) >= 32 {
		return k
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}
