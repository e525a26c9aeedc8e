package demo_test

import (
	"context"
	"encoding/base64"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/internal/testenv/flow"
	"github.com/idv-dev/idv/telemetry"
)

var (
	keyRE    = regexp.MustCompile(`name="idempotency_key" value="([^"]+)"`)
	returnRE = regexp.MustCompile(`href="([^"]*/demo/return\?verification_id=[^"]+)"`)
)

// Canary PII the person types: it must not appear on any demo page.
var canaries = []string{"Quuxdemolast", "Xylodemofirst", "900-41-7723", "900417723", "1971-03-17", "4417 Zyzzyvademo Lane", "DEMOID77", "7035550199"}

// The whole story in `idv dev`, driven over HTTP as a browser would: the
// demo's button creates a verification through the API and sends the
// person to its link; the person goes through the flow; back at the demo,
// the return page shows the verification verified, its webhook events
// (signature checked) and its receipt checked against the JWKS.
func TestDemoEndToEnd(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	base := startDev(t, ctx)
	p := flow.New(base, nil)
	do := func(method, path string, form url.Values) flow.Response {
		t.Helper()
		r, err := p.Do(ctx, method, path, form)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	start := do("GET", "/demo", nil)
	key := keyRE.FindSubmatch(start.Body)
	if start.Code != 200 || key == nil || !strings.Contains(string(start.Body), "Verify with idv") {
		t.Fatalf("demo page: %d %.500s", start.Code, start.Body)
	}
	created := do("POST", "/demo/verify", url.Values{"idempotency_key": {string(key[1])}})
	link, ok := strings.CutPrefix(created.Location, base)
	if created.Code != http.StatusSeeOther || !ok || !strings.HasPrefix(link, "/start/idv_lt_") {
		t.Fatalf("verify: %d to %q, want a link on %s", created.Code, created.Location, base)
	}

	// The person follows the link and goes through the steps the demo
	// asked for (no document: this test's deployment takes none).
	if r := do("GET", link, nil); r.Code != http.StatusSeeOther || r.Location != "/" {
		t.Fatalf("link: %d to %q", r.Code, r.Location)
	}
	if r := do("GET", "/", nil); r.Code != 200 || !strings.Contains(string(r.Body), "idv demo asked us") {
		t.Fatalf("start page after the link: %d %.500s", r.Code, r.Body)
	}
	for _, st := range []struct {
		path string
		form url.Values
		next string
	}{
		{"/verify/verify_info", url.Values{"first_name": {"Xylodemofirst"}, "last_name": {"Quuxdemolast"}, "dob": {"1971-03-17"},
			"ssn": {"900-41-7723"}, "address1": {"4417 Zyzzyvademo Lane"}, "city": {"Arlington"}, "state": {"VA"}, "zipcode": {"22201"},
			"state_id_number": {"DEMOID77"}, "state_id_jurisdiction": {"VA"}}, "/verify/phone"},
		{"/verify/phone", url.Values{"phone": {"7035550199"}}, "/verify/result"},
	} {
		if err := p.Submit(ctx, st.path, st.form); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wait(ctx, st.path); err != nil {
			t.Fatal(err)
		}
		if got, err := p.Outcome(ctx, st.path); err != nil || got != st.next {
			t.Fatalf("%s went to %q (%v), want %s", st.path, got, err, st.next)
		}
	}
	result := do("GET", "/verify/result", nil)
	back := returnRE.FindSubmatch(result.Body)
	if result.Code != 200 || back == nil || !strings.Contains(string(result.Body), "Continue to idv demo") {
		t.Fatalf("result page: %d %.800s", result.Code, result.Body)
	}
	returnPath, ok := strings.CutPrefix(html.UnescapeString(string(back[1])), base)
	if !ok {
		t.Fatalf("return link %q is not on %s", back[1], base)
	}

	// Back at the demo: it refreshes until the final webhook arrived.
	var page string
	for {
		r := do("GET", returnPath, nil)
		page = string(r.Body)
		if r.Code != 200 {
			t.Fatalf("return page: %d %.800s", r.Code, page)
		}
		if !strings.Contains(page, `http-equiv="refresh"`) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the return page still waits: %.2000s", page)
		case <-time.After(200 * time.Millisecond): // the page's own refresh, faster
		}
	}
	for _, want := range []string{`id="status">verified<`, "<code>verification.processing</code>", "<code>verification.verified</code>",
		"signature verified", "<strong>receipt verified</strong>", "status <strong>verified</strong>"} {
		if !strings.Contains(page, want) {
			t.Errorf("return page lacks %q", want)
		}
	}
	for _, c := range canaries {
		if strings.Contains(page, c) {
			t.Errorf("return page shows %q", c)
		}
	}
}

