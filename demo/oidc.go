package demo

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// The other door: "Sign in with idv" is OpenID Connect, with the ordinary
// client libraries (coreos/go-oidc and golang.org/x/oauth2), as a service
// that already speaks OIDC would add idv: the authorization code flow with
// PKCE, the code exchanged with the API key as client secret
// (client_secret_basic), the ID token checked against idv's JWKS, and
// verified_claims read from it. The page shows which claims arrived, not
// their values.

// Paths of the OpenID Connect sign-in, under Prefix.
const (
	OIDCCallbackPath = Prefix + "/oidc/callback"
	oidcStartPath    = Prefix + "/oidc/start"
	oidcCookie       = "idv_demo_oidc"
)

// oidcClaims asks for verified_claims in the ID token: the name only.
const oidcClaims = `{"id_token":{"verified_claims":{"verification":{"trust_framework":null,"evidence":null},"claims":{"given_name":null,"family_name":null}}}}`

// oidcClient is the demo's OpenID Connect client, discovered on first use
// (idv is not listening yet when the demo is built).
type oidcClient struct {
	a        *App
	mu       sync.Mutex
	provider *oidc.Provider
}

func (c *oidcClient) config(ctx context.Context) (*oidc.Provider, oauth2.Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.a.o
	if c.provider == nil {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.Client), o.Issuer)
		if err != nil {
			return nil, oauth2.Config{}, err
		}
		c.provider = p
	}
	ep := c.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	return c.provider, oauth2.Config{ClientID: o.RelyingPartyID, ClientSecret: o.APIKey, Endpoint: ep,
		RedirectURL: o.API + OIDCCallbackPath, Scopes: []string{oidc.ScopeOpenID}}, nil
}

// serveOIDCStart sends the person to idv's authorization endpoint with a
// fresh state, nonce and PKCE verifier, kept in a cookie of the demo's.
func (a *App) serveOIDCStart(w http.ResponseWriter, r *http.Request) {
	user := a.user(w, r)
	_, conf, err := a.oidc.config(r.Context())
	if err != nil {
		a.o.Logger.Warn("demo: OIDC discovery", "error", err)
		a.render(w, http.StatusBadGateway, "index.html", page{Title: "Demo service", Data: indexData{
			IdempotencyKey: "demo-" + randomHex(16), User: user, Problem: "OpenID Connect discovery failed: " + err.Error()}})
		return
	}
	state, nonce, verifier := randomHex(16), randomHex(16), oauth2.GenerateVerifier()
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: state + "." + nonce + "." + verifier, Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(time.Hour.Seconds())})
	http.Redirect(w, r, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce),
		oauth2.SetAuthURLParam("login_hint", user), oauth2.SetAuthURLParam("claims", oidcClaims)), http.StatusSeeOther)
}

// oidcData is the OpenID Connect result page.
type oidcData struct {
	Problem string
	// Error is the error idv returned to the redirect URI.
	Error, ErrorDescription string
	Subject, KeyID          string
	TrustFramework, Time    string
	Evidence                []string
	Claims                  []string // names only: the demo shows no PII
}

// serveOIDCCallback is the redirect URI: the code exchanged, the ID token
// verified, verified_claims read.
func (a *App) serveOIDCCallback(w http.ResponseWriter, r *http.Request) {
	d := a.oidcCallback(r)
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: Prefix, MaxAge: -1})
	status := http.StatusOK
	if d.Problem != "" {
		status = http.StatusBadRequest
	}
	a.render(w, status, "oidc.html", page{Title: "Signed in with OpenID Connect", Data: d})
}

func (a *App) oidcCallback(r *http.Request) oidcData {
	ctx := oidc.ClientContext(r.Context(), a.o.Client)
	c, err := r.Cookie(oidcCookie)
	parts := []string{}
	if err == nil {
		parts = strings.Split(c.Value, ".")
	}
	q := r.URL.Query()
	if len(parts) != 3 || q.Get("state") != parts[0] {
		return oidcData{Problem: "the state does not match the sign-in this browser started"}
	}
	if e := q.Get("error"); e != "" {
		return oidcData{Error: e, ErrorDescription: q.Get("error_description")}
	}
	provider, conf, err := a.oidc.config(ctx)
	if err != nil {
		return oidcData{Problem: err.Error()}
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(parts[2]))
	if err != nil {
		return oidcData{Problem: "code exchange: " + err.Error()}
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := provider.Verifier(&oidc.Config{ClientID: conf.ClientID}).Verify(ctx, raw)
	if err != nil {
		return oidcData{Problem: "ID token: " + err.Error()}
	}
	if id.Nonce != parts[1] {
		return oidcData{Problem: "ID token: the nonce does not match"}
	}
	var claims struct {
		VerifiedClaims *struct {
			Verification struct {
				TrustFramework string `json:"trust_framework"`
				Time           string `json:"time"`
				Evidence       []struct {
					Type   string `json:"type"`
					Record *struct {
						Type string `json:"type"`
					} `json:"record"`
				} `json:"evidence"`
			} `json:"verification"`
			Claims map[string]json.RawMessage `json:"claims"`
		} `json:"verified_claims"`
	}
	if err := id.Claims(&claims); err != nil || claims.VerifiedClaims == nil {
		return oidcData{Problem: "the ID token has no verified_claims"}
	}
	vc := claims.VerifiedClaims
	d := oidcData{Subject: id.Subject, KeyID: keyID(raw), TrustFramework: vc.Verification.TrustFramework, Time: vc.Verification.Time}
	for _, e := range vc.Verification.Evidence {
		if e.Record != nil {
			d.Evidence = append(d.Evidence, e.Type+" ("+e.Record.Type+")")
		} else {
			d.Evidence = append(d.Evidence, e.Type)
		}
	}
	for k := range vc.Claims {
		d.Claims = append(d.Claims, k)
	}
	slices.Sort(d.Claims)
	return d
}

// keyID is the kid of a verified compact JWS's header.
func keyID(jws string) string {
	sig, err := jose.ParseSignedCompact(jws, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(sig.Signatures) == 0 {
		return ""
	}
	return sig.Signatures[0].Header.KeyID
}
