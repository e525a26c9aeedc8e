package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/idv-dev/idv/internal/testenv"
)

// The OpenID Connect door in a real browser, on the production shape with
// the document step (S3 through versitygw): a relying party web app built
// on go-oidc and x/oauth2 sends Chromium to idv; the person photographs
// their ID (encrypted in the page), confirms their information, verifies
// their phone and presses Continue; the app exchanges the code and shows
// what the ID token's verified_claims say, the document evidence included.
func TestOIDCInBrowser(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	s3srv := testenv.S3(t)
	addr := loopbackAddr(t)
	public := "http://" + addr
	env := slices.Concat(pe.env, docEnv(s3srv), []string{"IDV_VERIFICATIONS_PUBLIC_URL=" + public})
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", addr)
	worker := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	web.waitURL(t)
	worker.waitURL(t)
	run1(t, append(env, "IDV_OBJECTS_CORS_ORIGIN="+public), "storage")

	rp := newBrowserRP(t, public)
	out := run1(t, env, "rp", "create", "--name", "Acme Benefits", "--redirect-uri", rp.srv.URL+"/cb", "--insecure",
		"--outputs", "name,id_document")
	m := oidcClientRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("idv rp create printed:\n%s", out)
	}
	rp.setClient(m[1], m[2])

	dir := t.TempDir()
	front, back := filepath.Join(dir, "front.yml"), filepath.Join(dir, "back.png")
	if err := os.WriteFile(front, []byte(canaryDocument), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(back, testenv.PNG(t, 64, 40), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	const step = 30 * time.Second
	within(t, ctx, step, "the RP's sign-in", chromedp.Navigate(rp.srv.URL+"/login"))
	if text := within(t, ctx, step, "start page", chromedp.Text(chromedp.CSS(`main`))); !strings.Contains(text, "Acme Benefits asked us") {
		t.Fatalf("start page does not name the relying party: %q", text)
	}
	within(t, ctx, step, "start", chromedp.Click(chromedp.CSS(`a.button`)))
	waitCapture(t, ctx)
	within(t, ctx, step, "choose the front", chromedp.SetUploadFiles(chromedp.CSS(`#front`), []string{front}))
	within(t, ctx, step, "choose the back", chromedp.SetUploadFiles(chromedp.CSS(`#back`), []string{back}))
	within(t, ctx, step, "both uploaded", chromedp.Poll[bool](
		`document.querySelector('[data-side=front]').dataset.state === 'done' && document.querySelector('[data-side=back]').dataset.state === 'done'`))
	within(t, ctx, step, "submit the document", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	within(t, ctx, 90*time.Second, "verify_info", chromedp.WaitVisible(chromedp.CSS(`#ssn`)))
	within(t, ctx, step, "type the SSN", chromedp.SendKeys(chromedp.CSS(`#ssn`), "900-41-7723"))
	within(t, ctx, step, "submit verify_info", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	within(t, ctx, 90*time.Second, "phone page", chromedp.WaitVisible(chromedp.CSS(`#phone`)))
	within(t, ctx, step, "type the phone", chromedp.SendKeys(chromedp.CSS(`#phone`), "7035550199"))
	within(t, ctx, step, "submit phone", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	within(t, ctx, 90*time.Second, "outcome", chromedp.WaitVisible(chromedp.CSS(`.alert-success`)))
	within(t, ctx, step, "continue", chromedp.Click(chromedp.CSS(`a[href="/oidc/continue"]`)))
	within(t, ctx, step, "back at the RP", chromedp.WaitVisible(chromedp.CSS(`#signed-in`)))
	got := within(t, ctx, step, "the RP's page", chromedp.Text(chromedp.CSS(`#signed-in`)))
	var vc verifiedClaims
	if err := json.Unmarshal([]byte(got), &vc); err != nil || vc.VerifiedClaims == nil {
		t.Fatalf("the RP shows %q (%v)", got, err)
	}
	if c := vc.VerifiedClaims.Claims; c["given_name"] != "Zorblecanary" || c["family_name"] != "Quuxcanarylast" || len(c) != 2 {
		t.Errorf("claims %v, want the name read from the ID", c)
	}
	types := map[string]bool{}
	for _, e := range vc.VerifiedClaims.Verification.Evidence {
		types[e.Type] = true
	}
	if !types["document"] || !types["electronic_record"] || !strings.Contains(got, `"document_number":"CANARYID77"`) ||
		!strings.Contains(got, `"jurisdiction":"VA"`) || !strings.Contains(got, `"type":"us_state_id"`) {
		t.Errorf("evidence lacks the document check with its type and issuer: %s", got)
	}

	// The person's data and the RP's values stayed out of idv's stores
	// and logs (the RP itself got them, as it should).
	dump := strings.ToLower(dumpStores(t, pe, web, worker, pe.vendors).String())
	for _, c := range append(canaries, "Zorblecanary", strings.ToLower(oidcStateCanary), strings.ToLower(oidcNonceCanary)) {
		if strings.Contains(dump, strings.ToLower(c)) {
			t.Errorf("canary %q found in plaintext", c)
		}
	}
}

// browserRP is a relying party's web app: /login starts the code flow,
// /cb finishes it and shows the ID token's verified claims as JSON in
// #signed-in.
type browserRP struct {
	t      *testing.T
	srv    *httptest.Server
	issuer string
	mu     sync.Mutex
	conf   oauth2.Config
	prov   *oidc.Provider
	// pending sign-ins by state: nonce and PKCE verifier.
	pending map[string][2]string
}

func newBrowserRP(t *testing.T, issuer string) *browserRP {
	rp := &browserRP{t: t, issuer: issuer, pending: map[string][2]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", rp.login)
	mux.HandleFunc("GET /cb", rp.callback)
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *browserRP) setClient(id, secret string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.conf = oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: rp.srv.URL + "/cb", Scopes: []string{oidc.ScopeOpenID}}
}

func (rp *browserRP) config(r *http.Request) (*oidc.Provider, oauth2.Config, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.prov == nil {
		p, err := oidc.NewProvider(r.Context(), rp.issuer)
		if err != nil {
			return nil, oauth2.Config{}, err
		}
		rp.prov = p
		rp.conf.Endpoint = p.Endpoint()
	}
	return rp.prov, rp.conf, nil
}

func (rp *browserRP) login(w http.ResponseWriter, r *http.Request) {
	_, conf, err := rp.config(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	state, nonce, verifier := oidcStateCanary+rand.Text(), oidcNonceCanary+rand.Text(), oauth2.GenerateVerifier()
	rp.mu.Lock()
	rp.pending[state] = [2]string{nonce, verifier}
	rp.mu.Unlock()
	claims := `{"id_token":{"verified_claims":{"verification":{"trust_framework":null,"evidence":null},"claims":{"given_name":null,"family_name":null}}}}`
	http.Redirect(w, r, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce),
		oauth2.SetAuthURLParam("claims", claims)), http.StatusFound)
}

func (rp *browserRP) callback(w http.ResponseWriter, r *http.Request) {
	prov, conf, err := rp.config(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	q := r.URL.Query()
	rp.mu.Lock()
	p, ok := rp.pending[q.Get("state")]
	delete(rp.pending, q.Get("state"))
	rp.mu.Unlock()
	if !ok || q.Get("error") != "" {
		http.Error(w, "no sign-in: "+q.Get("error"), http.StatusBadRequest)
		return
	}
	tok, err := conf.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(p[1]))
	if err != nil {
		http.Error(w, "exchange: "+err.Error(), http.StatusBadGateway)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := prov.Verifier(&oidc.Config{ClientID: conf.ClientID}).Verify(r.Context(), raw)
	if err != nil || id.Nonce != p[0] {
		http.Error(w, fmt.Sprintf("ID token: %v (nonce ok: %v)", err, id != nil && id.Nonce == p[0]), http.StatusBadGateway)
		return
	}
	var claims json.RawMessage
	if err := id.Claims(&claims); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><title>Signed in</title><pre id="signed-in">%s</pre>`, htmlEscape(string(claims)))
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
