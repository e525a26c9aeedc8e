// Package api is the relying parties' REST API (DESIGN.md section 10): a
// relying party creates a verification, sends the person to its single-use
// link, and reads the outcome, with its signed receipt once final.
//
// The contract is openapi.yaml in this folder, served at /v1/openapi.yaml;
// the handlers are written against it on the standard library's ServeMux,
// and the tests validate every response they get against it. Errors are
// RFC 9457 problems with stable codes (problem.go), mapped once at the edge
// from the domain's coded errors.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/ratelimit"
)

// Spec is the OpenAPI document of this API.
//
//go:embed openapi.yaml
var Spec []byte

// Store keeps verifications and the person's links (*queue.Queue).
type Store interface {
	CreateVerificationWithLink(ctx context.Context, n queue.NewVerification, l queue.NewLink) (idv.Verification, bool, time.Time, error)
	VerificationByIdempotencyKey(ctx context.Context, rpID, key string) (idv.Verification, string, error)
	Verification(ctx context.Context, id string) (idv.Verification, error)
	ListVerifications(ctx context.Context, rpID string, f queue.ListFilter) ([]idv.Verification, string, error)
	CreateLink(ctx context.Context, verificationID, tokenHash string, now, expiresAt time.Time) (time.Time, error)
	CancelVerification(ctx context.Context, id string, now time.Time) (idv.Verification, []string, error)
	RedactVerification(ctx context.Context, id string, now time.Time) (idv.Verification, []string, error)
}

// ReceiptSigner signs the receipt of a final verification: a compact JWS
// with no PII that the relying party checks offline.
type ReceiptSigner interface {
	Receipt(ctx context.Context, v idv.Verification) (string, error)
}

// Defaults of Options.
const (
	DefaultLinkLifetime         = time.Hour
	DefaultVerificationLifetime = 24 * time.Hour
	// MaxBodyBytes bounds a request body; a create is far smaller.
	MaxBodyBytes = 16 << 10
)

// Options configures the API. The stores, the sealer, the object store, the
// receipt signer, the limiter and PublicURL are required.
type Options struct {
	Verifications  Store
	RelyingParties idv.RelyingPartyStore
	// Sealer seals each verification's metadata under idv.MetadataAAD.
	Sealer idv.Sealer
	// Objects holds the document images that cancel and redact delete
	// (nil: the document step is off).
	Objects  idv.ObjectStore
	Receipts ReceiptSigner
	Limiter  ratelimit.Limiter
	// PublicURL is the origin people reach idv at: links are
	// PublicURL + "/start/" + token.
	PublicURL string
	// LinkLifetime bounds a link (DefaultLinkLifetime when 0); a link never
	// outlives its verification.
	LinkLifetime time.Duration
	// VerificationLifetime is how long a verification may stay unfinished
	// (DefaultVerificationLifetime when 0).
	VerificationLifetime time.Duration
	// Steps are the steps this deployment offers (nil: all); a create
	// that names none gets these.
	Steps []idv.StepName
	// MaxAttempts per step; missing steps take the Max of the matching
	// per-person limit (ratelimit.IDVDocAuth, IDVResolution, ProofAddress),
	// so the two counts agree.
	MaxAttempts map[idv.StepName]int
	// RequestLimit bounds each relying party's requests per Window
	// (ratelimit.APIRequests when zero).
	RequestLimit ratelimit.Limit
	// ReferenceLimit bounds the verifications created per end user
	// (client_reference_id) of a relying party
	// (ratelimit.VerificationsPerReference when zero).
	ReferenceLimit ratelimit.Limit
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger gets one line per request (slog.Default when nil).
	Logger *slog.Logger
}

// Handler serves the API. Make it with New.
type Handler struct {
	o   Options
	mux *http.ServeMux
	log *slog.Logger
}

