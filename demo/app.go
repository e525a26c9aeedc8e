// Package demo is a small relying party served by `idv dev` at /demo, so a
// newcomer sees the whole story in one process: the demo asks idv's REST
// API (over real HTTP, with its API key) to verify someone, sends the
// person to the returned link, receives the signed webhook events at its
// own endpoint, and on the way back fetches the verification and checks its
// receipt against the published keys, as any relying party would.
//
// It shows no PII: it reads ids, statuses and step counts only, never the
// outputs the API may return.
//
// Where things are: app.go (options, routes, the start page and the
// button), api.go (the calls to idv's API), webhooks.go (the webhook
// endpoint and the events it received), receipt.go (the receipt check)
// returned.go (the return page) and oidc.go (the same verification
// through OpenID Connect: "Sign in with idv").
package demo

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Paths of the demo, under Prefix.
const (
	Prefix       = "/demo"
	WebhookPath  = Prefix + "/webhooks"
	ReturnPath   = Prefix + "/return"
	verifyPath   = Prefix + "/verify"
	userCookie   = "idv_demo_user"
	userCookieMx = 30 * 24 * time.Hour
)

//go:embed templates/*.html
var templateFS embed.FS

// Options configure the demo relying party.
type Options struct {
	// API is idv's base URL as the demo reaches it (http://host:port).
	API string
	// Issuer is the iss of idv's receipts (verifications.public_url).
	Issuer string
	// RelyingPartyID is the demo's id at idv: the aud of its receipts.
	RelyingPartyID string
	// APIKey is the demo's API key (a Bearer token).
	APIKey string
	// WebhookSecret is the demo's Standard Webhooks secret ("whsec_…").
	WebhookSecret string
	// Steps the demo asks for; nil lets the API choose (every step).
	Steps []string
	// Client makes the calls to idv; nil is a client with a 15 s timeout.
	Client *http.Client
	Logger *slog.Logger
}

// App is the demo relying party, an http.Handler for Prefix and below.
type App struct {
	o        Options
	api      *apiClient
	hook     *standardwebhooks.Webhook
	events   *eventLog
	receipts *receiptChecker
	oidc     *oidcClient
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

// New builds the demo.
func New(o Options) (*App, error) {
	if o.API == "" || o.Issuer == "" || o.RelyingPartyID == "" || o.APIKey == "" || o.WebhookSecret == "" || o.Logger == nil {
		return nil, fmt.Errorf("demo: API, Issuer, RelyingPartyID, APIKey, WebhookSecret and Logger are required")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 15 * time.Second}
	}
	o.API = strings.TrimRight(o.API, "/")
	hook, err := standardwebhooks.NewWebhook(o.WebhookSecret)
	if err != nil {
		return nil, fmt.Errorf("demo: webhook secret: %w", err)
	}
	a := &App{o: o, hook: hook, events: newEventLog(maxEvents),
		api:      &apiClient{base: o.API, key: o.APIKey, client: o.Client},
		receipts: newReceiptChecker(o.Client, o.API+"/.well-known/jwks.json", o.Issuer, o.RelyingPartyID),
		pages:    map[string]*template.Template{},
	}
	a.oidc = &oidcClient{a: a}
	for _, page := range []string{"index.html", "return.html", "oidc.html"} {
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/"+page)
		if err != nil {
			return nil, err
		}
		a.pages[page] = t
	}
	a.mux = http.NewServeMux()
	a.mux.HandleFunc("GET "+Prefix, a.serveIndex)
	a.mux.HandleFunc("GET "+Prefix+"/{$}", a.serveIndex)
	a.mux.HandleFunc("POST "+verifyPath, a.serveVerify)
	a.mux.HandleFunc("POST "+WebhookPath, a.serveWebhook)
	a.mux.HandleFunc("GET "+ReturnPath, a.serveReturn)
	a.mux.HandleFunc("POST "+oidcStartPath, a.serveOIDCStart)
	a.mux.HandleFunc("GET "+OIDCCallbackPath, a.serveOIDCCallback)
	return a, nil
}

// Mounts are the patterns to serve the demo at (web.Options.Mounts).
func (a *App) Mounts() map[string]http.Handler {
	return map[string]http.Handler{Prefix: a, Prefix + "/": a}
}

// ServeHTTP implements http.Handler.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// page is what every demo page's layout reads.
type page struct {
	Title   string
	Refresh int // seconds; 0: none
	Data    any
}

func (a *App) render(w http.ResponseWriter, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := a.pages[name].Execute(w, p); err != nil {
		a.o.Logger.Error("demo page", "page", name, "error", err)
	}
}

// indexData is the start page: the button, with the Idempotency-Key this
// page's clicks share (a double click makes one verification).
type indexData struct {
	IdempotencyKey string
	User           string
	Problem        string
}

func (a *App) serveIndex(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, "index.html", page{Title: "Demo service", Data: indexData{
		IdempotencyKey: "demo-" + randomHex(16), User: a.user(w, r)}})
}

// serveVerify creates a verification for the demo user and sends the
// person to its link.
func (a *App) serveVerify(w http.ResponseWriter, r *http.Request) {
	user := a.user(w, r)
	key := r.PostFormValue("idempotency_key")
	if !strings.HasPrefix(key, "demo-") || len(key) > 64 {
		key = "demo-" + randomHex(16)
	}
	v, err := a.api.create(r.Context(), key, createRequest{ClientReferenceID: user, Steps: a.o.Steps,
		Metadata: map[string]string{"source": "idv dev demo"}})
	if err != nil {
		a.o.Logger.Warn("demo: create verification", "error", err)
		a.render(w, http.StatusBadGateway, "index.html", page{Title: "Demo service", Data: indexData{
			IdempotencyKey: "demo-" + randomHex(16), User: user, Problem: err.Error()}})
		return
	}
	if u, err := url.Parse(v.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		a.render(w, http.StatusBadGateway, "index.html", page{Title: "Demo service", Data: indexData{
			IdempotencyKey: "demo-" + randomHex(16), User: user, Problem: "idv answered without a usable link"}})
		return
	}
	http.Redirect(w, r, v.URL, http.StatusSeeOther)
}

// user is the demo's end user, an opaque id kept in a cookie: what a real
// service would send as client_reference_id (its own user id, never an
// e-mail address or a name).
func (a *App) user(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(userCookie); err == nil && validUser(c.Value) {
		return c.Value
	}
	id := "demo-user-" + randomHex(6)
	http.SetCookie(w, &http.Cookie{Name: userCookie, Value: id, Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(userCookieMx.Seconds())})
	return id
}

func validUser(s string) bool {
	rest, ok := strings.CutPrefix(s, "demo-user-")
	_, err := hex.DecodeString(rest)
	return ok && len(rest) == 12 && err == nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
