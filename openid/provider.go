// Package openid is idv as an OpenID Provider (DESIGN.md section 11): a
// relying party sends the person to /oidc/authorize (authorization code
// flow, PKCE S256 required), the person goes through a verification for
// that relying party on the ordinary pages, and "Continue" on the last page
// returns them with a code; the relying party exchanges it for an ID token
// and an access token, and reads OpenID Connect for Identity Assurance 1.0
// verified_claims from either.
//
// The protocol is github.com/zitadel/oidc's op package; this package is its
// storage (storage.go: the relying parties as clients, requests, codes and
// tokens in the database, sealed), the claims (claims.go) and the two
// handlers the person's pages call (Begin and Finish).
package openid

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/api"
	"github.com/idv-dev/idv/queue"
)

// Paths of the provider. The JWKS is the receipts' (receipt.JWKSPath).
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	AuthorizePath = "/oidc/authorize"
	TokenPath     = "/oidc/token"
	UserinfoPath  = "/oidc/userinfo"
	// LoginPath is where an authorization request sends the person: the
	// pages start or resume the request's verification there.
	LoginPath = "/oidc/login"
	// ContinuePath is where the last page's "Continue" leads for a
	// verification started by an authorization request.
	ContinuePath = "/oidc/continue"
)

// Store is what the provider keeps in the database (*queue.Queue).
type Store interface {
	RelyingParty(ctx context.Context, id string) (idv.RelyingParty, error)
	Verification(ctx context.Context, id string) (idv.Verification, error)
	CreateOIDCRequest(ctx context.Context, o queue.OIDCRequest) error
	OIDCRequest(ctx context.Context, id string) (queue.OIDCRequest, error)
	BindOIDCRequest(ctx context.Context, id, verificationID string) error
	FinishOIDCRequest(ctx context.Context, id string, now time.Time) error
	SaveOIDCCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error
	OIDCRequestByCode(ctx context.Context, codeHash string, now time.Time) (queue.OIDCRequest, error)
	IssueOIDCToken(ctx context.Context, t queue.OIDCToken) error
	OIDCToken(ctx context.Context, id string) (queue.OIDCToken, error)
	RevokeOIDCToken(ctx context.Context, id, clientID string, now time.Time) error
}

// Creator creates verifications the way the REST API does (*api.Handler).
type Creator interface {
	CreateVerification(ctx context.Context, rp idv.RelyingParty, in api.CreateInput) (idv.Verification, error)
}

// Keys are the receipts' signing keys (*receipt.Signer): ID tokens are
// signed with the current one and the one JWKS publishes them all.
type Keys interface {
	CurrentKey(ctx context.Context) (string, *ecdsa.PrivateKey, error)
	JWKS(ctx context.Context) (jose.JSONWebKeySet, error)
}

// Defaults of Options.
const (
	DefaultTrustFramework = "nist_800_63A"
	DefaultCodeLifetime   = time.Minute
	DefaultTokenLifetime  = 10 * time.Minute
	DefaultIDTokenLife    = 10 * time.Minute
)

// Options configure the provider. Issuer, Store, Creator, Sealer and Keys
// are required.
type Options struct {
	// Issuer is idv's public URL (verifications.public_url): the iss of
	// ID tokens and the base of every endpoint.
	Issuer  string
	Store   Store
	Creator Creator
	// Sealer seals the stored requests and makes the opaque access
	// tokens and codes (so every web process can read what another made).
	Sealer idv.Sealer
	Keys   Keys
	// TrustFramework is verified_claims.verification.trust_framework
	// (DefaultTrustFramework when empty).
	TrustFramework string
	// RequestLifetime bounds an authorization request: the person's
	// verification must end within it (the verifications' lifetime).
	RequestLifetime time.Duration
	CodeLifetime    time.Duration
	TokenLifetime   time.Duration
	Logger          *slog.Logger
	Now             func() time.Time
}

// Provider is the OpenID Provider. Make it with New.
type Provider struct {
	o   Options
	op  *op.Provider
	log *slog.Logger
}

