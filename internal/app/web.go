package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/web"
)

// StartWeb starts the web role on c: the pages, the waiting page's status
// long polls, enqueue (or, with jobs.async false, the jobs run inline in the
// request), /api/health and the jobs admin. It listens on web.addr and
// serves until ctx ends, letting long polls finish for up to 30 s. Metrics
// and every health endpoint are on a second, private listener, web.ops_addr.
func StartWeb(ctx context.Context, c *Components) (*Role, error) {
	cfg := c.Config
	if !cfg.Web.SecureCookies {
		c.Log.Warn("web.secure_cookies is off: the session cookie may travel over plain HTTP and no HSTS is sent; " +
			"turn it on (IDV_WEB_SECURE_COOKIES=true) wherever idv is reached over HTTPS, that is everywhere but idv dev")
	}
	wcfg := webConfig(cfg)
	if c.Objects != nil && cfg.DocAuth.PresignedUploads {
		var err error
		if wcfg.ConnectSrc, err = uploadOrigin(ctx, c.Objects); err != nil {
			return nil, err
		}
	}
	// The web tier calls no vendor while jobs run in workers: a missing
	// vendor URL then only leaves /api/health/outbound unconfigured.
	vc, err := VendorClients(cfg)
	if err != nil && !cfg.Jobs.Async {
		return nil, err
	} else if err != nil {
		vc = nil
	}
	var verifications web.Verifications = c.Queue
	if !cfg.Jobs.Async {
		h, err := c.vendorHandlers(vc)
		if err != nil {
			return nil, err
		}
		verifications = inlineVerifications{c.Queue, queue.Inline{Queue: c.Queue, Handlers: h}}
		c.Log.Info("jobs run inline in web requests (jobs.async is false)")
	}
	admin, err := jobsAdmin(ctx, cfg, c.Queue)
	if err != nil {
		return nil, err
	}
	health := c.Health(cfg.Jobs.Async, vc)
	mounts, provider, err := c.relyingPartyMounts(ctx, c.redisLimiter())
	if err != nil {
		return nil, err
	}
	srv, err := web.New(web.Options{
		Mounts:        mounts,
		Verifications: verifications, Results: c.Results, Sealer: c.Sealer, Logger: c.Log, Config: wcfg,
		Documents: documentOptions(cfg, c.Objects),
		Observer:  c.Metrics, Metrics: c.Metrics.Handler(),
		Sessions: sessionManager(cfg, goredisstore.NewWithPrefix(c.Redis, cfg.Redis.Prefix+"session:"), c.Sealer),
		Limiter:  c.redisLimiter(), FingerprintKey: fingerprintKey(cfg),
		Health: health.Stores, JobsHealth: health.Jobs, Outbound: health.Outbound,
		Admin: admin, OIDC: provider,
	})
	if err != nil {
		return nil, err
	}
	ln, err := listen(cfg.Web.Addr, "web", c.Log)
	if err != nil {
		return nil, err
	}
	opsLn, err := listen(cfg.Web.OpsAddr, "ops", c.Log)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	r := runRole("http://"+ln.Addr().String(), func() error {
		// Either listener failing stops the other: a web server without its
		// metrics, or the reverse, is not left running.
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		opsErr := make(chan error, 1)
		go func() {
			defer stop()
			opsErr <- serve(sctx, opsLn, srv.Ops(), c.Log, 5*time.Second, nil)
		}()
		err := serve(sctx, ln, srv, c.Log, shutdownGrace, srv.Drain)
		stop()
		return errors.Join(err, <-opsErr)
	})
	r.OpsURL = "http://" + opsLn.Addr().String()
	return r, nil
}

// inlineVerifications begins attempts inline (jobs.async false): the job
// runs in the request that begins it.
type inlineVerifications struct {
	*queue.Queue
	inline queue.Inline
}

func (v inlineVerifications) BeginAttempt(ctx context.Context, a idv.Attempt) (idv.StepRecord, error) {
	return v.inline.BeginAttempt(ctx, a)
}

func webConfig(cfg config.Config) web.Config {
	return web.Config{WaitRefresh: cfg.Web.WaitRefresh, LongPoll: cfg.Web.LongPoll, MaxLongPolls: cfg.Web.MaxLongPolls,
		HelpURL: cfg.Web.HelpURL, HelpText: cfg.Web.HelpText}
}

// sessionManager returns the sessions of the web tier, kept in store and
// sealed by sealer.
func sessionManager(cfg config.Config, store scs.Store, sealer idv.Sealer) *scs.SessionManager {
	sm := scs.New()
	sm.Store = store
	sm.Codec = web.SealedCodec{Sealer: sealer}
	sm.Lifetime = cfg.Web.SessionLifetime
	sm.IdleTimeout = cfg.Web.SessionIdleTimeout
	// A session cookie (no Max-Age): it ends with the browser, and the
	// flow's session is bound to one verification anyway. Over HTTPS its
	// name carries the __Host- prefix: Secure, no Domain, Path=/, so no
	// other host or path can set or shadow it.
	sm.Cookie.Name = "idv_session"
	if cfg.Web.SecureCookies {
		sm.Cookie.Name = "__Host-idv_session"
	}
	sm.Cookie.Persist = false
	sm.Cookie.Path = "/"
	sm.Cookie.HttpOnly = true
	sm.Cookie.Secure = cfg.Web.SecureCookies
	sm.Cookie.SameSite = http.SameSiteLaxMode
	return sm
}

// documentOptions configure the web tier's document step, or nil when the
// step is off (no store).
func documentOptions(cfg config.Config, store idv.ObjectStore) *web.DocumentOptions {
	if store == nil {
		return nil
	}
	return &web.DocumentOptions{Objects: store, Presigned: cfg.DocAuth.PresignedUploads,
		URLExpiry: cfg.DocAuth.EffectiveUploadURLExpiry(cfg.Web), AllowTestFiles: cfg.DocAuth.AllowTestFiles}
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
