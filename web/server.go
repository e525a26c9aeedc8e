// Package web serves idv's pages: the start page, each proofing step with
// its enqueue-then-poll contract, the waiting page and its status endpoint,
// outcome pages and operations endpoints.
package web

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is the web tier's behaviour.
type Config struct {
	// WaitRefresh is the waiting page's meta refresh (no JavaScript).
	WaitRefresh time.Duration
	// LongPoll bounds one status request from the waiting page's script.
	LongPoll time.Duration
	// FallbackPoll is how often a long-poll re-reads the result store when no
	// change notification arrives (a missed message, an expired marker).
	FallbackPoll time.Duration
	// ConnectSrc lists extra origins the page's scripts may connect to (the
	// object storage origin for direct uploads).
	ConnectSrc []string
}

// Observer learns what the web tier sees, for metrics. Arguments are step,
// outcome and limit names only.
type Observer interface {
	ResultMissing(step string)
	ResultRead(step, outcome string)
	RateLimited(limit string)
}

type noObserver struct{}

func (noObserver) ResultMissing(string)      {}
func (noObserver) ResultRead(string, string) {}
func (noObserver) RateLimited(string)        {}

// Options are a Server's dependencies.
type Options struct {
	Queue    idv.Queue
	Results  idv.ResultStore
	Sealer   idv.Sealer
	Sessions *scs.SessionManager
	Logger   *slog.Logger
	Config   Config
	Now      func() time.Time
	// Limiter counts attempts (nil: no limits). FingerprintKey keys the
	// HMAC of SSNs for the SSN limit; required with a Limiter.
	Limiter        ratelimit.Limiter
	FingerprintKey []byte
	// Health checks behind /api/health (name → check).
	Health map[string]func(context.Context) error
	// JobsHealth are the checks behind /api/health/jobs: the queue is
	// reachable and workers are alive (nil: answered 503 "not configured").
	JobsHealth map[string]func(context.Context) error
	// Observer, if set, is told of results read, missing and rate limits.
	Observer Observer
	// Metrics, if set, is served at /metrics.
	Metrics http.Handler
	// Outbound checks the route to the vendors through the egress proxy,
	// behind /api/health/outbound (nil: answered 503 "not configured").
	Outbound func(context.Context) error
	// Documents, if set, puts the document capture step at the start of
	// the flow.
	Documents *DocumentOptions
	// Admin, if set, serves the jobs admin UI at AdminPrefix behind its
	// credentials.
	Admin *Admin
}

// Server is the web tier. Create it with New.
type Server struct {
	queue          idv.Queue
	results        idv.ResultStore
	sealer         idv.Sealer
	sessions       *scs.SessionManager
	log            *slog.Logger
	cfg            Config
	now            func() time.Time
	health         map[string]func(context.Context) error
	limiter        ratelimit.Limiter
	fingerprintKey []byte
	docs           *DocumentOptions
	observe        Observer
	pages          map[string]*template.Template
	handler        http.Handler
	draining       chan struct{}
	drainOnce      sync.Once
}

// Drain ends the long polls in flight (they answer "in progress" and the page
// asks again, reaching another server): call it when shutdown starts.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// New builds a Server; sessions must use a SealedCodec.
func New(o Options) (*Server, error) {
	if o.Queue == nil || o.Results == nil || o.Sealer == nil || o.Sessions == nil || o.Logger == nil {
		return nil, fmt.Errorf("web: Queue, Results, Sealer, Sessions and Logger are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Config.WaitRefresh <= 0 {
		o.Config.WaitRefresh = 3 * time.Second
	}
	if o.Config.LongPoll <= 0 {
		o.Config.LongPoll = 20 * time.Second
	}
	if o.Config.FallbackPoll <= 0 {
		o.Config.FallbackPoll = 500 * time.Millisecond
	}
	s := &Server{
		queue: o.Queue, results: o.Results, sealer: o.Sealer, sessions: o.Sessions,
		log: o.Logger, cfg: o.Config, now: o.Now, health: o.Health,
		draining: make(chan struct{}),
		limiter:  o.Limiter, fingerprintKey: o.FingerprintKey,
	}
	s.observe = o.Observer
	if s.observe == nil {
		s.observe = noObserver{}
	}
	if d := o.Documents; d != nil {
		if d.Objects == nil {
			return nil, fmt.Errorf("web: Documents needs an object store")
		}
		dc := *d
		if dc.URLExpiry <= 0 {
			dc.URLExpiry = 12 * time.Hour
		}
		s.docs = &dc
	}
	if o.Admin != nil {
		if err := o.Admin.check(); err != nil {
			return nil, err
		}
	}
	if o.Limiter != nil && len(o.FingerprintKey) < 32 {
		return nil, fmt.Errorf("web: a Limiter needs a FingerprintKey of at least 32 bytes")
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.handler = s.routes(o)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes(o Options) http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.serveStart)
	if s.documentsEnabled() {
		mux.HandleFunc("GET /verify/document_capture", s.showDocument)
		mux.HandleFunc("POST /verify/document_capture", s.submitDocument)
	}
	mux.HandleFunc("GET /verify/verify_info", s.showVerifyInfo)
	mux.HandleFunc("POST /verify/verify_info", s.submitVerifyInfo)
	mux.HandleFunc("GET /verify/phone", s.showPhone)
	mux.HandleFunc("POST /verify/phone", s.submitPhone)
	mux.HandleFunc("GET /verify/errors/{reason}", s.serveStepError)
	mux.HandleFunc("GET /verify/result", s.serveResult)
	mux.HandleFunc("POST /verify/start_over", s.startOver)

	// Operations endpoints and static files need no session: they keep
	// answering (with 503s) when the session store is down.
	api := http.NewServeMux()
	api.HandleFunc("GET /api/health", s.serveChecks(s.health))
	outbound := o.Outbound
	if outbound == nil {
		outbound = func(context.Context) error { return errors.New("no vendor route configured") }
	}
	api.HandleFunc("GET /api/health/outbound", s.serveChecks(map[string]func(context.Context) error{"outbound": outbound}))
	jobsHealth := o.JobsHealth
	if jobsHealth == nil {
		jobsHealth = map[string]func(context.Context) error{"jobs": func(context.Context) error { return errors.New("no job checks configured") }}
	}
	api.HandleFunc("GET /api/health/jobs", s.serveChecks(jobsHealth))

	s.sessions.ErrorFunc = s.sessionError
	root := http.NewServeMux()
	root.Handle("/api/", api)
	if o.Metrics != nil {
		root.Handle("GET /metrics", o.Metrics)
	}
	root.Handle("GET /static/", mux)
	if s.docs != nil && s.docs.Uploads != nil {
		// Signed upload URLs carry their own authorization; no session.
		root.Handle(uploadsPrefix, s.docs.Uploads)
	}
	if o.Admin != nil {
		s.mountAdmin(root, o.Admin)
	}
	root.Handle("/", s.sessions.LoadAndSave(mux))
	// The waiting page's status polls only read the session: they are
	// served without saving it, which scs would otherwise do on every
	// request (to extend the idle timeout) at the cost of a seal and a
	// Redis write per poll. The page itself, a GET through LoadAndSave,
	// keeps the session alive.
	for _, st := range s.flow() {
		root.Handle("GET "+st.Path+"/status", s.readSession(s.serveStatus(st)))
	}

	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusForbidden, "This request came from another site, so we did not act on it. Go back and try again.")
	}))
	var h http.Handler = root
	h = csrf.Handler(h)
	h = s.secureHeaders(h)
	h = s.recoverPanics(h)
	h = s.traceRequests(h)
	return h
}

