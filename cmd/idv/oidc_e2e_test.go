package main

// Issue 11 end to end: idv as an OpenID Provider on PostgreSQL and Redis
// (web and worker processes), used by a relying party built on the
// ordinary client libraries (coreos/go-oidc and golang.org/x/oauth2): the
// discovery document, the authorization code flow with PKCE through the
// person's pages, the code exchanged with client_secret_basic and with
// private_key_jwt, the ID token checked against the JWKS, verified_claims
// read from the ID token and userinfo as the claims parameter and the
// scopes asked, and every refusal the specifications name.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/idv-dev/idv/internal/testenv/flow"
)

// Values the relying party sends that must never be stored or logged in
// clear: state, nonce and the PKCE verifier are canaries too.
const (
	oidcStateCanary = "Statecanary"
	oidcNonceCanary = "Noncecanary"
)

var oidcClientRE = regexp.MustCompile(`relying party (rp_\S+) created[^\n]*\napi_key: (\S+)\noidc client_id: (rp_\S+) \(token endpoint auth: (\S+)\)`)

// oidcClient is a relying party registered with `idv rp create
// --redirect-uri`, seen through the client libraries.
type oidcClient struct {
	id, key  string
	redirect string
	conf     oauth2.Config
	priv     *ecdsa.PrivateKey // private_key_jwt clients
	kid      string
}

// verifiedClaims is the part of an ID token or userinfo answer the tests
// read.
type verifiedClaims struct {
	Subject        string `json:"sub"`
	Nonce          string `json:"nonce"`
	VerifiedClaims *struct {
		Verification struct {
			TrustFramework      string `json:"trust_framework"`
			Time                string `json:"time"`
			VerificationProcess string `json:"verification_process"`
			Evidence            []struct {
				Type   string `json:"type"`
				Record *struct {
					Type string `json:"type"`
				} `json:"record"`
			} `json:"evidence"`
		} `json:"verification"`
		Claims map[string]any `json:"claims"`
	} `json:"verified_claims"`
}

