package web

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/seal"
)

const (
	adminUser     = "ops"
	adminPassword = "e3Jx9Q2mV7pL0sK4wT8yB1nC" // random, as the docs ask
)

// adminCanary is PII sealed into the job the admin UI lists.
var adminCanary = idv.Applicant{FirstName: "AdminCanaryFirst", LastName: "AdminCanaryLast", SSN: "900-55-4321",
	DOB: "1971-02-03", Address1: "9 Canary Court", City: "Canaryton", State: "VA", ZIPCode: "20002", Phone: "7035550199"}

// adminEnv is a web server whose admin UI shows a real PostgreSQL schema
// holding one resolution job with sealed canary arguments.
type adminEnv struct {
	*harness
	job idv.Job
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	schema, url := testenv.Schema(t)
	queueLog, _ := testenv.Logger(t)
	q, err := queue.OpenPostgres(c, url, queue.Config{Schema: schema, Logger: queueLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	if err := q.Migrate(c); err != nil {
		t.Fatal(err)
	}

	// Seal the arguments as the web tier does, with the real envelope.
	ring, err := seal.NewLocalKeyRing(map[string][]byte{"k1": make([]byte, seal.MasterKeySize)}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	env, err := seal.NewEnvelope(ring, seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cs := idv.CaptureSession{ID: idv.NewID(), ResultID: idv.NewID(), Kind: idv.JobResolution, RequestedAt: now}
	job := idv.Job{Kind: idv.JobResolution, ResultID: cs.ResultID, TraceID: idv.NewID(), EnqueuedAt: now}
	plain, _ := json.Marshal(idv.ResolutionArguments{Applicant: adminCanary})
	if job.EncryptedArguments, err = env.Seal(c, plain, idv.JobAAD(job.Kind, job.ResultID)); err != nil {
		t.Fatal(err)
	}
	if err := q.Submit(c, cs, job); err != nil {
		t.Fatal(err)
	}

	uiCtx, stopUI := context.WithCancel(context.Background())
	t.Cleanup(stopUI)
	ui, err := q.AdminHandler(uiCtx, AdminPrefix)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(adminPassword))
	h := newHarnessOpts(t, func(o *Options) {
		o.Admin = &Admin{Handler: ui, User: adminUser, PasswordSHA256: sum[:]}
	})
	return &adminEnv{harness: h, job: job}
}

// request sends method path with the given Basic credentials (none if user
// is empty) and extra headers.
func (e *adminEnv) request(t *testing.T, method, path, user, pass string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (e *adminEnv) assertNoPII(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range []string{adminCanary.FirstName, adminCanary.LastName, adminCanary.SSN, adminCanary.Address1,
		adminCanary.Phone, base64.StdEncoding.EncodeToString(e.job.EncryptedArguments)[:20]} {
		if strings.Contains(text, s) {
			t.Fatalf("%s shows %q:\n%s", what, s, text)
		}
	}
}

func TestAdminAuthentication(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	tests := []struct {
		name, path, user, pass string
	}{
		{"no credentials", AdminPrefix + "/", "", ""},
		{"no credentials, no slash", AdminPrefix, "", ""},
		{"no credentials, API", AdminPrefix + "/api/jobs?state=available", "", ""},
		{"no credentials, asset", AdminPrefix + "/favicon.ico", "", ""},
		{"wrong password", AdminPrefix + "/api/jobs?state=available", adminUser, "wrong"},
		{"password of another length", AdminPrefix + "/", adminUser, adminPassword + "x"},
		{"wrong user", AdminPrefix + "/", "admin", adminPassword},
		{"empty password", AdminPrefix + "/", adminUser, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := e.request(t, http.MethodGet, tc.path, tc.user, tc.pass, nil)
			if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("got %d %q, want 401 with a Basic challenge", res.StatusCode, res.Header.Get("WWW-Authenticate"))
			}
			if strings.TrimSpace(body) != "Authentication required." {
				t.Fatalf("401 body %q says more than it should", body)
			}
			e.assertNoPII(t, "401", body)
		})
	}
	if logs := e.logs.String(); strings.Contains(logs, `"admin"`) || strings.Contains(logs, "wrong") && strings.Contains(logs, `"wrong"`) {
		t.Fatalf("logs name an attempted user or password:\n%s", logs)
	}
}

func TestAdminServesUIAndAPI(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)

	res, body := e.request(t, http.MethodGet, AdminPrefix+"/", adminUser, adminPassword, map[string]string{"Accept": "text/html"})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `<div id="root"`) || !strings.Contains(body, AdminPrefix+"/assets/") {
		t.Fatalf("UI: %d\n%s", res.StatusCode, body)
	}
	if got := res.Header.Get("Content-Security-Policy"); got != adminCSP {
		t.Fatalf("admin CSP = %q, want %q", got, adminCSP)
	}
	// The rest of the site keeps its stricter policy.
	main, _ := e.request(t, http.MethodGet, "/", "", "", nil)
	if csp := main.Header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || csp == "" {
		t.Fatalf("main CSP = %q", csp)
	}

	res, body = e.request(t, http.MethodGet, AdminPrefix+"/api/jobs?state=available", adminUser, adminPassword, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("jobs API: %d %s", res.StatusCode, body)
	}
	var list struct {
		Data []struct {
			ID   int64  `json:"id"`
			Kind string `json:"kind"`
			Args string `json:"args"`
		}
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Data) != 1 || list.Data[0].Kind != string(idv.JobResolution) {
		t.Fatalf("jobs API answer %s: %v", body, err)
	}
	if !strings.Contains(list.Data[0].Args, e.job.TraceID) {
		t.Fatalf("args %q lost the routing fields", list.Data[0].Args)
	}
	e.assertNoPII(t, "jobs API", body)
	res, body = e.request(t, http.MethodGet, fmt.Sprintf("%s/api/jobs/%d", AdminPrefix, list.Data[0].ID), adminUser, adminPassword, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("job API: %d %s", res.StatusCode, body)
	}
	e.assertNoPII(t, "job API", body)
	e.assertNoPII(t, "logs", e.logs.String())
}