// New checks o and returns the API's handler. Its routes start with /v1/.
func New(o Options) (*Handler, error) {
	switch {
	case o.Verifications == nil || o.RelyingParties == nil:
		return nil, idv.Errorf(idv.EINVALID, "api: the verification and relying-party stores are required")
	case o.Sealer == nil || o.Receipts == nil || o.Limiter == nil:
		return nil, idv.Errorf(idv.EINVALID, "api: a sealer, a receipt signer and a limiter are required")
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, idv.Errorf(idv.EINVALID, "api: PublicURL must be an absolute http(s) URL such as https://idv.example")
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	if o.LinkLifetime <= 0 {
		o.LinkLifetime = DefaultLinkLifetime
	}
	if o.VerificationLifetime <= 0 {
		o.VerificationLifetime = DefaultVerificationLifetime
	}
	attempts := map[idv.StepName]int{
		idv.StepDocument: ratelimit.IDVDocAuth.Max,
		idv.StepIdentity: ratelimit.IDVResolution.Max,
		idv.StepPhone:    ratelimit.ProofAddress.Max,
	}
	for s, n := range o.MaxAttempts {
		if n < 1 {
			return nil, idv.Errorf(idv.EINVALID, "api: MaxAttempts[%s] must be at least 1", s)
		}
		attempts[s] = n
	}
	o.MaxAttempts = attempts
	if o.Steps == nil {
		o.Steps = idv.StepNames
	}
	if o.RequestLimit == (ratelimit.Limit{}) {
		o.RequestLimit = ratelimit.APIRequests
	}
	if o.ReferenceLimit == (ratelimit.Limit{}) {
		o.ReferenceLimit = ratelimit.VerificationsPerReference
	}
	for _, l := range []ratelimit.Limit{o.RequestLimit, o.ReferenceLimit} {
		if err := ratelimit.Check(l, "x"); err != nil {
			return nil, err
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handler{o: o, mux: http.NewServeMux(), log: o.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.mux.HandleFunc("GET /v1/openapi.yaml", serveSpec)
	h.handle("POST /v1/verifications", h.create)
	h.handle("GET /v1/verifications", h.list)
	h.handle("GET /v1/verifications/{id}", h.get)
	h.handle("POST /v1/verifications/{id}/link", h.link)
	h.handle("POST /v1/verifications/{id}/cancel", h.cancel)
	h.handle("POST /v1/verifications/{id}/redact", h.redact)
	return h, nil
}

func serveSpec(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(Spec)
}

// handlerFunc is an authenticated request of a relying party. A returned
// error becomes the problem answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request, rp idv.RelyingParty) error

// handle registers fn behind authentication and the per-RP request limit.
func (h *Handler) handle(pattern string, fn handlerFunc) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		err := func() error {
			rp, err := h.authenticate(r)
			if err != nil {
				return err
			}
			infoOf(r.Context()).rpID = rp.ID
			if err := h.allowRequest(r.Context(), rp); err != nil {
				return err
			}
			return fn(w, r, rp)
		}()
		if err != nil {
			h.fail(w, r, err)
		}
	})
}

// ServeHTTP implements http.Handler: routes the request, answers unknown
// routes and methods with problems, and logs one line.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	sw := &statusWriter{ResponseWriter: w}
	if mh, pattern := h.mux.Handler(r); pattern == "" {
		unrouted(sw, r, mh)
	} else {
		h.mux.ServeHTTP(sw, r)
	}
	h.logRequest(r, info, sw.status(), time.Since(start))
}

// unrouted answers a path the API does not have (404) or a method the path
// does not take (405, with Allow), as problems.
// mh is the mux's own answer, which is plain text.
func unrouted(w http.ResponseWriter, r *http.Request, mh http.Handler) {
	probe := &headerProbe{header: http.Header{}}
	mh.ServeHTTP(probe, r)
	if probe.code == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeProblem(w, &Problem{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Detail: r.Method + " is not allowed here"})
		return
	}
	writeProblem(w, &Problem{Status: http.StatusNotFound, Code: CodeNotFound, Detail: "no such API route"})
}

// headerProbe records what the mux's own not-found or not-allowed handler
// would answer, without its plain-text body.
type headerProbe struct {
	header http.Header
	code   int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.code = code }