func TestOIDCEndToEnd(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	addr := loopbackAddr(t)
	public := "http://" + addr
	env := append(slices.Clone(pe.env), "IDV_VERIFICATIONS_PUBLIC_URL="+public)
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", addr)
	worker := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	if base := web.waitURL(t); base != public {
		t.Fatalf("web listens at %s, want %s", base, public)
	}
	worker.waitURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// The redirect URIs are never fetched: the person's browser stops at
	// the redirect and the test reads the code from it.
	basic := newOIDCClient(t, env, "Benefits Portal", "https://benefits.test/oidc/callback", "name,dob,address,phone", nil)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyed := newOIDCClient(t, env, "Library Card", "https://library.test/cb", "name", priv)

	var provider *oidc.Provider
	t.Run("discovery", func(t *testing.T) {
		provider, err = oidc.NewProvider(ctx, public)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Issuer           string   `json:"issuer"`
			Authorization    string   `json:"authorization_endpoint"`
			Token            string   `json:"token_endpoint"`
			Userinfo         string   `json:"userinfo_endpoint"`
			JWKS             string   `json:"jwks_uri"`
			PKCE             []string `json:"code_challenge_methods_supported"`
			TokenAuth        []string `json:"token_endpoint_auth_methods_supported"`
			Claims           []string `json:"claims_supported"`
			ResponseTypes    []string `json:"response_types_supported"`
			Grants           []string `json:"grant_types_supported"`
			VerifiedClaims   bool     `json:"verified_claims_supported"`
			ClaimsParameter  bool     `json:"claims_parameter_supported"`
			IDTokenAlgorithm []string `json:"id_token_signing_alg_values_supported"`
		}
		if err := provider.Claims(&d); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"issuer": public, "authorization_endpoint": public + "/oidc/authorize", "token_endpoint": public + "/oidc/token",
			"userinfo_endpoint": public + "/oidc/userinfo", "jwks_uri": public + "/.well-known/jwks.json"}
		got := map[string]string{"issuer": d.Issuer, "authorization_endpoint": d.Authorization, "token_endpoint": d.Token,
			"userinfo_endpoint": d.Userinfo, "jwks_uri": d.JWKS}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		if !slices.Contains(d.PKCE, "S256") || !slices.Contains(d.TokenAuth, "client_secret_basic") || !slices.Contains(d.TokenAuth, "private_key_jwt") ||
			!slices.Contains(d.Claims, "verified_claims") || !slices.Equal(d.ResponseTypes, []string{"code"}) || !slices.Contains(d.IDTokenAlgorithm, "ES256") ||
			slices.Contains(d.TokenAuth, "none") || !slices.Equal(d.Grants, []string{"authorization_code"}) || !d.VerifiedClaims || !d.ClaimsParameter {
			t.Errorf("discovery: %+v", d)
		}
	})
	if provider == nil {
		t.FailNow()
	}
	basic.conf.Endpoint, keyed.conf.Endpoint = provider.Endpoint(), provider.Endpoint()
	basic.conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	keyed.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	verifierOf := func(c *oidcClient) *oidc.IDTokenVerifier { return provider.Verifier(&oidc.Config{ClientID: c.id}) }

	var issued []*oauth2.Token
	var codes []string
	t.Run("client_secret_basic: the claims parameter puts verified_claims in the ID token and userinfo, limited to what it asks", func(t *testing.T) {
		claims := `{"id_token":{"verified_claims":{"verification":{"trust_framework":null},"claims":{"given_name":null,"family_name":null}}},` +
			`"userinfo":{"verified_claims":{"verification":{"trust_framework":null},"claims":{"birthdate":null,"address":null,"phone_number":null}}}}`
		a := newAuthorization(basic, oauth2.SetAuthURLParam("claims", claims))
		loc := signIn(t, public, a.url, canaryForm("Oidccanary", "900-41-7731", "22201", "CANARYID77"))
		code := a.code(t, loc)
		codes = append(codes, code)
		tok, err := basic.conf.Exchange(ctx, code, oauth2.VerifierOption(a.verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		issued = append(issued, tok)
		id := checkIDToken(t, ctx, verifierOf(basic), tok, a.nonce, public, basic.id)
		if id.VerifiedClaims == nil {
			t.Fatal("the ID token has no verified_claims")
		}
		checkVerification(t, id, []string{"given_name", "family_name"})
		if id.VerifiedClaims.Claims["given_name"] != "Oidccanary" || id.VerifiedClaims.Claims["family_name"] != "Quuxcanarylast" {
			t.Errorf("ID token claims = %v", id.VerifiedClaims.Claims)
		}
		ui := userinfo(t, ctx, provider, tok)
		if ui.Subject != id.Subject || ui.VerifiedClaims == nil {
			t.Fatalf("userinfo: sub %q (ID token's %q), verified_claims %v", ui.Subject, id.Subject, ui.VerifiedClaims)
		}
		checkVerification(t, ui, []string{"address", "birthdate", "phone_number"})
		addr, _ := ui.VerifiedClaims.Claims["address"].(map[string]any)
		if ui.VerifiedClaims.Claims["birthdate"] != "1971-03-17" || ui.VerifiedClaims.Claims["phone_number"] != "+17035550199" ||
			addr["locality"] != "Plughcanaryville" || addr["region"] != "VA" || addr["postal_code"] != "22201" {
			t.Errorf("userinfo claims = %v", ui.VerifiedClaims.Claims)
		}

		// The same code again: invalid_grant, and the token issued from
		// it is revoked.
		_, err = basic.conf.Exchange(ctx, code, oauth2.VerifierOption(a.verifier))
		wantOAuthError(t, err, "invalid_grant")
		if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("userinfo still answers the token of a reused code")
		}
	})

	t.Run("private_key_jwt: scopes alone put the claims the client may have in userinfo, none in the ID token", func(t *testing.T) {
		keyed.conf.Scopes = []string{oidc.ScopeOpenID, "profile", "address"}
		defer func() { keyed.conf.Scopes = []string{oidc.ScopeOpenID} }()
		a := newAuthorization(keyed)
		loc := signIn(t, public, a.url, canaryForm("Oidccanarytwo", "900-41-7732", "22201", "CANARYID77"))
		tok, err := keyed.conf.Exchange(ctx, a.code(t, loc), oauth2.VerifierOption(a.verifier),
			oauth2.SetAuthURLParam("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
			oauth2.SetAuthURLParam("client_assertion", keyed.assertion(t, public)))
		if err != nil {
			t.Fatalf("exchange with private_key_jwt: %v", err)
		}
		issued = append(issued, tok)
		id := checkIDToken(t, ctx, verifierOf(keyed), tok, a.nonce, public, keyed.id)
		if id.VerifiedClaims != nil {
			t.Errorf("the ID token carries verified_claims nobody asked of it: %v", id.VerifiedClaims)
		}
		ui := userinfo(t, ctx, provider, tok)
		if ui.VerifiedClaims == nil {
			t.Fatal("userinfo has no verified_claims")
		}
		// profile asks for given_name, family_name and birthdate, address
		// for the address: the client may read the name only.
		checkVerification(t, ui, []string{"family_name", "given_name"})
	})

	t.Run("refused at the token endpoint, and the code still good for the rightful exchange", func(t *testing.T) {
		a := newAuthorization(basic)
		code := a.code(t, signIn(t, public, a.url, canaryForm("Oidccanarythree", "900-41-7733", "22201", "CANARYID77")))
		wrongSecret := basic.conf
		wrongSecret.ClientSecret = basic.key + "x"
		_, err := wrongSecret.Exchange(ctx, code, oauth2.VerifierOption(a.verifier))
		wantOAuthError(t, err, "invalid_client")
		_, err = basic.conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantOAuthError(t, err, "invalid_grant")
		_, err = basic.conf.Exchange(ctx, code)
		wantOAuthError(t, err, "invalid_request")
		// The other client's code is not this one's.
		_, err = keyed.conf.Exchange(ctx, code, oauth2.VerifierOption(a.verifier),
			oauth2.SetAuthURLParam("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
			oauth2.SetAuthURLParam("client_assertion", keyed.assertion(t, public)))
		wantOAuthError(t, err, "invalid_grant")
		// The JWT bearer grant is not offered.
		res, err := http.PostForm(public+"/oidc/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
			"assertion": {keyed.assertion(t, public)}})
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		_ = json.NewDecoder(res.Body).Decode(&e)
		res.Body.Close()
		if e.Error != "unsupported_grant_type" {
			t.Errorf("jwt-bearer grant: error %q, want unsupported_grant_type", e.Error)
		}
		tok, err := basic.conf.Exchange(ctx, code, oauth2.VerifierOption(a.verifier))
		if err != nil {
			t.Fatalf("the rightful exchange after refused ones: %v", err)
		}
		issued = append(issued, tok)
		checkIDToken(t, ctx, verifierOf(basic), tok, a.nonce, public, basic.id)

		// A code past its minute: invalid_grant. (The clock is moved in
		// the database: the code's expiry is the only thing aged.)
		late := newAuthorization(basic)
		code = late.code(t, signIn(t, public, late.url, canaryForm("Oidccanaryfive", "900-41-7736", "22201", "CANARYID77")))
		db, err := pgx.Connect(ctx, pe.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close(context.Background())
		if _, err := db.Exec(ctx, `UPDATE idv_oidc_requests SET code_expires_at = now() - interval '1 second' WHERE code_hash IS NOT NULL AND code_used_at IS NULL`); err != nil {
			t.Fatal(err)
		}
		_, err = basic.conf.Exchange(ctx, code, oauth2.VerifierOption(late.verifier))
		wantOAuthError(t, err, "invalid_grant")
	})

	t.Run("refused at the authorization endpoint", func(t *testing.T) {
		browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: time.Minute}
		unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+basic.id+`","aud":"`+public+`","state":"x"}`)) + "."
		cases := []struct {
			name   string
			client *oidcClient
			edit   func(q url.Values)
			// wantError is the error sent to the redirect URI; "" means no
			// redirect at all (the redirect URI is not trusted).
			wantError string
		}{
			{"no PKCE", basic, func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
			{"plain PKCE", basic, func(q url.Values) { q.Set("code_challenge", "abc"); q.Set("code_challenge_method", "plain") }, "invalid_request"},
			{"redirect URI not registered", basic, func(q url.Values) { q.Set("redirect_uri", "https://benefits.test/oidc/callback/evil") }, ""},
			{"another client's redirect URI", basic, func(q url.Values) { q.Set("redirect_uri", keyed.redirect) }, ""},
			{"unknown client", basic, func(q url.Values) { q.Set("client_id", "rp_nobody") }, ""},
			{"claims the client may not have", keyed, func(q url.Values) {
				q.Set("claims", `{"id_token":{"verified_claims":{"verification":{},"claims":{"given_name":null,"birthdate":null}}}}`)
			}, "access_denied"},
			{"prompt=none", basic, func(q url.Values) { q.Set("prompt", "none") }, "interaction_required"},
			{"implicit flow", basic, func(q url.Values) { q.Set("response_type", "id_token") }, "unauthorized_client"},
			{"alg=none request object", basic, func(q url.Values) { q.Set("request", unsigned) }, "request_not_supported"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				a := newAuthorization(tc.client)
				u, _ := url.Parse(a.url)
				q := u.Query()
				tc.edit(q)
				u.RawQuery = q.Encode()
				res, err := browser.Get(u.String())
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				loc := res.Header.Get("Location")
				if tc.wantError == "" {
					if res.StatusCode != http.StatusBadRequest || loc != "" {
						t.Fatalf("HTTP %d to %q, want 400 and no redirect", res.StatusCode, loc)
					}
					return
				}
				back, err := url.Parse(loc)
				if err != nil || res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, tc.client.redirect) {
					t.Fatalf("HTTP %d to %q, want a redirect to %s", res.StatusCode, loc, tc.client.redirect)
				}
				got := back.Query()
				if frag, _ := url.ParseQuery(back.Fragment); len(frag) > 0 {
					got = frag // the implicit flow's answers travel in the fragment
				}
				if got.Get("error") != tc.wantError || got.Get("state") != a.state || got.Get("code") != "" {
					t.Errorf("redirect %v, want error=%s with the state and no code", got, tc.wantError)
				}
			})
		}
	})

	api := flow.NewRP(public, basic.key, nil)
	t.Run("a second request for the same client and end user in the same browser resumes the verification", func(t *testing.T) {
		first := newAuthorization(basic, oauth2.SetAuthURLParam("login_hint", "oidc-resume-1"))
		p, _ := startSignIn(t, public, first.url)
		if got := p.verify(canaryForm("Oidccanaryfour", "900-41-7735", "22201", "CANARYID77")); got != "/verify/phone" {
			t.Fatalf("verify_info went to %q", got)
		}
		// The RP starts over (its user came back): a new request, same
		// end user, same browser.
		second := newAuthorization(basic, oauth2.SetAuthURLParam("login_hint", "oidc-resume-1"))
		u, _ := url.Parse(second.url)
		code, loc, _ := p.do("GET", u.RequestURI(), nil)
		if code != http.StatusFound || !strings.HasPrefix(loc, "/oidc/login?id=") {
			t.Fatalf("authorize: HTTP %d to %q", code, loc)
		}
		if code, loc, _ = p.do("GET", loc, nil); code != http.StatusSeeOther || loc != "/" {
			t.Fatalf("login: HTTP %d to %q", code, loc)
		}
		if got := p.step("/verify/phone", url.Values{"phone": {"7035550199"}}); got != "/verify/result" {
			t.Fatalf("phone went to %q: the identity step was not kept", got)
		}
		tok, err := basic.conf.Exchange(ctx, second.code(t, finish(t, p)), oauth2.VerifierOption(second.verifier))
		if err != nil {
			t.Fatal(err)
		}
		id := checkIDToken(t, ctx, verifierOf(basic), tok, second.nonce, public, basic.id)
		// Continue pressed again after the code was exchanged: no second
		// code.
		if code, loc, _ := p.do("GET", "/oidc/continue", nil); code != http.StatusFound {
			t.Errorf("continue again: HTTP %d to %q", code, loc)
		} else {
			second.wantError(t, loc, "invalid_request")
		}
		_, r, err := api.Call(ctx, "GET", "/v1/verifications?client_reference_id=oidc-resume-1", nil, nil)
		var list struct{ Data []flow.Verification }
		if err != nil || json.Unmarshal(r.Body, &list) != nil || len(list.Data) != 1 || list.Data[0].ID != id.Subject || list.Data[0].Status != "verified" {
			t.Fatalf("verifications of the end user: %v %s, want one, verified, the ID token's sub %s", err, r.Body, id.Subject)
		}
	})

	t.Run("a canceled verification returns access_denied to the redirect URI", func(t *testing.T) {
		a := newAuthorization(basic, oauth2.SetAuthURLParam("login_hint", "oidc-cancel-1"))
		p, login := startSignIn(t, public, a.url)
		// The request is this browser's: another one holding its id does
		// not get the verification's pages.
		if code, loc, _ := newPerson(t, public).do("GET", login, nil); code != http.StatusConflict || loc != "" {
			t.Errorf("another browser at the request's login: HTTP %d to %q, want 409", code, loc)
		}
		_, r, err := api.Call(ctx, "GET", "/v1/verifications?client_reference_id=oidc-cancel-1", nil, nil)
		var list struct{ Data []flow.Verification }
		if err != nil || json.Unmarshal(r.Body, &list) != nil || len(list.Data) != 1 {
			t.Fatalf("list: %v %s", err, r.Body)
		}
		if _, r, err := api.Call(ctx, "POST", "/v1/verifications/"+list.Data[0].ID+"/cancel", nil, nil); err != nil || r.Code != http.StatusOK {
			t.Fatalf("cancel: %v %d %s", err, r.Code, r.Body)
		}
		a.wantError(t, finish(t, p), "access_denied")
	})

	t.Run("a failed verification returns access_denied to the redirect URI", func(t *testing.T) {
		a := newAuthorization(basic)
		p, _ := startSignIn(t, public, a.url)
		for i := range 5 {
			got := p.verify(canaryForm("Badcanary", "900-41-7734", "22201", "CANARYID77"))
			if i < 4 && got != "/verify/errors/warning?step=verify_info" || i == 4 && got != "/verify/result" {
				t.Fatalf("attempt %d went to %q", i+1, got)
			}
		}
		a.wantError(t, finish(t, p), "access_denied")
	})

	t.Run("no canary PII, state or nonce in plaintext anywhere", func(t *testing.T) {
		db, err := pgx.Connect(ctx, pe.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close(context.Background())
		for _, tbl := range []string{"idv_oidc_requests", "idv_oidc_tokens"} {
			var n int
			if err := db.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", pgx.Identifier{tbl}.Sanitize())).Scan(&n); err != nil || n == 0 {
				t.Errorf("%s: %d rows (%v): the scan would prove nothing there", tbl, n, err)
			}
		}
		dump := dumpStores(t, pe, web, worker, pe.vendors)
		dump.WriteString(pe.proxy.Log(t))
		all := strings.ToLower(dump.String())
		for _, c := range append(canaries, "Oidccanary", strings.ToLower(oidcStateCanary), strings.ToLower(oidcNonceCanary)) {
			if i := strings.Index(all, strings.ToLower(c)); i >= 0 {
				t.Errorf("canary %q found in plaintext: …%s…", c, all[max(0, i-300):min(len(all), i+100)])
			}
		}
		for _, tok := range issued {
			raw, _ := tok.Extra("id_token").(string)
			if strings.Contains(dump.String(), tok.AccessToken) || strings.Contains(dump.String(), raw) {
				t.Error("an access token or ID token is stored or logged in clear")
			}
		}
		for _, c := range codes {
			if strings.Contains(dump.String(), c) {
				t.Error("an authorization code is stored or logged in clear")
			}
		}
		if len(issued) < 3 {
			t.Errorf("%d tokens issued: the scan proves less than it should", len(issued))
		}
	})
}