// With document capture on (as `idv dev` runs by default) the demo asks
// for every step: its person starts at the document.
func TestDemoAsksForEveryStep(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	base := startDevWith(t, ctx, true)
	p := flow.New(base, nil)
	start, err := p.Do(ctx, "GET", "/demo", nil)
	if err != nil {
		t.Fatal(err)
	}
	key := keyRE.FindSubmatch(start.Body)
	if key == nil {
		t.Fatalf("demo page: %d", start.Code)
	}
	created, err := p.Do(ctx, "POST", "/demo/verify", url.Values{"idempotency_key": {string(key[1])}})
	link, ok := strings.CutPrefix(created.Location, base)
	if err != nil || !ok {
		t.Fatalf("verify: %v %d to %q", err, created.Code, created.Location)
	}
	for _, path := range []string{link, "/"} {
		if _, err := p.Do(ctx, "GET", path, nil); err != nil {
			t.Fatal(err)
		}
	}
	r, err := p.Do(ctx, "GET", "/", nil)
	if err != nil || !strings.Contains(string(r.Body), `href="/verify/document_capture"`) {
		t.Fatalf("start page after the link: %v %d %.600s", err, r.Code, r.Body)
	}
}

// A webhook that idv did not sign is refused and not shown.
func TestDemoRefusesUnsignedWebhooks(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	base := startDev(t, ctx)
	body := `{"type":"verification.verified","timestamp":"2026-01-01T00:00:00Z","data":{"verification_id":"vrf_forged","status":"verified"}}`
	for _, tc := range []struct {
		name    string
		headers map[string]string
	}{
		{"no signature", nil},
		{"a signature with another secret", map[string]string{"webhook-id": "evt_forged", "webhook-timestamp": strconv.FormatInt(time.Now().Unix(), 10),
			"webhook-signature": "v1," + base64.StdEncoding.EncodeToString([]byte("not-the-signature-of-this-body!!"))}},
	} {
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/demo/webhooks", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: HTTP %d, want 401", tc.name, res.StatusCode)
		}
	}
	res, err := http.Get(base + "/demo/return?verification_id=vrf_forged")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(b), "verification.verified") {
		t.Fatalf("a forged event is shown: %.1000s", b)
	}
}

// startDev starts `idv dev` in this process on a data dir of the test's own
// and returns its URL; it stops when the test ends.
func startDev(t *testing.T, ctx context.Context) string {
	t.Helper()
	return startDevWith(t, ctx, false)
}

func startDevWith(t *testing.T, ctx context.Context, documents bool) string {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Web.Addr, cfg.Web.SecureCookies = "127.0.0.1:0", false
	cfg.Keys.File = filepath.Join(dir, "keys.json")
	cfg.DocAuth.Enabled = documents
	cfg.Verifications.WebhooksAllowInsecure = true // the demo's endpoint is on loopback, as in `idv dev`
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r, err := app.StartDev(rctx, cfg, telemetry.NewLogger(io.Discard, slog.LevelInfo), dir)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		if err := r.Wait(); err != nil {
			t.Errorf("idv dev stopped with %v", err)
		}
	})
	return r.URL
}