// New checks o and builds the provider.
func New(o Options) (*Provider, error) {
	if o.Store == nil || o.Creator == nil || o.Sealer == nil || o.Keys == nil {
		return nil, idv.Errorf(idv.EINVALID, "openid: a store, a creator, a sealer and keys are required")
	}
	u, err := url.Parse(o.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, idv.Errorf(idv.EINVALID, "openid: the issuer must be an absolute http(s) URL")
	}
	o.Issuer = strings.TrimRight(o.Issuer, "/")
	o.TrustFramework = cmp.Or(o.TrustFramework, DefaultTrustFramework)
	o.RequestLifetime = cmp.Or(o.RequestLifetime, api.DefaultVerificationLifetime)
	o.CodeLifetime = cmp.Or(o.CodeLifetime, DefaultCodeLifetime)
	o.TokenLifetime = cmp.Or(o.TokenLifetime, DefaultTokenLifetime)
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &Provider{o: o, log: cmp.Or(o.Logger, slog.Default())}
	cfg := &op.Config{
		CodeMethodS256:          true,
		AuthMethodPrivateKeyJWT: true,
		SupportedClaims:         SupportedClaims,
		SupportedScopes:         []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeAddress, oidc.ScopePhone},
	}
	opts := []op.Option{
		op.WithCrypto(sealedCrypto{p}),
		op.WithCustomAuthEndpoint(op.NewEndpoint(AuthorizePath)),
		op.WithCustomTokenEndpoint(op.NewEndpoint(TokenPath)),
		op.WithCustomUserinfoEndpoint(op.NewEndpoint(UserinfoPath)),
		op.WithCustomKeysEndpoint(op.NewEndpoint("/.well-known/jwks.json")),
		op.WithLogger(p.log),
	}
	if u.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	if p.op, err = op.NewProvider(cfg, storage{p}, op.StaticIssuer(o.Issuer), opts...); err != nil {
		return nil, err
	}
	return p, nil
}

// Mounts are the provider's public routes, for the web tier: discovery,
// authorize, token and userinfo. The JWKS is served with the receipts'.
func (p *Provider) Mounts() map[string]http.Handler {
	return map[string]http.Handler{
		"GET " + DiscoveryPath: p.discovery(),
		AuthorizePath:          p.authorize(),
		"POST " + TokenPath:    p.token(),
		UserinfoPath:           p.op,
	}
}

// discovery is the op package's discovery document, narrowed to what idv
// offers (the code flow only, no client without authentication, no other
// grants) and with OpenID Connect for Identity Assurance 1.0's metadata.
func (p *Provider) discovery() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		p.op.ServeHTTP(rec, r)
		var doc map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &doc) != nil {
			http.Error(w, "discovery unavailable", http.StatusServiceUnavailable)
			return
		}
		doc["response_types_supported"] = []string{"code"}
		doc["response_modes_supported"] = []string{"query"}
		doc["grant_types_supported"] = []string{"authorization_code"}
		doc["token_endpoint_auth_methods_supported"] = []string{idv.AuthClientSecretBasic, idv.AuthPrivateKeyJWT}
		doc["token_endpoint_auth_signing_alg_values_supported"] = []string{"ES256", "RS256", "PS256"}
		doc["claims_parameter_supported"] = true
		doc["verified_claims_supported"] = true
		doc["trust_frameworks_supported"] = []string{p.o.TrustFramework}
		doc["evidence_supported"] = []string{"document", "electronic_record"}
		doc["documents_supported"] = []string{DocumentType}
		doc["claims_in_verified_claims_supported"] = slices.Sorted(maps.Keys(claimOutput))
		for _, k := range []string{"introspection_endpoint", "revocation_endpoint", "end_session_endpoint", "device_authorization_endpoint",
			"introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported",
			"introspection_endpoint_auth_signing_alg_values_supported", "revocation_endpoint_auth_signing_alg_values_supported"} {
			delete(doc, k)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_ = json.NewEncoder(w).Encode(doc)
	})
}

// authorize hands the claims parameter (which the op package does not
// read) to CreateAuthRequest.
func (p *Provider) authorize() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := r.ParseForm(); err != nil {
			http.Error(w, "the request does not parse", http.StatusBadRequest)
			return
		}
		ctx := context.WithValue(r.Context(), claimsParamKey{}, r.Form.Get("claims"))
		p.op.ServeHTTP(w, r.WithContext(ctx))
	})
}

// token answers the authorization code grant only: the op package's other
// grants (the JWT bearer grant among them) are refused here.
func (p *Provider) token() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != string(oidc.GrantTypeCode) {
			op.RequestError(w, r, oidc.ErrUnsupportedGrantType().WithDescription("only authorization_code is offered"), p.log)
			return
		}
		p.op.ServeHTTP(w, r)
	})
}