// newOIDCClient registers a relying party as an OpenID Connect client with
// `idv rp create`: client_secret_basic, or private_key_jwt with priv's
// public key when priv is set.
func newOIDCClient(t *testing.T, env []string, name, redirect, outputs string, priv *ecdsa.PrivateKey) *oidcClient {
	t.Helper()
	args := []string{"rp", "create", "--name", name, "--redirect-uri", redirect, "--outputs", outputs}
	c := &oidcClient{redirect: redirect, priv: priv}
	if priv != nil {
		c.kid = "test-key-1"
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: c.kid, Algorithm: "ES256", Use: "sig"}}}
		b, _ := json.Marshal(set)
		file := filepath.Join(t.TempDir(), "jwks.json")
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--token-auth-method", "private_key_jwt", "--jwks", file)
	}
	m := oidcClientRE.FindStringSubmatch(run1(t, env, args...))
	if m == nil || m[1] != m[3] {
		t.Fatalf("idv rp create did not print an OIDC client: %v", m)
	}
	c.id, c.key = m[1], m[2]
	c.conf = oauth2.Config{ClientID: c.id, RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID}}
	if priv == nil {
		c.conf.ClientSecret = c.key
	}
	return c
}

// assertion is a private_key_jwt client assertion (RFC 7523): issuer and
// subject the client, audience the issuer.
func (c *oidcClient) assertion(t *testing.T, issuer string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: c.priv, KeyID: c.kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: c.id, Subject: c.id, Audience: jwt.Audience{issuer},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)), ID: rand.Text()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// authorization is one authorization request of a client: its URL and
// the values only the relying party knows.
type authorization struct {
	c                      *oidcClient
	url                    string
	state, nonce, verifier string
}

