package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/jobs"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/seal"
	sealkms "github.com/idv-dev/idv/seal/kms"
	"github.com/idv-dev/idv/telemetry"
	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/web"
)

// jobTimeouts bound one run of each job kind: the vendors' timeouts plus room
// to store the result.
var jobTimeouts = map[idv.JobKind]time.Duration{
	idv.JobResolution: 20 * time.Second,
	idv.JobAddress:    10 * time.Second,
	idv.JobDocument:   60 * time.Second,
}

// openSealer returns the envelope that seals job arguments, results and
// sessions: data keys wrapped by AWS KMS when keys.kms_key_id is set, else by
// the local key file. With KMS it wraps and unwraps one data key at once, so
// a process that cannot reach the key or lacks kms:GenerateDataKey or
// kms:Decrypt fails at start-up rather than on a person's request.
func openSealer(cfg config.Config) (*seal.Envelope, error) {
	opts := seal.Options{DataKeyTTL: cfg.Keys.DataKeyLifetime}
	if cfg.Keys.KMSKeyID == "" {
		ring, err := seal.LoadOrCreateKeyFile(cfg.Keys.File)
		if err != nil {
			return nil, err
		}
		return seal.NewEnvelope(ring, opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := sealkms.Open(ctx, sealkms.Config{KeyID: cfg.Keys.KMSKeyID, Region: cfg.Keys.KMSRegion, Endpoint: cfg.Keys.KMSEndpoint})
	if err != nil {
		return nil, fmt.Errorf("keys.kms_key_id: %w", err)
	}
	sealer, err := seal.NewEnvelope(w, opts)
	if err != nil {
		return nil, err
	}
	// A second envelope has no cached data key, so its Open calls Decrypt.
	check, err := seal.NewEnvelope(w, opts)
	if err != nil {
		return nil, err
	}
	aad := []byte("idv/startup-check")
	v, err := sealer.Seal(ctx, nil, aad)
	if err == nil {
		_, err = check.Open(ctx, v, aad)
	}
	if err != nil {
		return nil, fmt.Errorf("keys.kms_key_id %s: %w", cfg.Keys.KMSKeyID, err)
	}
	return sealer, nil
}

// jobsAdmin returns the jobs admin UI (riverui over q) with its credentials
// when web.admin_user is set, else nil: the UI is off.
func jobsAdmin(ctx context.Context, cfg config.Config, q *queue.Queue) (*web.Admin, error) {
	if cfg.Web.AdminUser == "" {
		return nil, nil
	}
	h, err := q.AdminHandler(ctx, web.AdminPrefix)
	if err != nil {
		return nil, err
	}
	sum, err := hex.DecodeString(cfg.Web.AdminPasswordSHA256)
	if err != nil {
		return nil, fmt.Errorf("web.admin_password_sha256: %w", err)
	}
	return &web.Admin{Handler: h, User: cfg.Web.AdminUser, PasswordSHA256: sum}, nil
}

func openRedis(ctx context.Context, cfg config.Config) (*goredis.Client, error) {
	c := goredis.NewClient(&goredis.Options{
		Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB,
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		MaxRetries: 1,
	})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis at %s: %w", cfg.Redis.Addr, err)
	}
	return c, nil
}

func queueConfig(cfg config.Config, log *slog.Logger) queue.Config {
	return queue.Config{Schema: cfg.DatabaseSchema, Logger: log}
}

// sessionManager returns the sessions of the web tier, sealed by sealer.
func sessionManager(cfg config.Config, store scs.Store, sealer idv.Sealer) *scs.SessionManager {
	sm := scs.New()
	sm.Store = store
	sm.Codec = web.SealedCodec{Sealer: sealer}
	sm.Lifetime = cfg.Web.SessionLifetime
	sm.IdleTimeout = cfg.Web.SessionIdleTimeout
	sm.Cookie.Name = "idv_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.Secure = cfg.Web.SecureCookies
	sm.Cookie.SameSite = http.SameSiteLaxMode
	return sm
}

func redisSessionStore(c *goredis.Client, cfg config.Config) scs.Store {
	return goredisstore.NewWithPrefix(c, cfg.Redis.Prefix+"session:")
}

func webConfig(cfg config.Config) web.Config {
	return web.Config{WaitRefresh: cfg.Web.WaitRefresh, LongPoll: cfg.Web.LongPoll}
}

// handlers builds the job handlers of every kind from the vendor clients.
func handlers(cfg config.Config, sealer idv.Sealer, results idv.ResultStore, outcomes idv.OutcomeRecorder, log *slog.Logger, vc *vendors.Clients, m *telemetry.Metrics) (map[idv.JobKind]idv.JobHandler, error) {
	runner := &jobs.Runner{Sealer: sealer, Results: results, Outcomes: outcomes, Logger: log, StaleAfter: cfg.Jobs.StaleAfter,
		Observe: func(kind idv.JobKind, outcome string, queued, ran time.Duration) {
			m.ObserveJob(string(kind), outcome, queued, ran)
		},
		ObserveVendor: func(vendor string, outcome idv.Outcome, took time.Duration) {
			m.ObserveVendor(vendor, string(outcome), took)
		}}
	address := &jobs.Address{Runner: runner, Primary: vc.Phone}
	if sec := cfg.Vendors.PhoneSecondary; sec.URL != "" {
		p, err := vendors.NewPhone(vc.HTTP, vendors.Endpoint{URL: sec.URL, Timeout: sec.Timeout, Name: "phone_secondary"})
		if err != nil {
			return nil, err
		}
		address.Secondary = p
	}
	return map[idv.JobKind]idv.JobHandler{
		idv.JobResolution: &jobs.Resolution{Runner: runner, Resolution: vc.Resolution, StateID: vc.StateID},
		idv.JobAddress:    address,
	}, nil
}

func vendorClients(cfg config.Config) (*vendors.Clients, error) {
	v := cfg.Vendors
	return vendors.New(vendors.Config{
		BaseURL:    v.BaseURL,
		ProxyURL:   v.ProxyURL,
		Resolution: vendors.Endpoint{URL: v.Resolution.URL, Timeout: v.Resolution.Timeout},
		StateID:    vendors.Endpoint{URL: v.StateID.URL, Timeout: v.StateID.Timeout},
		Phone:      vendors.Endpoint{URL: v.Phone.URL, Timeout: v.Phone.Timeout},
		Document:   vendors.Endpoint{URL: v.Document.URL, Timeout: v.Document.Timeout},
	})
}

func workerConfig(cfg config.Config, h map[idv.JobKind]idv.JobHandler) queue.WorkerConfig {
	w := cfg.Jobs.Workers
	counts, timeouts := map[idv.JobKind]int{}, map[idv.JobKind]time.Duration{}
	for kind, n := range map[idv.JobKind]int{
		idv.JobDocument: w.DocumentProofing, idv.JobResolution: w.ResolutionProofing, idv.JobAddress: w.AddressProofing,
	} {
		if h[kind] != nil {
			counts[kind], timeouts[kind] = n, jobTimeouts[kind]
		}
	}
	return queue.WorkerConfig{
		Handlers:            h,
		Workers:             counts,
		DefaultQueueWorkers: w.Default,
		Timeouts:            timeouts,
		RescueAfter:         cfg.Jobs.RescueAfter,
		HeartbeatTimeout:    heartbeatTimeout(cfg.Jobs.HeartbeatTimeout),
		Retention:           cfg.Jobs.Retention,
		FetchPollInterval:   cfg.Jobs.FetchPollInterval,
	}
}

// heartbeatTimeout maps jobs.heartbeat_timeout, where 0 means off, to
// queue.WorkerConfig's, where 0 means the default and negative means off.
func heartbeatTimeout(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// listen opens addr and logs the URL it serves.
func listen(addr, what string, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", what, addr, err)
	}
	log.Info("listening", "role", what, "url", "http://"+ln.Addr().String())
	return ln, nil
}

// outboundCheck checks the route to the resolution vendor through the egress
// proxy: the vendor's health URL, via the same transport as vendor calls.
func outboundCheck(vc *vendors.Clients) func(context.Context) error {
	base := vc.Config.Resolution.URL
	if base == "" {
		base = vc.Config.BaseURL
	}
	return func(ctx context.Context) error { return vendors.CheckOutbound(ctx, vc.HTTP, vendors.HealthURL(base)) }
}

// jobsHealth are the checks of /api/health/jobs: the queue answers and, when
// jobs run in workers, some worker process holds River's leadership (a live
// leader means at least one worker is up; none for about 15 s means none).
func jobsHealth(q *queue.Queue, async bool) map[string]func(context.Context) error {
	checks := map[string]func(context.Context) error{"queue": q.Ping}
	if async {
		checks["workers"] = func(ctx context.Context) error { _, err := q.Leader(ctx); return err }
	}
	return checks
}

// queueDepth adapts the queue's stats for the idv_queue_jobs gauge.
func queueDepth(q *queue.Queue) func(context.Context) (map[string]map[string]int, error) {
	return func(ctx context.Context) (map[string]map[string]int, error) {
		stats, err := q.Stats(ctx)
		if err != nil {
			return nil, err
		}
		out := make(map[string]map[string]int, len(stats))
		for name, st := range stats {
			out[name] = map[string]int{"available": st.Available, "running": st.Running, "retryable": st.Retryable}
		}
		return out, nil
	}
}