// TestAdminCrossOriginRefused: the UI's API changes jobs, and browsers send
// Basic credentials on their own, so another site's request is refused
// while the UI's own is not.
func TestAdminCrossOriginRefused(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	_, body := e.request(t, http.MethodGet, AdminPrefix+"/api/jobs?state=available", adminUser, adminPassword, nil)
	var list struct{ Data []struct{ ID int64 } }
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Data) != 1 {
		t.Fatalf("jobs: %s", body)
	}
	cancel := func(site string) int {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+AdminPrefix+"/api/jobs/cancel",
			strings.NewReader(fmt.Sprintf(`{"ids":["%d"]}`, list.Data[0].ID)))
		req.SetBasicAuth(adminUser, adminPassword)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Sec-Fetch-Site", site)
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := cancel("cross-site"); code != http.StatusForbidden {
		t.Fatalf("cross-site cancel: %d, want 403", code)
	}
	if code := cancel("same-origin"); code != http.StatusOK {
		t.Fatalf("same-origin cancel: %d, want 200", code)
	}
}

func TestAdminDisabledWithoutOptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if code, _, _ := h.do(http.MethodGet, AdminPrefix+"/", nil); code != http.StatusNotFound {
		t.Fatalf("admin without Options.Admin: %d, want 404", code)
	}
}

func TestAdminOptionsChecked(t *testing.T) {
	t.Parallel()
	ok := func(o *Admin) {}
	sum := sha256.Sum256([]byte("x"))
	for name, mutate := range map[string]func(*Admin){
		"no handler":      func(a *Admin) { a.Handler = nil },
		"no user":         func(a *Admin) { a.User = "" },
		"colon in user":   func(a *Admin) { a.User = "a:b" },
		"short hash":      func(a *Admin) { a.PasswordSHA256 = sum[:16] },
		"valid (control)": ok,
	} {
		a := &Admin{Handler: http.NotFoundHandler(), User: "ops", PasswordSHA256: sum[:]}
		mutate(a)
		err := a.check()
		if (name == "valid (control)") != (err == nil) {
			t.Errorf("%s: check() = %v", name, err)
		}
	}
}

// TestAdminUIInBrowser loads the UI in a real Chromium under the admin CSP:
// it must render the job list with no Content-Security-Policy violation.
func TestAdminUIInBrowser(t *testing.T) {
	t.Parallel()
	opts := testenv.ChromiumOptions(t)
	e := newAdminEnv(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if _, err := chromedp.Run(bctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser; no deadline
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(adminUser+":"+adminPassword))
	const recordViolations = `window.__csp = []; document.addEventListener("securitypolicyviolation",
		e => window.__csp.push(e.effectiveDirective + " " + e.blockedURI));`
	err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			if _, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: recordViolations})
			return err
		}),
		chromedp.Navigate(e.srv.URL+AdminPrefix+"/jobs?state=available"),
	)
	if err != nil {
		t.Fatal(err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Poll[string](`document.body.innerText.includes("`+string(idv.JobResolution)+`") && document.body.innerText`,
		chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		body, _ := chromedp.Run(bctx, chromedp.Evaluate[string]("document.documentElement.outerHTML"))
		t.Fatalf("the job list did not render: %v\n%.2000s", err, body)
	}
	e.assertNoPII(t, "the rendered UI", shown)
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string]("window.__csp"))
	if err != nil {
		t.Fatal(err)
	}
	// riverui's validation library probes once whether it may compile
	// code (Function("") in a try/catch) and works without; that probe is
	// the one refusal expected, and 'unsafe-eval' stays off.
	violations = slices.DeleteFunc(violations, func(v string) bool { return v == "script-src eval" })
	if len(violations) > 0 {
		t.Fatalf("Content-Security-Policy violations in the admin UI: %v", violations)
	}
	// The page's styles applied: riverui's stylesheet sets the body's
	// background, so an unstyled page would keep the default.
	bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	if err != nil || bg == "rgba(0, 0, 0, 0)" {
		t.Fatalf("the UI's stylesheet did not apply (body background %q, %v)", bg, err)
	}
}