func newAuthorization(c *oidcClient, opts ...oauth2.AuthCodeOption) authorization {
	a := authorization{c: c, state: oidcStateCanary + rand.Text(), nonce: oidcNonceCanary + rand.Text(), verifier: oauth2.GenerateVerifier()}
	a.url = c.conf.AuthCodeURL(a.state, append(opts, oauth2.S256ChallengeOption(a.verifier), oidc.Nonce(a.nonce))...)
	return a
}

// code reads the code from the redirect to the client, checking the state.
func (a authorization) code(t *testing.T, loc string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, a.c.redirect+"?") {
		t.Fatalf("the person went to %q, want the redirect URI %s", loc, a.c.redirect)
	}
	q := u.Query()
	if q.Get("state") != a.state || q.Get("code") == "" || q.Get("error") != "" {
		t.Fatalf("redirect %v: want the code and the state sent", q)
	}
	return q.Get("code")
}

// wantError checks that the redirect to the client carries error e and the
// state, and no code.
func (a authorization) wantError(t *testing.T, loc, e string) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, a.c.redirect+"?") {
		t.Fatalf("the person went to %q, want the redirect URI %s", loc, a.c.redirect)
	}
	if q := u.Query(); q.Get("error") != e || q.Get("state") != a.state || q.Get("code") != "" {
		t.Errorf("redirect %v, want error=%s with the state and no code", q, e)
	}
}