// secureHeaders sets a strict Content-Security-Policy (no third-party code;
// connections only to us and the storage origin) and related headers.
func (s *Server) secureHeaders(next http.Handler) http.Handler {
	connect := strings.Join(append([]string{"'self'"}, s.cfg.ConnectSrc...), " ")
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
		"connect-src " + connect + "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic into a plain 500 page. The panic value is not
// logged (it could hold PII); its type and the stack are.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path,
					"panic_type", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
				s.renderError(w, r, http.StatusInternalServerError, "Something went wrong on our side. Please try again.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type traceKey struct{}

func traceID(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

// traceRequests gives each request a trace id (sent back as X-Request-Id and
// carried into jobs) and logs one line per request: no query, no form.
func (s *Server) traceRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), traceKey{}, id)
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(sw, r.WithContext(ctx))
		if strings.HasPrefix(r.URL.Path, "/static/") {
			return
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", sw.code),
			slog.Int64("duration_us", time.Since(start).Microseconds()), slog.String("trace_id", id))
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int)        { w.code = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// fail maps an error to a page by its code, once, here at the edge. Error
// texts are PII-free by contract, so they can be logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := http.StatusInternalServerError, "Something went wrong on our side. Please try again."
	switch idv.ErrorCode(err) {
	case idv.EUNAVAILABLE:
		code, msg = http.StatusServiceUnavailable, "We can't reach one of our systems right now. Your information is safe. Please try again in a few minutes."
	case idv.EINVALID:
		code, msg = http.StatusBadRequest, idv.ErrorMessage(err)
	case idv.ENOTFOUND:
		code, msg = http.StatusNotFound, "We couldn't find that page."
	case idv.ERATELIMITED:
		code, msg = http.StatusTooManyRequests, "You've tried too many times. Please wait and try again later."
	}
	s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "status", code, "error", err.Error())
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "30")
	}
	s.renderError(w, r, code, msg)
}

// readSession loads the person's session for next without ever saving it.
func (s *Server) readSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var token string
		if c, err := r.Cookie(s.sessions.Cookie.Name); err == nil {
			token = c.Value
		}
		ctx, err := s.sessions.Load(r.Context(), token)
		if err != nil {
			if idv.ErrorCode(err) == idv.ETAMPERED {
				writeJSON(w, http.StatusOK, map[string]string{"status": string(idv.StatusNone)})
				return
			}
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// sessionError handles a session that cannot be loaded or saved: a blob that
// does not open starts a new session; a store outage is a 503.
func (s *Server) sessionError(w http.ResponseWriter, r *http.Request, err error) {
	if idv.ErrorCode(err) == idv.ETAMPERED {
		s.log.WarnContext(r.Context(), "session does not open; starting a new one", "error", err.Error())
		http.SetCookie(w, &http.Cookie{Name: s.sessions.Cookie.Name, Value: "", Path: "/", MaxAge: -1})
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.fail(w, r, idv.WrapError(idv.EUNAVAILABLE, "session store unavailable", err))
}

// serveChecks answers 200 when every check passes, else 503 naming the
// failing checks (their errors go to the log, not the answer).
func (s *Server) serveChecks(checks map[string]func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.runChecks(w, r, checks) }
}

func (s *Server) runChecks(w http.ResponseWriter, r *http.Request, checks map[string]func(context.Context) error) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	out := map[string]string{}
	code := http.StatusOK
	for name, check := range checks {
		if err := check(ctx); err != nil {
			out[name] = "unavailable"
			code = http.StatusServiceUnavailable
			s.log.WarnContext(ctx, "health check failed", "check", name, "error", err.Error())
		} else {
			out[name] = "ok"
		}
	}
	status := "ok"
	if code != http.StatusOK {
		status = "unavailable"
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": out})
}