// Begin starts or resumes the verification of authorization request id for
// the person's browser, whose session is bound to current ("" none): the
// verification the request already has; else current, when it is an
// unfinished verification of the same relying party for the same end user
// (login_hint); else a new one, made the way the API makes them. It
// returns the verification's id.
func (p *Provider) Begin(ctx context.Context, id, current string) (string, error) {
	a, o, err := p.request(ctx, id)
	if err != nil {
		return "", idv.Errorf(idv.ENOTFOUND, "this sign-in request has expired or is unknown")
	}
	if !o.DoneAt.IsZero() {
		return "", idv.Errorf(idv.ECONFLICT, "this sign-in request is already finished")
	}
	if a.verificationID != "" {
		// A request is the browser's that began it: another browser
		// holding its id does not get its verification's pages.
		if a.verificationID != current {
			return "", idv.Errorf(idv.ECONFLICT, "this sign-in request is in use in another browser")
		}
		return current, nil
	}
	rp, err := p.o.Store.RelyingParty(ctx, a.clientID)
	if err != nil {
		return "", err
	}
	if current != "" {
		v, err := p.o.Store.Verification(ctx, current)
		if err == nil && v.RelyingPartyID == rp.ID && !v.Status.Final() && v.ExpiresAt.After(p.o.Now()) &&
			(a.req.LoginHint == "" || v.ClientReferenceID == a.req.LoginHint) {
			return current, p.o.Store.BindOIDCRequest(ctx, id, current)
		}
	}
	ref := cmp.Or(a.req.LoginHint, "oidc:"+id)
	v, err := p.o.Creator.CreateVerification(ctx, rp, api.CreateInput{ClientReferenceID: ref})
	if err != nil {
		return "", err
	}
	if err := p.o.Store.BindOIDCRequest(ctx, id, v.ID); err != nil {
		return "", err
	}
	p.log.InfoContext(ctx, "oidc: verification started", "request_id", id, "verification_id", v.ID, "client_id", rp.ID)
	return v.ID, nil
}

// Finish returns the person to the relying party once the verification
// of authorization request id (bound to the person's session) is final:
// with a code when it is verified, with error=access_denied otherwise.
func (p *Provider) Finish(w http.ResponseWriter, r *http.Request, id, verificationID string) {
	ctx := r.Context()
	a, _, err := p.request(ctx, id)
	if err != nil || a.verificationID != verificationID {
		http.Error(w, "This sign-in request has expired. Go back to the service that sent you here and start again.", http.StatusBadRequest)
		return
	}
	v, err := p.o.Store.Verification(ctx, verificationID)
	if err != nil {
		http.Error(w, "Something went wrong. Please try again.", http.StatusServiceUnavailable)
		return
	}
	switch {
	case !v.Status.Final():
		http.Error(w, "Your verification is not finished yet.", http.StatusConflict)
		return
	case v.Status != idv.VerificationVerified:
		op.AuthRequestError(w, r, a, oidc.ErrAccessDenied().WithDescription("the verification is %s", v.Status), p.op)
		return
	}
	if !a.Done() {
		if err := p.o.Store.FinishOIDCRequest(ctx, id, p.o.Now().UTC()); err != nil && idv.ErrorCode(err) != idv.ECONFLICT {
			http.Error(w, "Something went wrong. Please try again.", http.StatusServiceUnavailable)
			return
		}
		if a, _, err = p.request(ctx, id); err != nil {
			http.Error(w, "Something went wrong. Please try again.", http.StatusServiceUnavailable)
			return
		}
	}
	op.AuthResponse(a, p.op, w, r)
}

// sealedCrypto makes the opaque values the op package hands out (codes and
// access tokens) with idv's envelope sealer, so any web process can read
// what another made, and key rotation follows the sealer's.
type sealedCrypto struct{ p *Provider }

var opaqueAAD = []byte("idv/oidc-opaque/v1")

func (c sealedCrypto) Encrypt(s string) (string, error) {
	b, err := c.p.o.Sealer.Seal(context.Background(), []byte(s), opaqueAAD)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (c sealedCrypto) Decrypt(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	plain, err := c.p.o.Sealer.Open(context.Background(), b, opaqueAAD)
	return string(plain), err
}

// client is a relying party as the op package sees a client.
type client struct {
	rp idv.RelyingParty
	p  *Provider
}

var _ op.Client = client{}

func (c client) GetID() string                       { return c.rp.ID }
func (c client) RedirectURIs() []string              { return c.rp.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string    { return nil }
func (c client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c client) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c client) LoginURL(id string) string            { return LoginPath + "?id=" + url.QueryEscape(id) }
func (c client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c client) IDTokenLifetime() time.Duration       { return DefaultIDTokenLife }
func (c client) DevMode() bool                        { return false }
func (c client) IsScopeAllowed(string) bool           { return false }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c client) ClockSkew() time.Duration             { return 0 }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c client) AuthMethod() oidc.AuthMethod {
	if c.rp.TokenAuthMethod == idv.AuthPrivateKeyJWT {
		return oidc.AuthMethodPrivateKeyJWT
	}
	return oidc.AuthMethodBasic
}