// startSignIn follows an authorization request as the person's browser
// does, up to the start page of its verification. It returns the person
// and the login path the request sent them to.
func startSignIn(t *testing.T, public, authURL string) (*person, string) {
	t.Helper()
	p := newPerson(t, public)
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	code, loc, body := p.do("GET", u.RequestURI(), nil)
	if code != http.StatusFound || !strings.HasPrefix(loc, "/oidc/login?id=") {
		t.Fatalf("authorize: HTTP %d to %q: %.300s", code, loc, body)
	}
	login := loc
	if code, loc, body = p.do("GET", login, nil); code != http.StatusSeeOther || loc != "/" {
		t.Fatalf("login: HTTP %d to %q: %.300s", code, loc, body)
	}
	return p, login
}

// signIn is the whole sign-in: the verification's steps (identity with
// form, then the phone), the result page and its Continue. It returns
// where Continue sends the person.
func signIn(t *testing.T, public, authURL string, form url.Values) string {
	t.Helper()
	p, _ := startSignIn(t, public, authURL)
	if got := p.verify(form); got != "/verify/phone" {
		t.Fatalf("verify_info went to %q", got)
	}
	if got := p.step("/verify/phone", url.Values{"phone": {"7035550199"}}); got != "/verify/result" {
		t.Fatalf("phone went to %q", got)
	}
	return finish(t, p)
}

