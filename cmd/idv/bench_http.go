package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/queue"
	redislimit "github.com/idv-dev/idv/ratelimit/redis"
	"github.com/idv-dev/idv/results"
	redisresults "github.com/idv-dev/idv/results/redis"
	"github.com/idv-dev/idv/telemetry"
	"github.com/idv-dev/idv/vendors/sim"
	"github.com/idv-dev/idv/web"
)

// benchStack is the production shape in one process, for B2 and B3: the
// vendor simulators, a worker (its own queue pool, Redis client and result
// store, as a separate process would have) and the web tier, each on a
// loopback listener. The egress proxy is left out: vendors are called
// directly.
type benchStack struct {
	base   string // http://127.0.0.1:port of the web tier
	schema string
	stops  []func()
}

// startBenchStack starts it on a fresh schema and Redis prefix named part,
// with the simulators answering after latency and workers resolution
// workers.
func startBenchStack(ctx context.Context, env *benchEnv, part string, latency time.Duration, workers int) (st *benchStack, err error) {
	st = &benchStack{}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	cfg := env.cfg
	cfg.Redis.Prefix = env.redisPrefix(part)
	cfg.Web.SecureCookies = false // plain HTTP on loopback
	cfg.Vendors.ProxyURL = ""
	cfg.Jobs.Workers.ResolutionProofing = workers
	schema := env.schema(part)
	st.schema = schema
	log := env.log

	// Vendors.
	vln, err := listen("127.0.0.1:0", "vendors", log)
	if err != nil {
		return st, err
	}
	st.serveInBackground(func(ctx context.Context) error {
		return serve(ctx, vln, sim.New(sim.Options{Latency: latency}), log, time.Second, nil)
	})
	cfg.Vendors.BaseURL = "http://" + vln.Addr().String()

	// Worker.
	wq, err := queue.OpenPostgres(ctx, cfg.DatabaseURL, queue.Config{Schema: schema, Logger: log})
	if err != nil {
		return st, err
	}
	st.stops = append(st.stops, wq.Close)
	if err := wq.Migrate(ctx); err != nil {
		return st, err
	}
	wrc, err := openRedis(ctx, cfg)
	if err != nil {
		return st, err
	}
	st.stops = append(st.stops, func() { _ = wrc.Close() })
	wstore, err := redisresults.New(wrc, env.sealer, results.Options{Prefix: cfg.Redis.Prefix})
	if err != nil {
		return st, err
	}
	st.stops = append(st.stops, func() { _ = wstore.Close() })
	vc, err := vendorClients(cfg)
	if err != nil {
		return st, err
	}
	h, err := handlers(cfg, env.sealer, wstore, wq, log, vc, telemetry.NewMetrics())
	if err != nil {
		return st, err
	}
	wc := workerConfig(cfg, h)
	wc.CaptureSessionRetention = -1
	w, err := wq.StartWorkers(ctx, wc)
	if err != nil {
		return st, err
	}
	st.stops = append(st.stops, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.Stop(sctx)
	})

	// Web.
	q, err := queue.OpenPostgres(ctx, cfg.DatabaseURL, queue.Config{Schema: schema, Logger: log})
	if err != nil {
		return st, err
	}
	st.stops = append(st.stops, q.Close)
	rc, err := openRedis(ctx, cfg)
	if err != nil {
		return st, err
	}
	st.stops = append(st.stops, func() { _ = rc.Close() })
	store, err := redisresults.New(rc, env.sealer, results.Options{Prefix: cfg.Redis.Prefix})
	if err != nil {
		return st, err
	}
	st.stops = append(st.stops, func() { _ = store.Close() })
	metrics := telemetry.NewMetrics()
	srv, err := web.New(web.Options{
		Queue: q, Results: store, Sealer: env.sealer, Logger: log, Config: webConfig(cfg),
		Observer: metrics, Metrics: metrics.Handler(),
		Sessions: sessionManager(cfg, redisSessionStore(rc, cfg), env.sealer),
		Limiter:  redislimit.New(rc, cfg.Redis.Prefix), FingerprintKey: devFingerprintKey(cfg),
	})
	if err != nil {
		return st, err
	}
	ln, err := listen("127.0.0.1:0", "web", log)
	if err != nil {
		return st, err
	}
	st.serveInBackground(func(ctx context.Context) error {
		return serve(ctx, ln, srv, log, 5*time.Second, srv.Drain)
	})
	st.base = "http://" + ln.Addr().String()
	return st, nil
}

