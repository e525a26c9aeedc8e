// Package web serves idv's pages: the start page, each proofing step with
// its enqueue-then-poll contract, the waiting page and its status endpoint,
// outcome pages and operations endpoints.
//
// Where things are: server.go (options, New, routes), flow.go (the steps in
// order, start and start over), engine.go (the step machine every step
// runs), step_document.go, step_verify_info.go and step_phone.go (what each
// step adds), attempts.go (where a step's attempts and passes are kept),
// limits.go, status.go (the waiting page's long poll), outcomes.go (outcome
// and result pages), session.go, render.go, and the request plumbing in
// headers.go, trace.go, errors.go and health.go.
package web

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
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
	// MaxLongPolls caps the status long polls held open at once by this
	// Server (0: 5,000); see longPolls.
	MaxLongPolls int
	// ConnectSrc lists extra origins the page's scripts may connect to (the
	// object storage origin for direct uploads).
	ConnectSrc []string
	// HelpURL and HelpText are where a person gets help (web.help_url,
	// web.help_text), on the pages where a step cannot go on.
	HelpURL  string
	HelpText string
}

// Options are a Server's dependencies.
type Options struct {
	// Verifications is the store of the verifications a person's session
	// is bound to (required): every step reads and writes through it.
	Verifications Verifications
	// SelfServe, if set, lets a person start a verification without a
	// relying party's link (`idv dev`): it creates one and returns its id.
	// Production leaves it nil: flows start at a relying party.
	SelfServe func(ctx context.Context) (string, error)
	// Mounts are handlers served beside the pages without a session
	// (pattern → handler): the relying parties' API, the JWKS, the demo.
	Mounts   map[string]http.Handler
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
	// Observer, if set, is told of results read (ResultRead), missing
	// (ResultMissing) and rate limits (RateLimited).
	Observer idv.Observer
	// Metrics, if set, is served at /metrics by the operations handler
	// (Ops).
	Metrics http.Handler
	// OpsOnPublic serves the operations routes (/metrics, /api/health/jobs,
	// /api/health/outbound) on the public handler too, as `idv dev` does on
	// its one loopback port. Production leaves it off: they are served by
	// Ops, on a private listener.
	OpsOnPublic bool
	// Outbound checks the route to the vendors through the egress proxy,
	// behind /api/health/outbound (nil: answered 503 "not configured").
	Outbound func(context.Context) error
	// Documents, if set, puts the document capture step at the start of
	// the flow.
	Documents *DocumentOptions
	// Admin, if set, serves the jobs admin UI at AdminPrefix behind its
	// credentials.
	Admin *Admin
	// OIDC, if set, is the OpenID Provider whose authorization requests
	// send people through the pages (oidc.go).
	OIDC OIDC
}

// Server is the web tier. Create it with New.
type Server struct {
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
	verifications  Verifications
	selfServeStart func(context.Context) (string, error)
	oidc           OIDC
	attempts       attempts
	flow           []*step
	observe        idv.Observer
	pages          map[string]*template.Template
	handler        http.Handler
	ops            http.Handler
	polls          *longPolls
	draining       chan struct{}
	drainOnce      sync.Once
}

