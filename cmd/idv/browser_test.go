package main

// The document step in a real browser: Debian's Chromium, headless, driven
// with chromedp, against the production shape with S3 (versitygw) and its
// CORS rule. The page's own script encrypts the photos with WebCrypto and
// uploads them; the test checks what reached the bucket, walks the flow to
// the outcome, and keeps screenshots of the capture, waiting and outcome
// pages in testdata/screenshots (a test artifact; .gitignore keeps it out of
// the repository).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/internal/testenv/flow"
	"github.com/idv-dev/idv/objects/s3"
	"github.com/idv-dev/idv/seal"
)

// newBrowser starts a headless Chromium for the test and returns a tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(testenv.ChromiumOptions(t), chromedp.WindowSize(1000, 1200))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first Run starts the browser; it must not carry a deadline.
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// onBase is a person's link as the test's browser reaches it: the same
// path on the web server's loopback address (the link names the public URL,
// which in these tests is not where the server listens).
func onBase(t *testing.T, base, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(u.Path, "/start/") {
		t.Fatalf("%q is not a person's link", link)
	}
	return base + u.RequestURI()
}

// waitCapture waits for the capture page, then for its script to listen
// for files: the script marks each side empty when it does (a file chosen
// on the page before, or before the script ran, would go unseen).
func waitCapture(t *testing.T, ctx context.Context) {
	t.Helper()
	within(t, ctx, 30*time.Second, "capture page", chromedp.WaitVisible(chromedp.CSS(`#front`)))
	within(t, ctx, 30*time.Second, "capture script", chromedp.Poll[bool](
		`document.querySelector('[data-side=front]').dataset.state === 'empty' && document.querySelector('[data-side=back]').dataset.state === 'empty'`))
}