// finish reads the result page and follows its Continue.
func finish(t *testing.T, p *person) string {
	t.Helper()
	if code, _, body := p.do("GET", "/verify/result", nil); code != http.StatusOK || !strings.Contains(body, `href="/oidc/continue"`) {
		t.Fatalf("result page: HTTP %d without Continue to /oidc/continue: %.500s", code, body)
	}
	code, loc, body := p.do("GET", "/oidc/continue", nil)
	if code != http.StatusFound {
		t.Fatalf("continue: HTTP %d to %q: %.300s", code, loc, body)
	}
	return loc
}

// checkIDToken verifies the token response's ID token as a relying party
// does (signature by the JWKS, iss, aud, expiry) and its nonce.
func checkIDToken(t *testing.T, ctx context.Context, v *oidc.IDTokenVerifier, tok *oauth2.Token, nonce, issuer, clientID string) verifiedClaims {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	id, err := v.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	var c verifiedClaims
	if err := id.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if id.Nonce != nonce || c.Nonce != nonce || id.Issuer != issuer || !slices.Equal(id.Audience, []string{clientID}) ||
		!id.Expiry.After(time.Now()) || !strings.HasPrefix(id.Subject, "vrf_") {
		t.Errorf("ID token: nonce %q, iss %q, aud %v, exp %v, sub %q", id.Nonce, id.Issuer, id.Audience, id.Expiry, id.Subject)
	}
	return c
}