// Drain ends the long polls in flight (they answer "in progress" and the page
// asks again, reaching another server): call it when shutdown starts.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// New builds a Server; sessions must use a SealedCodec.
func New(o Options) (*Server, error) {
	if o.Verifications == nil || o.Results == nil || o.Sealer == nil || o.Sessions == nil || o.Logger == nil {
		return nil, fmt.Errorf("web: Verifications, Results, Sealer, Sessions and Logger are required")
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
	if o.Config.MaxLongPolls <= 0 {
		o.Config.MaxLongPolls = 5000
	}
	s := &Server{
		results: o.Results, sealer: o.Sealer, sessions: o.Sessions,
		log: o.Logger, cfg: o.Config, now: o.Now, health: o.Health,
		draining: make(chan struct{}),
		polls:    newLongPolls(o.Config.MaxLongPolls, longPollsPerSession),
		limiter:  o.Limiter, fingerprintKey: o.FingerprintKey,
		verifications: o.Verifications, selfServeStart: o.SelfServe, oidc: o.OIDC,
		observe: cmp.Or[idv.Observer](o.Observer, idv.NopObserver{}),
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
	s.attempts = verificationAttempts{s}
	s.flow = s.newFlow()
	s.handler = s.routes(o)
	return s, nil
}

// Ops is the operations handler: /metrics and the health endpoints, for a
// private listener (web.ops_addr).
func (s *Server) Ops() http.Handler { return s.ops }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes(o Options) http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(filesOnly{static})))
	mux.HandleFunc("GET /{$}", s.serveStart)
	mux.HandleFunc("GET /start/{token}", s.serveLink)
	if s.selfServeStart != nil {
		mux.HandleFunc("POST /start", s.limitBody(maxFormBytes, s.selfServe))
	}
	for _, st := range s.flow {
		mux.HandleFunc("GET "+st.Path, s.requireStep(st, s.show(st)))
		mux.HandleFunc("POST "+st.Path, s.limitBody(s.stepBodyLimit(st), s.requireStep(st, s.submit(st))))
	}
	mux.HandleFunc("GET /verify/errors/{reason}", s.requireVerification(true, s.serveStepError))
	mux.HandleFunc("GET "+resultPath, s.requireVerification(true, s.serveResult))
	mux.HandleFunc("POST /verify/start_over", s.limitBody(maxFormBytes, s.startOver))
	if s.oidc != nil {
		mux.HandleFunc("GET "+OIDCLoginPath, s.serveOIDCLogin)
		mux.HandleFunc("GET "+OIDCContinuePath, s.requireVerification(true, s.serveOIDCContinue))
	}

	// Health endpoints and static files need no session: they keep
	// answering (with 503s) when the session store is down. The public
	// port keeps /api/health, the load balancer's readiness check (its
	// stores answer, nothing more); metrics, the jobs check and the vendor
	// route (which calls out) are for operators, on the ops handler.
	ops := http.NewServeMux()
	ops.HandleFunc("GET /api/health", s.serveChecks(s.health))
	outbound := o.Outbound
	if outbound == nil {
		outbound = func(context.Context) error { return errors.New("no vendor route configured") }
	}
	ops.HandleFunc("GET /api/health/outbound", s.serveChecks(map[string]func(context.Context) error{"outbound": outbound}))
	jobsHealth := o.JobsHealth
	if jobsHealth == nil {
		jobsHealth = map[string]func(context.Context) error{"jobs": func(context.Context) error { return errors.New("no job checks configured") }}
	}
	ops.HandleFunc("GET /api/health/jobs", s.serveChecks(jobsHealth))
	if o.Metrics != nil {
		ops.Handle("GET /metrics", o.Metrics)
	}
	s.ops = s.traceRequests(s.recoverPanics(ops))

	s.sessions.ErrorFunc = s.sessionError
	root := http.NewServeMux()
	if o.OpsOnPublic {
		root.Handle("/api/", ops)
		root.Handle("GET /metrics", ops)
	} else {
		public := http.NewServeMux()
		public.HandleFunc("GET /api/health", s.serveChecks(s.health))
		root.Handle("/api/", public)
	}
	for pattern, h := range o.Mounts {
		root.Handle(pattern, h)
	}
	root.Handle("GET /static/", mux)
	if s.docs != nil && s.docs.Uploads != nil {
		// Signed upload URLs carry their own authorization; no session.
		root.Handle(uploadsPrefix, s.docs.Uploads)
	}
	if o.Admin != nil {
		s.mountAdmin(root, o.Admin)
	}
	root.Handle("/", s.sessions.LoadAndSave(s.styledMisses(mux)))
	// The waiting page's status polls only read the session: they are
	// served without saving it, which scs would otherwise do on every
	// request (to extend the idle timeout) at the cost of a seal and a
	// Redis write per poll. The page itself, a GET through LoadAndSave,
	// keeps the session alive.
	for _, st := range s.flow {
		root.Handle("GET "+st.Path+"/status", s.readSession(s.serveStatus(st)))
	}

	var h http.Handler = root
	h = s.crossOrigin(h)
	h = s.secureHeaders(h)
	h = s.recoverPanics(h)
	h = s.traceRequests(h)
	return h
}
