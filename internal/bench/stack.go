package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"time"

	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/queue"
)

// stack is the production shape in one process, for B2 and B3, started
// from internal/app as `idv vendors`, `idv worker` and `idv web` start: the
// vendor simulators, a worker role and a web role, each on a loopback
// listener with its own pools and Redis client, as separate processes
// would have. The egress proxy is left out: vendors are called directly.
type stack struct {
	base   string // http://127.0.0.1:port of the web tier
	schema string
	prefix string // the roles' Redis key prefix (redis.prefix)
	cfg    config.Config
	// queue is the web role's store, for the benchmark's setup
	// (relying parties, verifications) outside the measured windows.
	queue *queue.Queue
	stops []func()
}

// startStack starts it on a fresh schema and Redis prefix named part, with
// the simulators answering after latency and workers resolution workers;
// tune, if set, changes the roles' configuration last.
func startStack(ctx context.Context, env *env, part string, latency time.Duration, workers int, tune func(*config.Config)) (st *stack, err error) {
	st = &stack{}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	cfg := env.cfg
	cfg.Redis.Prefix = env.redisPrefix(part)
	cfg.DatabaseSchema = env.schema(part)
	st.schema, st.prefix = cfg.DatabaseSchema, cfg.Redis.Prefix
	cfg.Web.Addr, cfg.Worker.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Web.SecureCookies = false // plain HTTP on loopback
	cfg.Web.AdminUser = ""
	cfg.Jobs.Async = true
	cfg.Jobs.Workers.ResolutionProofing = workers
	cfg.DocAuth.Enabled = false // the flow starts at verify_info
	cfg.Vendors.ProxyURL = ""
	if k, _ := base64.StdEncoding.DecodeString(cfg.Keys.FingerprintKey); len(k) < 32 {
		// The limits' keys live in this run's Redis prefix only.
		k = make([]byte, 32)
		_, _ = rand.Read(k)
		cfg.Keys.FingerprintKey = base64.StdEncoding.EncodeToString(k)
	}
	if tune != nil {
		tune(&cfg)
	}
	st.cfg = cfg
	log := env.log

	// Each role lives until close, not until the benchmark's deadline, and
	// stops on its own, last started first.
	start := func(run func(context.Context) (*app.Role, error)) (*app.Role, error) {
		rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		r, err := run(rctx)
		if err != nil {
			stop()
			return nil, err
		}
		st.stops = append(st.stops, func() { stop(); _ = r.Wait() })
		return r, nil
	}
	vendors, err := start(func(ctx context.Context) (*app.Role, error) {
		return app.StartVendors(ctx, "127.0.0.1:0", latency, log)
	})
	if err != nil {
		return st, err
	}
	cfg.Vendors.BaseURL = vendors.URL
	if err := app.Migrate(ctx, cfg, log); err != nil {
		return st, err
	}
	for _, role := range []func(context.Context, *app.Components) (*app.Role, error){app.StartWorker, app.StartWeb} {
		c, err := app.OpenWithSealer(ctx, cfg, log, env.sealer)
		if err != nil {
			return st, err
		}
		st.stops = append(st.stops, c.Close)
		r, err := start(func(ctx context.Context) (*app.Role, error) { return role(ctx, c) })
		if err != nil {
			return st, err
		}
		st.base, st.queue = r.URL, c.Queue // the web role's, which starts last
	}
	return st, nil
}

// close stops everything, last started first.
func (st *stack) close() {
	for i := len(st.stops) - 1; i >= 0; i-- {
		st.stops[i]()
	}
	st.stops = nil
}

// The pages the benchmarks' people use.
const (
	verifyInfoPath = "/verify/verify_info"
	phonePath      = "/verify/phone"
	resultPath     = "/verify/result"
)

// personForm is the verify_info form of person i.
func personForm(i int) url.Values {
	a := benchApplicant(i)
	return url.Values{
		"first_name": {a.FirstName}, "last_name": {a.LastName}, "dob": {a.DOB}, "ssn": {a.SSN},
		"address1": {a.Address1}, "city": {a.City}, "state": {a.State}, "zipcode": {a.ZIPCode},
		"state_id_number": {a.StateIDNumber}, "state_id_jurisdiction": {a.StateIDJurisdiction},
	}
}

// transport is a keep-alive connection pool to the web tier.
func transport(maxConns int) *http.Transport {
	return &http.Transport{
		MaxIdleConns: maxConns, MaxIdleConnsPerHost: maxConns, MaxConnsPerHost: maxConns,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}
}
