package web

// The person's pages in a real browser: Debian's Chromium, headless, driven
// with chromedp against the harness's server. It walks every ending of the
// flow (success, warning, final failure, rate limited, timeout, exception,
// missing, document failure, and the 404 page) at a desktop and a phone
// size, runs axe-core on each page (no violation allowed), checks that
// focus moves to the error summary of a refused form and that the waiting
// page names the check running, and saves a screenshot of every page in
// $IDV_TEST_ARTIFACTS (default testdata/screenshots, kept out of git).
//
// axe-core comes from the npm registry, pinned by version and integrity
// (axeSource); it is never committed.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/ratelimit/memory"
)

// axe-core, pinned: the version and the npm registry's integrity of its
// package (npm view axe-core@4.10.3 dist.integrity).
const (
	axeVersion   = "4.10.3"
	axeIntegrity = "sha512-Xm7bpRXnDSX2YE2YFfBk2FnF0ep6tmG7xPh8iHee8MIcrgq762Nkce856dYtJYLkuIoYZvGfTs/PbZhideTcEg=="
)

// axeSource returns axe.min.js of the pinned axe-core: from $IDV_AXE_DIR or
// a cache under the temporary directory, else fetched once with `npm pack`
// (the npm registry's package, its integrity checked here) and kept there
// with its license.
func axeSource(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("IDV_AXE_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "idv-axe-core-"+axeVersion)
	}
	file := filepath.Join(dir, "axe.min.js")
	if b, err := os.ReadFile(file); err == nil {
		return string(b)
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("axe-core %s is not in %s and npm is not installed to fetch it (apt-get install npm; .ci/services does)", axeVersion, dir)
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "pack", "axe-core@"+axeVersion, "--pack-destination", tmp, "--silent")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm pack axe-core@%s: %v\n%s", axeVersion, err, out)
	}
	tgz, err := os.ReadFile(filepath.Join(tmp, "axe-core-"+axeVersion+".tgz"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(tgz)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != axeIntegrity {
		t.Fatalf("axe-core %s package has integrity %s, want %s", axeVersion, got, axeIntegrity)
	}
	files := untar(t, tgz, "package/axe.min.js", "package/LICENSE")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"LICENSE": files["package/LICENSE"], "axe.min.js": files["package/axe.min.js"]} {
		part := filepath.Join(dir, name+".part"+idv.NewID())
		if err := os.WriteFile(part, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(part, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return string(files["package/axe.min.js"])
}

// untar returns the named files of a .tgz.
func untar(t *testing.T, tgz []byte, names ...string) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if h.Name == n {
				if out[n], err = io.ReadAll(tr); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, n := range names {
		if out[n] == nil {
			t.Fatalf("%s is not in the package", n)
		}
	}
	return out
}

// walk is one ending walked at one size.
type walk struct {
	t      *testing.T
	ctx    context.Context
	h      *harness
	size   string
	ending string
	axe    string
	shots  string
}

func (b *walk) within(what string, a chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	withinT(b.t, b.ctx, what, a)
}

func withinT[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(cctx, a)
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
		t.Fatalf("%s: %v (at %s)\n%.1500s", what, err, loc, body)
	}
	return v
}

// until waits for a JavaScript condition. It asks again and again rather
// than with chromedp.Poll, whose wait ends in an error when the page
// navigates (which is what most conditions wait for).
func (b *walk) until(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(cctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("%s: %v", what, b.ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	b.t.Fatalf("%s: not so within 30 s (last error %v) at %s\n%.1500s", what, last, loc, body)
}

// axeViolation is what the test reports of one axe-core violation.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// check runs axe-core on the page (every rule axe runs by default, WCAG 2.x
// A and AA and best practices) and saves a screenshot.
func (b *walk) check(page string) {
	b.t.Helper()
	// Nothing runs off the side: no page scrolls sideways, at any size.
	if wide := withinT(b.t, b.ctx, "width", chromedp.Evaluate[string](`(function () {
		if (document.documentElement.scrollWidth <= window.innerWidth) return "";
		var out = [];
		document.querySelectorAll("body *").forEach(function (el) {
			var r = el.getBoundingClientRect();
			if (r.right > window.innerWidth + 0.5) out.push(el.tagName + "." + el.className + " " + Math.round(r.right));
		});
		return document.documentElement.scrollWidth + " > " + window.innerWidth + ": " + out.slice(0, 5).join(", ");
	})()`)); wide != "" {
		b.t.Errorf("%s, %s, %s page is wider than the screen: %s", b.ending, b.size, page, wide)
	}
	for _, v := range b.runAxe(page) {
		b.t.Errorf("%s, %s, %s page: axe %s (%s): %s at %v", b.ending, b.size, page, v.ID, v.Impact, v.Help, v.Nodes)
	}
	png := withinT(b.t, b.ctx, "screenshot", chromedp.FullScreenshot(100))
	name := filepath.Join(b.shots, fmt.Sprintf("%s-%s-%s.png", b.size, b.ending, page))
	if err := os.WriteFile(name, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// runAxe runs axe-core on the page and returns its violations.
func (b *walk) runAxe(page string) []axeViolation {
	b.t.Helper()
	withinT(b.t, b.ctx, "load axe-core", chromedp.Evaluate[chromedp.Void](b.axe))
	raw := withinT(b.t, b.ctx, "axe "+page, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(function (r) {
		return JSON.stringify(r.violations.map(function (v) {
			return {id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(function (n) { return n.target.join(" "); })};
		}));
	})`, chromedp.EvalAwaitPromise))
	var violations []axeViolation
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		b.t.Fatal(err)
	}
	return violations
}

// text is the main element's text.
func (b *walk) text() string {
	b.t.Helper()
	return withinT(b.t, b.ctx, "page text", chromedp.Evaluate[string](`document.querySelector("main").innerText`))
}

func (b *walk) expect(words ...string) {
	b.t.Helper()
	text := b.text()
	for _, w := range words {
		if !strings.Contains(text, w) {
			b.t.Fatalf("%s, %s: the page does not say %q:\n%s", b.ending, b.size, w, text)
		}
	}
}

// lastJob is the result id of the attempt just submitted.
func (b *walk) lastJob() string {
	jobs := b.h.queue.Jobs()
	return jobs[len(jobs)-1].ResultID
}

// begin opens a new verification's link for the ending (reference names
// the person, so limits do not carry over between endings) and follows the
// start page's button into the first step.
func (b *walk) begin(documents bool, identityMax int) {
	b.t.Helper()
	h := b.h
	now := time.Now().UTC()
	ref := "person-" + b.size + "-" + b.ending
	v := idv.Verification{ID: "vrf_" + idv.NewID(), RelyingPartyID: h.rp.ID, ClientReferenceID: ref,
		ReturnURL: h.rp.ReturnURLs[0], CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if documents {
		v.Steps = append(v.Steps, idv.StepRecord{Step: idv.StepDocument, MaxAttempts: ratelimit.IDVDocAuth.Max})
	}
	v.Steps = append(v.Steps, idv.StepRecord{Step: idv.StepIdentity, MaxAttempts: cmpOr(identityMax, ratelimit.IDVResolution.Max)},
		idv.StepRecord{Step: idv.StepPhone, MaxAttempts: ratelimit.ProofAddress.Max})
	token, hash := idv.NewToken(idv.LinkTokenPrefix)
	if _, _, _, err := h.queue.CreateVerificationWithLink(context.Background(), queue.NewVerification{Verification: v},
		queue.NewLink{TokenHash: hash, ExpiresAt: now.Add(time.Hour)}); err != nil {
		b.t.Fatal(err)
	}
	b.within("the link", chromedp.Navigate(h.srv.URL+"/start/"+token))
	b.until("start page", `!!document.querySelector("main a.button")`)
	b.check("start")
	b.click("start", `main a.button`)
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// capture adds both photos (the script checks them and shows previews) and
// continues to the waiting page.
func (b *walk) capture(dir string) {
	b.t.Helper()
	b.until("capture page", `!!document.querySelector("[data-side=front][data-state=empty]") && !!document.querySelector("[data-side=back][data-state=empty]")`)
	b.check("capture")
	// Continue with no photo: the page's own error summary lists both
	// sides and takes focus.
	b.click("continue without photos", `#capture button[type=submit]`)
	b.until("capture error summary has focus", `document.activeElement && document.activeElement.matches("[data-form-error]") && document.querySelectorAll("[data-form-error-list] a").length === 2`)
	b.check("capture-error")
	b.within("front", chromedp.SetUploadFiles(chromedp.CSS(`#front`), []string{filepath.Join(dir, "front.png")}))
	b.within("back", chromedp.SetUploadFiles(chromedp.CSS(`#back`), []string{filepath.Join(dir, "back.png")}))
	b.until("previews", `!document.querySelector("[data-side=front] [data-preview]").hidden && !document.querySelector("[data-side=back] [data-preview]").hidden`)
	if hidden := withinT(b.t, b.ctx, "progress", chromedp.Evaluate[bool](`getComputedStyle(document.querySelector("[data-progress]")).display === "none"`)); !hidden {
		b.t.Error("a progress bar shows before any upload")
	}
	b.check("capture-chosen")
	b.click("continue", `#capture button[type=submit]`)
	b.waiting("document")
}

// waiting waits for the waiting page and checks it.
func (b *walk) waiting(name string) {
	b.t.Helper()
	b.until("waiting page", `!!document.querySelector(".wait")`)
	b.check("waiting-" + name)
}

// finish ends the attempt in flight with res.
func (b *walk) finish(res idv.ProofingResult) {
	b.t.Helper()
	b.h.finish(b.lastJob(), &res)
}

// fillInfo fills the verify_info form (only the SSN when the ID filled the
// rest) and continues.
func (b *walk) fillInfo(bound bool) {
	b.t.Helper()
	// Each walk its own SSN and ID number: their limits follow them
	// across verifications.
	n := submits.Add(1)
	b.until("verify_info", `!!document.querySelector("#ssn")`)
	if !bound {
		for id, v := range map[string]string{"first_name": "Jane", "last_name": "Doe", "dob_month": "2", "dob_day": "3", "dob_year": "1980",
			"address1": "1 Main St", "city": "Springfield", "state": "VA", "zipcode": "22201", "state_id_number": fmt.Sprintf("D%07d", n), "state_id_jurisdiction": "VA"} {
			b.fill(id, v)
		}
	}
	b.fill("ssn", fmt.Sprintf("900-12-%04d", n))
	b.click("continue", `form button[type=submit]`)
}

// click clicks the element sel selects, once it is there. The click runs
// after the script has answered, so a navigation it starts cannot make the
// answer fail and the click run again on the next page.
func (b *walk) click(what, sel string) {
	b.t.Helper()
	b.until(what, fmt.Sprintf(`(function () {
		var el = document.querySelector(%q);
		if (!el) return false;
		setTimeout(function () { el.click(); }, 0);
		return true;
	})()`, sel))
}

// fill sets a field's value as typing would leave it. It is one script,
// asked again until the field is there, rather than chromedp.SetValue,
// whose node can go stale under a busy machine.
func (b *walk) fill(id, value string) {
	b.t.Helper()
	b.until("fill "+id, fmt.Sprintf(`(function () {
		var el = document.getElementById(%q);
		if (!el) return false;
		el.value = %q;
		el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true}));
		return el.value === %q;
	})()`, id, value, value))
}

// outcome waits for the page at path (a prefix) and checks it.
func (b *walk) outcome(path, page string, words ...string) {
	b.t.Helper()
	b.until(page, fmt.Sprintf(`location.pathname + location.search === %q || (location.pathname + location.search).startsWith(%q)`, path, path))
	b.until(page+" rendered", `document.readyState === "complete"`)
	b.expect(words...)
	b.check(page)
}

var submits atomic.Int64

var idCard = &idv.Applicant{FirstName: "Fakey", LastName: "Mcfakerson", DOB: "1938-10-06", Address1: "1 Fake Rd",
	City: "Great Falls", State: "MT", ZIPCode: "59010", StateIDNumber: "1111111111111", StateIDJurisdiction: "ND", StateIDExpiration: "2099-12-31"}

func TestPagesInBrowser(t *testing.T) {
	t.Parallel()
	axe := axeSource(t)
	opts := testenv.ChromiumOptions(t)
	shots := os.Getenv("IDV_TEST_ARTIFACTS")
	if shots == "" {
		shots = filepath.Join("testdata", "screenshots")
	}
	shots = filepath.Join(shots, "pages")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	lim := memory.New(time.Now)
	h := newHarnessOpts(t, func(o *Options) {
		o.Documents = &DocumentOptions{Objects: &fake.ObjectStore{}}
		o.Limiter = lim
		o.Config.HelpURL = "https://help.example/identity"
		o.Config.HelpText = "Our help team answers every day from 8 am to 8 pm Eastern time."
	})
	dir := t.TempDir()
	for name, b := range map[string][]byte{"front.png": testenv.PNG(t, 320, 200), "back.png": testenv.PNG(t, 320, 200)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if _, err := chromedp.Run(bctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser; no deadline
		t.Fatalf("start Chromium: %v", err)
	}

	endings := []struct {
		name string
		walk func(b *walk)
	}{
		{"success", func(b *walk) {
			b.begin(true, 0)
			b.capture(dir)
			b.finish(idv.ProofingResult{Outcome: idv.OutcomeSuccess, Applicant: idCard})
			// A refused form: the error summary lists the error, takes
			// focus, and the title says "Error:".
			b.until("verify_info", `!!document.querySelector("#ssn")`)
			b.check("verify-info")
			b.click("continue without the SSN", `form button[type=submit]`)
			b.until("error summary has focus", `document.activeElement && document.activeElement.matches("[data-error-summary]")`)
			if title := withinT(b.t, b.ctx, "title", chromedp.Evaluate[string]("document.title")); !strings.HasPrefix(title, "Error: ") {
				b.t.Errorf("title of a refused form: %q", title)
			}
			b.expect("There is a problem", "Enter a nine-digit Social Security number.")
			b.check("verify-info-error")
			b.fillInfo(true)
			b.waiting("verify-info")
			// The job moves on to the state's check: the page says so.
			if err := b.h.results.Store(context.Background(), b.lastJob(), idv.AsyncResult{Status: idv.StatusInProgress, Stage: "state_id"}); err != nil {
				b.t.Fatal(err)
			}
			b.until("the state's check announced", `document.querySelector("[data-announce]").textContent.includes("state that issued")`)
			b.check("waiting-verify-info-state")
			b.finish(idv.ProofingResult{Outcome: idv.OutcomeSuccess})
			b.until("phone page", `!!document.querySelector("#phone")`)
			b.check("phone")
			b.fill("phone", "703 555 0100")
			b.click("continue", `form button[type=submit]`)
			b.waiting("phone")
			b.finish(idv.ProofingResult{Outcome: idv.OutcomeSuccess})
			b.outcome("/verify/result", "result", "You've verified your identity", "Continue to Test Service")
		}},
		{"document-failure", func(b *walk) {
			b.begin(true, 0)
			b.capture(dir)
			b.finish(idv.ProofingResult{Outcome: idv.OutcomeFailure, Stages: []idv.Stage{{Name: "document",
				Result: idv.VendorResult{Errors: map[string][]string{"front": {idv.DocCodeBarcodeUnreadable}}}}}})
			b.outcome("/verify/errors/warning?step=document_capture", "warning", "We couldn't verify your ID", "attempts left", "Try again")
		}},
		{"warning", func(b *walk) {
			b.begin(false, 0)
			b.fillInfo(false)
			b.waiting("verify-info")
			b.finish(idv.ProofingResult{Outcome: idv.OutcomeFailure})
			b.outcome("/verify/errors/warning?step=verify_info", "warning", "We couldn't match your information", "4 attempts left")
		}},
		{"final-failure", func(b *walk) {
			b.begin(false, 1)
			b.fillInfo(false)
			b.waiting("verify-info")
			b.finish(idv.ProofingResult{Outcome: idv.OutcomeFailure})
			b.outcome("/verify/result", "result", "verify your identity online", "You can try again in about 6 hours", "Get help", "Our help team answers")
		}},
		{"rate-limited", func(b *walk) {
			target := "rp:" + b.h.rp.ID + ":person-" + b.size + "-" + b.ending
			for range ratelimit.IDVResolution.Max {
				if _, err := lim.Increment(context.Background(), ratelimit.IDVResolution, target); err != nil {
					b.t.Fatal(err)
				}
			}
			b.begin(false, 0)
			b.fillInfo(false)
			b.outcome("/verify/errors/rate_limited?step=verify_info", "rate-limited", "You've tried too many times", "You can try again in about 6 hours", "Get help")
		}},
		{"timeout", func(b *walk) {
			b.begin(false, 0)
			b.fillInfo(false)
			b.waiting("verify-info")
			b.finish(idv.ProofingResult{Outcome: idv.OutcomeTimedOut})
			b.outcome("/verify/errors/timeout?step=verify_info", "timeout", "Checking your information took too long", "This didn't use one of your attempts", "Try again")
		}},
		{"exception", func(b *walk) {
			b.begin(false, 0)
			b.fillInfo(false)
			b.waiting("verify-info")
			b.finish(idv.ProofingResult{Outcome: idv.OutcomeException})
			b.outcome("/verify/errors/exception?step=verify_info", "exception", "We couldn't finish checking your information", "This didn't use one of your attempts")
		}},
		{"missing", func(b *walk) {
			b.begin(false, 0)
			b.fillInfo(false)
			b.waiting("verify-info")
			b.h.expireResults()
			b.until("the form again", `!document.querySelector(".wait") && !!document.querySelector("#first_name")`)
			b.outcome("/verify/verify_info", "missing", "taking longer than usual", "didn't use one of your attempts")
			if v := withinT(b.t, b.ctx, "kept", chromedp.Evaluate[string](`document.querySelector("#first_name").value`)); v != "Jane" {
				b.t.Errorf("the name typed before is not kept: %q", v)
			}
		}},
		{"not-found", func(b *walk) {
			b.within("unknown page", chromedp.Navigate(b.h.srv.URL+"/no/such/page"))
			b.outcome("/no/such/page", "404", "Page not found")
		}},
	}
	// A control: axe finds what it should on a page made wrong on
	// purpose (a picture without a text alternative).
	t.Run("control", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(bctx, time.Minute)
		defer cancel()
		b := &walk{t: t, ctx: ctx, h: h, axe: axe}
		b.within("a page", chromedp.Navigate(h.srv.URL+"/no/such/page"))
		b.until("rendered", `document.readyState === "complete"`)
		withinT(t, ctx, "spoil it", chromedp.Evaluate[chromedp.Void](`document.querySelector("main").appendChild(document.createElement("img"))`))
		found := false
		for _, v := range b.runAxe("control") {
			found = found || v.ID == "image-alt"
		}
		if !found {
			t.Fatal("axe-core did not report a picture without alt text")
		}
	})
	sizes := []struct {
		name string
		vp   chromedp.Action[chromedp.Void]
	}{
		{"desktop", chromedp.EmulateViewport(1280, 900)},
		{"phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulatePortrait, chromedp.EmulateScale(2))},
	}
	for _, size := range sizes {
		for _, e := range endings {
			t.Run(size.name+"/"+e.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
				defer cancel()
				if _, err := chromedp.Run(ctx, size.vp); err != nil {
					t.Fatal(err)
				}
				e.walk(&walk{t: t, ctx: ctx, h: h, size: size.name, ending: e.name, axe: axe, shots: shots})
			})
		}
	}
}