// within runs a with a bound, so a page that never gets there fails the
// test instead of hanging it.
func within[T any](t *testing.T, ctx context.Context, d time.Duration, what string, a chromedp.Action[T]) T {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(cctx, a)
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
		t.Fatalf("%s: %v (at %s)\n%.1200s", what, err, loc, body)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := within(t, ctx, 20*time.Second, "screenshot "+name, chromedp.FullScreenshot(100))
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func TestBrowserDocumentFlow(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	s3srv := testenv.S3(t)
	// A slower document vendor, so the waiting page is there to see.
	slow := start(t, []string{"IDV_VENDORS_SIMULATOR_LATENCY=1500ms"}, "vendors", "vendors", "--addr", "127.0.0.1:0")
	env := append(append([]string{}, pe.env...), docEnv(s3srv)...)
	env = append(env, "IDV_VENDORS_DOCUMENT_URL="+slow.waitURL(t))
	// Upload URLs for 10 s, the shortest allowed: the page holds none
	// and must ask for one (and again, when near expiry) for each upload.
	env = append(env, "IDV_DOC_AUTH_UPLOAD_URL_EXPIRY=10s")
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", "127.0.0.1:0")
	worker := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	webURL := web.waitURL(t)
	worker.waitURL(t)
	// The browser reaches the web server through a recorder: every request
	// body the web server receives from the page is kept, to show that
	// none of it could open an image (doc_auth.image_encryption: hpke).
	rec := newBodyRecorder(t, webURL)
	base := rec.URL
	run1(t, append(env, "IDV_OBJECTS_CORS_ORIGIN="+base), "storage")
	store, err := s3.New(context.Background(), s3.Config{Bucket: s3srv.Bucket, Region: s3srv.Region, Endpoint: s3srv.Endpoint,
		PathStyle: true, AccessKeyID: s3srv.AccessKey, SecretAccessKey: s3srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	files := map[string][]byte{"front.yml": []byte(canaryDocument), "back.png": testenv.PNG(t, 64, 40), "notes.pdf": []byte("%PDF-1.4 not a photo")}
	files["back-again.png"] = files["back.png"] // the same photo chosen again: the same length
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := newBrowser(t)
	const step = 30 * time.Second

	// The relying party's link, then the start page, then the capture page.
	rp := newRP(t, env, webURL, nil)
	v, err := rp.Create(context.Background(), flow.NewVerification{ClientReferenceID: "browser-1"})
	if err != nil {
		t.Fatal(err)
	}
	within(t, ctx, step, "the link", chromedp.Navigate(onBase(t, base, v.URL)))
	within(t, ctx, step, "start page", chromedp.WaitVisible(chromedp.CSS(`a.button`)))
	within(t, ctx, step, "start", chromedp.Click(chromedp.CSS(`a.button`)))
	waitCapture(t, ctx)

	// A file that is not a photo is refused before anything is sent.
	within(t, ctx, step, "choose a PDF", chromedp.SetUploadFiles(chromedp.CSS(`#front`), []string{filepath.Join(dir, "notes.pdf")}))
	within(t, ctx, step, "PDF refused", chromedp.Poll[bool](`document.querySelector('[data-side=front]').dataset.state === 'invalid'`))
	if msg := within(t, ctx, step, "message", chromedp.Text(chromedp.CSS(`#front-error`))); !strings.Contains(msg, "not a photo") {
		t.Fatalf("message for a PDF: %q", msg)
	}

	// An upload that fails says so and offers a retry, which works. The
	// failure is a network error injected into the page's next request.
	within(t, ctx, step, "break the network once", chromedp.Evaluate[bool](`(function () {
		var send = XMLHttpRequest.prototype.send;
		XMLHttpRequest.prototype.send = function () {
			XMLHttpRequest.prototype.send = send;
			var xhr = this;
			setTimeout(function () { xhr.onerror(new ProgressEvent("error")); }, 0);
		};
		return true;
	})()`))
	within(t, ctx, step, "choose the front", chromedp.SetUploadFiles(chromedp.CSS(`#front`), []string{filepath.Join(dir, "front.yml")}))
	within(t, ctx, step, "upload failure shown", chromedp.Poll[bool](`document.querySelector('[data-side=front]').dataset.state === 'failed'`))
	if msg := within(t, ctx, step, "message", chromedp.Text(chromedp.CSS(`#front-error`))); !strings.Contains(msg, "didn't upload") {
		t.Fatalf("message for a failed upload: %q", msg)
	}
	within(t, ctx, step, "retry", chromedp.Click(chromedp.CSS(`[data-side=front] [data-retry]`)))
	within(t, ctx, step, "choose the back", chromedp.SetUploadFiles(chromedp.CSS(`#back`), []string{filepath.Join(dir, "back.png")}))
	within(t, ctx, step, "both uploaded", chromedp.Poll[bool](
		`document.querySelector('[data-side=front]').dataset.state === 'done' && document.querySelector('[data-side=back]').dataset.state === 'done'`))
	screenshot(t, ctx, "1-document-capture")

	// The page asked the server for its upload URLs (at least one per
	// side), and the URLs it used live 10 s and are bound to a length.
	const countAsks = `performance.getEntriesByType('resource').filter(function (e) { return e.name.indexOf('/verify/document_capture/upload_url') >= 0; }).length`
	asked := within(t, ctx, step, "URL requests", chromedp.Evaluate[int](countAsks))
	if asked < 2 {
		t.Fatalf("the page asked for %d upload URLs, want one per side at least", asked)
	}
	// Near expiry the page asks again: with the page's clock an hour on,
	// the URL it holds for the back is stale, and choosing the same photo
	// again (the same length) makes it ask for a fresh one.
	within(t, ctx, step, "clock an hour on", chromedp.Evaluate[bool](`(function () { var real = Date.now; Date.now = function () { return real() + 3600000; }; return true; })()`))
	within(t, ctx, step, "choose the back again", chromedp.SetUploadFiles(chromedp.CSS(`#back`), []string{filepath.Join(dir, "back-again.png")}))
	within(t, ctx, step, "back uploaded again", chromedp.Poll[bool](`document.querySelector('[data-side=back]').dataset.state === 'done'`))
	if n := within(t, ctx, step, "URL requests", chromedp.Evaluate[int](countAsks)); n <= asked {
		t.Fatalf("a stale URL was reused: %d URL requests before, %d after", asked, n)
	} else {
		asked = n
	}
	// A URL the store refuses (403: it expired on the way) makes the page
	// ask for a fresh one and upload again; the person sees no failure.
	within(t, ctx, step, "the store refuses once", chromedp.Evaluate[bool](`(function () {
		var send = XMLHttpRequest.prototype.send;
		XMLHttpRequest.prototype.send = function () {
			XMLHttpRequest.prototype.send = send;
			var xhr = this;
			Object.defineProperty(xhr, "status", { value: 403 });
			window.refusedOnce = true;
			setTimeout(function () { xhr.onload(new ProgressEvent("load")); }, 0);
		};
		return true;
	})()`))
	within(t, ctx, step, "choose the back once more", chromedp.SetUploadFiles(chromedp.CSS(`#back`), []string{filepath.Join(dir, "back.png")}))
	within(t, ctx, step, "back uploaded after the refusal", chromedp.Poll[bool](
		`window.refusedOnce === true && document.querySelector('[data-side=back]').dataset.state === 'done'`))
	if n := within(t, ctx, step, "URL requests", chromedp.Evaluate[int](countAsks)); n <= asked {
		t.Fatalf("after a 403 the page did not ask for a fresh URL: %d URL requests before, %d after", asked, n)
	}
	for _, side := range []string{"front", "back"} {
		used := within(t, ctx, step, side+" URL", chromedp.Value(chromedp.CSS(`input[name=`+side+`_image_url]`)))
		u, err := url.Parse(used)
		if err != nil || u.Query().Get("X-Amz-Expires") != "10" || !strings.Contains(u.Query().Get("X-Amz-SignedHeaders"), "content-length") {
			t.Fatalf("%s upload URL %q: want X-Amz-Expires=10 and a signed content-length", side, used)
		}
	}

	// The bucket holds ciphertext sealed to the workers' key: the
	// documented header (magic, version, the page's key id, enc), then
	// the ciphertext and tag; not the file, not its contents.
	captureID := within(t, ctx, step, "capture id", chromedp.Value(chromedp.CSS(`input[name=capture_id]`)))
	kid := within(t, ctx, step, "image key id", chromedp.AttributeValue(chromedp.CSS(`#capture`), "data-image-key-id")).Value
	for name, side := range map[string]idv.Side{"front.yml": idv.SideFront, "back.png": idv.SideBack} {
		got, err := store.Get(context.Background(), idv.DocumentImageKey(captureID, side))
		plain := files[name]
		h, herr := seal.ParseImageHeader(got)
		if err != nil || herr != nil || h.KeyID != kid || len(got) != h.Size+len(plain)+16 || bytes.Contains(got, plain[:12]) || bytes.Contains(got, []byte("Zorblecanary")) {
			t.Fatalf("%s in S3 is not the browser's ciphertext (%d bytes for %d, %v): %v", side, len(got), len(plain), herr, err)
		}
	}

	// Submit: the waiting page, then verify_info pre-filled from the ID.
	within(t, ctx, step, "submit", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	within(t, ctx, step, "waiting page", chromedp.WaitVisible(chromedp.CSS(`.wait`)))
	screenshot(t, ctx, "2-waiting")
	within(t, ctx, 90*time.Second, "verify_info", chromedp.WaitVisible(chromedp.CSS(`#ssn`)))
	if v := within(t, ctx, step, "what the ID says", chromedp.Text(chromedp.CSS(`dl.from-id`))); !strings.Contains(v, "Zorblecanary") {
		t.Fatalf("verify_info shows %q as read from the ID", v)
	}
	screenshot(t, ctx, "3-verify-info-prefilled")
	within(t, ctx, step, "type the SSN", chromedp.SendKeys(chromedp.CSS(`#ssn`), "900-41-7723"))
	within(t, ctx, step, "submit verify_info", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	within(t, ctx, 90*time.Second, "phone page", chromedp.WaitVisible(chromedp.CSS(`#phone`)))
	within(t, ctx, step, "type the phone", chromedp.SendKeys(chromedp.CSS(`#phone`), "7035550199"))
	within(t, ctx, step, "submit phone", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	within(t, ctx, 90*time.Second, "outcome", chromedp.WaitVisible(chromedp.CSS(`.alert-success`)))
	if text := within(t, ctx, step, "outcome text", chromedp.Text(chromedp.CSS(`main`))); !strings.Contains(text, "You've verified your identity") {
		t.Fatalf("outcome page: %q", text)
	}
	screenshot(t, ctx, "4-outcome")

	// A page on another origin cannot upload: the bucket's CORS rule
	// allows only idv's origin, so the browser's preflight fails and the
	// PUT is never sent.
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<!doctype html><title>elsewhere</title><p>another site</p>")
	}))
	t.Cleanup(foreign.Close)
	key := idv.DocumentImageKey(idv.NewID(), idv.SideFront)
	signed, err := store.PresignPut(context.Background(), key, int64(len("not from idv")), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	within(t, ctx, step, "foreign page", chromedp.Navigate(foreign.URL))
	got := within(t, ctx, step, "foreign upload", chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q, {method: "PUT", body: "not from idv",
		headers: {"Content-Type": "application/octet-stream"}}).then(function (r) { return "sent " + r.status; }, function (e) { return "blocked: " + e; })`, signed),
		chromedp.EvalAwaitPromise))
	if !strings.HasPrefix(got, "blocked") {
		t.Fatalf("upload from another origin: %s", got)
	}
	if _, err := store.Get(context.Background(), key); idv.ErrorCode(err) != idv.ENOTFOUND {
		t.Fatalf("the blocked upload reached the bucket: %v", err)
	}
	// The same URL works from outside a browser: what stopped the page was
	// CORS, not a bad URL.
	if code := putObject(t, signed, []byte("not from idv")); code != 200 {
		t.Fatalf("direct PUT: %d", code)
	}

	all := strings.ToLower(dumpStores(t, pe, web, worker).String())
	if strings.Contains(all, "zorblecanary") {
		t.Error("canary from the ID found in plaintext")
	}
	rec.assertNoKeyMaterial(t, captureID)
}

// bodyRecorder is a reverse proxy in front of the web server that keeps
// every request body it passes on.
type bodyRecorder struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []recordedBody
}

type recordedBody struct {
	method, path, contentType string
	body                      []byte
}

func newBodyRecorder(t *testing.T, target string) *bodyRecorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r := &bodyRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(u) // keeps the browser's Host, as a load balancer would
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, recordedBody{req.Method, req.URL.Path, req.Header.Get("Content-Type"), b})
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(b))
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

// keyLike finds what could be a key in a form value: a run of 43 or more
// base64 or base64url characters (32 bytes or more), or of 64 or more hex
// digits.
var keyLike = regexp.MustCompile(`[A-Za-z0-9+/_-]{43,}|[0-9a-fA-F]{64,}`)

// assertNoKeyMaterial checks what the web server received: the document
// form is the capture id and the two upload URLs and nothing else, no
// body has a key or IV field, and no value outside the upload URLs holds
// anything shaped like a key.
func (r *bodyRecorder) assertNoKeyMaterial(t *testing.T, captureID string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	documentPosts := 0
	for _, b := range r.bodies {
		if len(b.body) == 0 {
			continue
		}
		if !strings.HasPrefix(b.contentType, "application/x-www-form-urlencoded") {
			t.Errorf("%s %s: a %s body reached the web server", b.method, b.path, b.contentType)
			continue
		}
		form, err := url.ParseQuery(string(b.body))
		if err != nil {
			t.Errorf("%s %s: body does not parse: %v", b.method, b.path, err)
			continue
		}
		for name, values := range form {
			if strings.Contains(name, "key") || strings.HasSuffix(name, "_iv") {
				t.Errorf("%s %s: field %q reached the web server", b.method, b.path, name)
			}
			if strings.HasSuffix(name, "_image_url") {
				continue
			}
			for _, v := range values {
				if keyLike.MatchString(v) {
					t.Errorf("%s %s: field %q holds a value shaped like a key", b.method, b.path, name)
				}
			}
		}
		if b.path == "/verify/document_capture" {
			documentPosts++
			if got := slices.Sorted(maps.Keys(form)); !slices.Equal(got, []string{"back_image_url", "capture_id", "front_image_url"}) || form.Get("capture_id") != captureID {
				t.Errorf("the document form sent %v", got)
			}
		}
	}
	if documentPosts != 1 {
		t.Errorf("%d document forms reached the web server, want 1", documentPosts)
	}
	t.Logf("%d request bodies reached the web server, none with key material", len(r.bodies))
}

// TestBrowserDevMode: what a newcomer gets from `idv dev`, in a real
// browser. The photos go, encrypted, to the web server's own signed upload
// URLs (the local object store), through the same page and script, under the
// same Content-Security-Policy (connect-src 'self') and cross-origin checks.
func TestBrowserDevMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dev := start(t, nil, "web", "dev", "--addr", "127.0.0.1:0", "--data", dir)
	base := dev.waitURL(t)
	photo := filepath.Join(t.TempDir(), "id.png")
	if err := os.WriteFile(photo, testenv.PNG(t, 64, 40), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	const step = 30 * time.Second
	// No service sent this person: the development server's self-serve
	// start.
	within(t, ctx, step, "start page", chromedp.Navigate(base+"/"))
	within(t, ctx, step, "start", chromedp.Click(chromedp.CSS(`form[action="/start"] button`)))
	waitCapture(t, ctx)
	within(t, ctx, step, "choose the front", chromedp.SetUploadFiles(chromedp.CSS(`#front`), []string{photo}))
	within(t, ctx, step, "choose the back", chromedp.SetUploadFiles(chromedp.CSS(`#back`), []string{photo}))
	within(t, ctx, step, "both uploaded", chromedp.Poll[bool](
		`document.querySelector('[data-side=front]').dataset.state === 'done' && document.querySelector('[data-side=back]').dataset.state === 'done'`))
	if url := within(t, ctx, step, "upload URL", chromedp.Value(chromedp.CSS(`input[name=front_image_url]`))); !strings.HasPrefix(url, "/uploads/") || strings.HasPrefix(url, "//") {
		t.Fatalf("dev upload URL %q is not a path on the web server (same-origin at any host name)", url)
	}
	within(t, ctx, step, "submit", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	within(t, ctx, 60*time.Second, "verify_info", chromedp.WaitVisible(chromedp.CSS(`#ssn`)))
	if v := within(t, ctx, step, "what the ID says", chromedp.Text(chromedp.CSS(`dl.from-id`))); !strings.Contains(v, "MCFAKERSON") {
		t.Fatalf("verify_info shows %q as read from the ID", v)
	}
	// What the folder holds is gone (deleted after the result) or
	// ciphertext: never the photo.
	png := testenv.PNG(t, 64, 40)
	_ = filepath.WalkDir(filepath.Join(dir, "objects"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); bytes.Contains(b, png[:16]) {
				t.Errorf("%s holds the photo in the clear", path)
			}
		}
		return nil
	})
}