// The other door in `idv dev`: the demo's "Sign in with idv" is OpenID
// Connect with go-oidc and x/oauth2. The person goes through the same
// steps; Continue returns them to the demo's redirect URI with a code, and
// the demo shows the ID token verified and which verified claims arrived
// (names, never values).
func TestDemoSignInWithOIDC(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	base := startDev(t, ctx)
	p := flow.New(base, nil)
	do := func(method, path string, form url.Values) flow.Response {
		t.Helper()
		r, err := p.Do(ctx, method, path, form)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if start := do("GET", "/demo", nil); !strings.Contains(string(start.Body), "Sign in with idv (OpenID Connect)") {
		t.Fatalf("demo page: %d %.500s", start.Code, start.Body)
	}
	r := do("POST", "/demo/oidc/start", url.Values{})
	authorize, ok := strings.CutPrefix(r.Location, base)
	if r.Code != http.StatusSeeOther || !ok || !strings.HasPrefix(authorize, "/oidc/authorize?") ||
		!strings.Contains(authorize, "code_challenge_method=S256") || !strings.Contains(authorize, "claims=") {
		t.Fatalf("sign-in: %d to %q", r.Code, r.Location)
	}
	if r = do("GET", authorize, nil); r.Code != http.StatusFound || !strings.HasPrefix(r.Location, "/oidc/login?id=") {
		t.Fatalf("authorize: %d to %q %.300s", r.Code, r.Location, r.Body)
	}
	if r = do("GET", r.Location, nil); r.Code != http.StatusSeeOther || r.Location != "/" {
		t.Fatalf("login: %d to %q %.300s", r.Code, r.Location, r.Body)
	}
	for _, st := range []struct {
		path string
		form url.Values
		next string
	}{
		{"/verify/verify_info", url.Values{"first_name": {"Xylodemofirst"}, "last_name": {"Quuxdemolast"}, "dob": {"1971-03-17"},
			"ssn": {"900-41-7723"}, "address1": {"4417 Zyzzyvademo Lane"}, "city": {"Arlington"}, "state": {"VA"}, "zipcode": {"22201"},
			"state_id_number": {"DEMOID77"}, "state_id_jurisdiction": {"VA"}}, "/verify/phone"},
		{"/verify/phone", url.Values{"phone": {"7035550199"}}, "/verify/result"},
	} {
		if err := p.Submit(ctx, st.path, st.form); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wait(ctx, st.path); err != nil {
			t.Fatal(err)
		}
		if got, err := p.Outcome(ctx, st.path); err != nil || got != st.next {
			t.Fatalf("%s went to %q (%v), want %s", st.path, got, err, st.next)
		}
	}
	if result := do("GET", "/verify/result", nil); !strings.Contains(string(result.Body), `href="/oidc/continue"`) {
		t.Fatalf("result page: %d %.800s", result.Code, result.Body)
	}
	r = do("GET", "/oidc/continue", nil)
	callback, ok := strings.CutPrefix(r.Location, base)
	if r.Code != http.StatusFound || !ok || !strings.HasPrefix(callback, "/demo/oidc/callback?code=") {
		t.Fatalf("continue: %d to %q", r.Code, r.Location)
	}
	r = do("GET", callback, nil)
	page := string(r.Body)
	for _, want := range []string{`id="oidc-signed-in"`, "<code>nist_800_63A</code>", "<code>family_name</code>, <code>given_name</code>",
		"electronic_record (identity_resolution)", "electronic_record (mobile_operator)"} {
		if !strings.Contains(page, want) {
			t.Errorf("callback page lacks %q: %.1500s", want, page)
		}
	}
	for _, c := range canaries {
		if strings.Contains(page, c) {
			t.Errorf("callback page shows %q", c)
		}
	}
}
