package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/idv-dev/idv/vendors"
)

// Check is one health check: nil when the thing checked answers.
type Check = func(context.Context) error

// Health are the checks behind the health endpoints, one set built the same
// way for every serving role (web, worker, dev).
type Health struct {
	// Stores back /api/health: the databases the role cannot serve without.
	Stores map[string]Check
	// Jobs back /api/health/jobs: the queue answers and, where jobs run in
	// workers, some worker process holds River's leadership (a live leader
	// means at least one worker is up; none for about 15 s means none).
	Jobs map[string]Check
	// Outbound backs /api/health/outbound: the route to the vendors through
	// the egress proxy. Nil when the role has no vendor route.
	Outbound Check
}

// Health returns c's checks. workers says whether jobs run in worker
// processes (not inline in web requests); vc, if set, gives the vendor route.
func (c *Components) Health(workers bool, vc *vendors.Clients) Health {
	q := c.Queue
	h := Health{
		Stores: map[string]Check{"database": q.Ping},
		Jobs:   map[string]Check{"queue": q.Ping},
	}
	if c.Redis != nil {
		h.Stores["redis"] = func(ctx context.Context) error { return c.Redis.Ping(ctx).Err() }
	}
	if workers {
		h.Jobs["workers"] = func(ctx context.Context) error { _, err := q.Leader(ctx); return err }
	}
	if vc != nil {
		h.Outbound = cached(outboundCheck(vc), outboundCacheFor, time.Now)
	}
	return h
}

// outboundCheck checks the route to the resolution vendor through the egress
// proxy: the vendor's health URL, via the same transport as vendor calls.
func outboundCheck(vc *vendors.Clients) Check {
	base := vc.Config.Resolution.URL
	if base == "" {
		base = vc.Config.BaseURL
	}
	return func(ctx context.Context) error { return vendors.CheckOutbound(ctx, vc.HTTP, vendors.HealthURL(base)) }
}

// outboundCacheFor is how long one answer of the outbound check stands: each
// check is a vendor call, and monitors (or anyone who reaches the endpoint)
// may ask often.
const outboundCacheFor = 5 * time.Second

// cached returns check answering from its last result for ttl after each
// run. One caller at a time runs it: callers meanwhile wait for that answer
// rather than making calls of their own.
func cached(check Check, ttl time.Duration, now func() time.Time) Check {
	var (
		mu      sync.Mutex
		last    error
		expires time.Time
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if t := now(); t.Before(expires) {
			return last
		}
		last = check(ctx)
		expires = now().Add(ttl)
		return last
	}
}

// routes serves the health endpoints on mux, for a role without the web
// tier (which serves its own, from the same checks).
func (h Health) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/health", checksHandler(h.Stores))
	mux.HandleFunc("GET /api/health/jobs", checksHandler(h.Jobs))
	outbound := h.Outbound
	if outbound == nil {
		outbound = func(context.Context) error { return errors.New("no vendor route configured") }
	}
	mux.HandleFunc("GET /api/health/outbound", checksHandler(map[string]Check{"outbound": outbound}))
}

// checksHandler answers 200 {"status":"ok"} when every check passes, else
// 503 naming the failing checks (never their error text).
func checksHandler(checks map[string]Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		out, code, status := map[string]string{}, http.StatusOK, "ok"
		for name, check := range checks {
			if err := check(ctx); err != nil {
				out[name], code, status = "unavailable", http.StatusServiceUnavailable, "unavailable"
			} else {
				out[name] = "ok"
			}
		}
		b, _ := json.Marshal(struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}{status, out})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(b)
	}
}