func userinfo(t *testing.T, ctx context.Context, p *oidc.Provider, tok *oauth2.Token) verifiedClaims {
	t.Helper()
	ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var c verifiedClaims
	if err := ui.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkVerification checks verified_claims: the verification element and
// exactly the claims names.
func checkVerification(t *testing.T, c verifiedClaims, names []string) {
	t.Helper()
	vc := c.VerifiedClaims
	got := slices.Sorted(func(yield func(string) bool) {
		for k := range vc.Claims {
			if !yield(k) {
				return
			}
		}
	})
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("verified_claims.claims has %v, want exactly %v", got, names)
	}
	v := vc.Verification
	if v.TrustFramework != "nist_800_63A" || v.VerificationProcess != c.Subject || v.Time == "" {
		t.Errorf("verification = %+v (sub %s)", v, c.Subject)
	}
	var records []string
	for _, e := range v.Evidence {
		if e.Type == "electronic_record" && e.Record != nil {
			records = append(records, e.Record.Type)
		}
	}
	if !slices.Equal(records, []string{"identity_resolution", "mobile_operator"}) {
		t.Errorf("evidence records %v, want the identity resolution and the phone", records)
	}
}

// wantOAuthError checks that err is the token endpoint's error code e.
func wantOAuthError(t *testing.T, err error, e string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != e {
		t.Errorf("error %v, want %s", err, e)
	}
}