// serveInBackground runs a server until close, which waits for it to stop.
func (st *benchStack) serveInBackground(run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = run(ctx)
	}()
	st.stops = append(st.stops, func() { cancel(); <-done })
}

// close stops everything, last started first.
func (st *benchStack) close() {
	for i := len(st.stops) - 1; i >= 0; i-- {
		st.stops[i]()
	}
	st.stops = nil
}

// benchPerson is one person's browser: a cookie jar, redirects not
// followed so each step is seen.
type benchPerson struct {
	c    *http.Client
	base string
}

func newBenchPerson(base string, tr http.RoundTripper) *benchPerson {
	jar, _ := cookiejar.New(nil)
	return &benchPerson{base: base, c: &http.Client{
		Transport: tr, Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends one request and returns the status, Location and body.
func (p *benchPerson) do(ctx context.Context, method, path string, form url.Values) (int, string, []byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, body)
	if err != nil {
		return 0, "", nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := p.c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), b, err
}

const verifyInfoPath = "/verify/verify_info"

// submit posts the verify_info form of person i.
func (p *benchPerson) submit(ctx context.Context, i int) error {
	code, loc, _, err := p.do(ctx, http.MethodPost, verifyInfoPath, benchForm(i))
	if err != nil {
		return err
	}
	if code != http.StatusSeeOther || loc != verifyInfoPath {
		return fmt.Errorf("submit: HTTP %d to %q", code, loc)
	}
	return nil
}

// page loads the step page the submit redirected to, as a browser does: the
// waiting page (waiting true) or, when the result is already there, the
// redirect onwards (next).
func (p *benchPerson) page(ctx context.Context) (waiting bool, next string, err error) {
	code, loc, body, err := p.do(ctx, http.MethodGet, verifyInfoPath, nil)
	switch {
	case err != nil:
		return false, "", err
	case code == http.StatusOK && strings.Contains(string(body), "data-status-url"):
		return true, "", nil
	case code == http.StatusSeeOther:
		return false, loc, nil
	}
	return false, "", fmt.Errorf("step page: HTTP %d, neither waiting page nor redirect", code)
}

// status asks the status endpoint once (a long poll while in progress).
func (p *benchPerson) status(ctx context.Context) (string, error) {
	code, _, body, err := p.do(ctx, http.MethodGet, verifyInfoPath+"/status", nil)
	if err != nil {
		return "", err
	}
	var s struct{ Status string }
	if err := json.Unmarshal(body, &s); err != nil || code != http.StatusOK {
		return "", fmt.Errorf("status: HTTP %d", code)
	}
	return s.Status, nil
}

// wait long-polls the status endpoint, as the waiting page's script does,
// until the attempt is no longer in progress, and returns its status.
func (p *benchPerson) wait(ctx context.Context) (string, error) {
	for {
		s, err := p.status(ctx)
		if err != nil || s != string(idv.StatusInProgress) {
			return s, err
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
	}
}

// next loads the step page after the result, as the waiting page does, and
// returns where it sends the person (/verify/phone on success).
func (p *benchPerson) next(ctx context.Context) (string, error) {
	waiting, loc, err := p.page(ctx)
	if err == nil && waiting {
		err = errors.New("result page still waiting after the status said done")
	}
	return loc, err
}

func benchForm(i int) url.Values {
	a := benchApplicant(i)
	return url.Values{
		"first_name": {a.FirstName}, "last_name": {a.LastName}, "dob": {a.DOB}, "ssn": {a.SSN},
		"address1": {a.Address1}, "city": {a.City}, "state": {a.State}, "zipcode": {a.ZIPCode},
		"state_id_number": {a.StateIDNumber}, "state_id_jurisdiction": {a.StateIDJurisdiction},
	}
}

// benchTransport is a keep-alive connection pool to the web tier.
func benchTransport(maxConns int) *http.Transport {
	return &http.Transport{
		MaxIdleConns: maxConns, MaxIdleConnsPerHost: maxConns, MaxConnsPerHost: maxConns,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}
}
