package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/results"
	"github.com/idv-dev/idv/results/memory"
)

// harness is a Server behind a real HTTP server, and a person (a client with
// a cookie jar that does not follow redirects) using it. The Server runs on
// the shared doubles (package fake) and the real in-memory result store,
// whose entries expire on the harness's clock. The integration tests in
// cmd/idv run the same flows against PostgreSQL, Redis, S3 and the real
// sealer.
type harness struct {
	t       *testing.T
	srv     *httptest.Server
	client  *http.Client
	queue   *fake.Queue
	results *results.Store
	kv      *memory.KV     // the result store's backend, to corrupt a value
	clock   *testenv.Clock // the result store's time, to expire values
	logs    *testenv.Log
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

func newHarnessWith(t *testing.T, limiter ratelimit.Limiter) *harness {
	t.Helper()
	return newHarnessOpts(t, func(o *Options) { o.Limiter = limiter })
}

// newHarnessOpts builds a harness whose Options are changed by opt.
func newHarnessOpts(t *testing.T, opt func(*Options)) *harness {
	t.Helper()
	sm := scs.New()
	sm.Codec = SealedCodec{Sealer: fake.Sealer{}}
	h := &harness{t: t, queue: &fake.Queue{}, clock: testenv.NewClock()}
	h.kv = memory.NewKV(h.clock.Now)
	store, err := results.New(h.kv, fake.Sealer{}, results.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.results = store
	logger, logs := testenv.Logger(t)
	h.logs = logs
	o := Options{
		Queue: h.queue, Results: h.results, Sealer: fake.Sealer{}, Sessions: sm,
		Logger:         logger,
		Config:         Config{LongPoll: 2 * time.Second, FallbackPoll: 20 * time.Millisecond},
		FingerprintKey: bytes.Repeat([]byte{7}, 32),
	}
	opt(&o)
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(s)
	t.Cleanup(h.srv.Close)
	jar, _ := cookiejar.New(nil)
	h.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return h
}

func (h *harness) do(method, path string, form url.Values) (int, string, string) {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return h.send(req)
}

// send sends req as the person; it returns the status, the Location header
// and the body.
func (h *harness) send(req *http.Request) (int, string, string) {
	h.t.Helper()
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

func goodForm() url.Values {
	return url.Values{
		"first_name": {"Jane"}, "last_name": {"Doe"}, "dob": {"1980-02-03"}, "ssn": {"900-12-3456"},
		"address1": {"1 Main St"}, "city": {"Springfield"}, "state": {"VA"}, "zipcode": {"22201"},
		"state_id_number": {"D1234567"}, "state_id_jurisdiction": {"VA"},
	}
}

// attempt submits and lets the job finish with outcome; it returns where the
// step sends the person.
func (h *harness) attempt(outcome idv.Outcome) string {
	h.t.Helper()
	code, loc, _ := h.do("POST", "/verify/verify_info", goodForm())
	if loc != "/verify/verify_info" {
		return loc
	}
	if code != 303 {
		h.t.Fatalf("submit: %d", code)
	}
	jobs := h.queue.Jobs()
	_ = h.results.Store(context.Background(), jobs[len(jobs)-1].ResultID, idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{Outcome: outcome}})
	_, loc, _ = h.do("GET", "/verify/verify_info", nil)
	return loc
}

// expireResults moves the result store's clock past every stored value's
// TTL, as if the job never wrote its result in time.
func (h *harness) expireResults() { h.clock.Advance(idv.ResultTTL) }

// corruptResult replaces the stored value of result id with bytes that do
// not open.
func (h *harness) corruptResult(id string) {
	h.t.Helper()
	if err := h.kv.Put(context.Background(), h.results.Key(id), id, []byte("garbage"), time.Minute); err != nil {
		h.t.Fatal(err)
	}
}

func newDocHarness(t *testing.T, presigned bool) (*harness, *fake.ObjectStore) {
	t.Helper()
	objects := &fake.ObjectStore{}
	h := newHarnessOpts(t, func(o *Options) {
		o.Documents = &DocumentOptions{Objects: objects, Presigned: presigned}
	})
	return h, objects
}

var captureIDRE = regexp.MustCompile(`name="capture_id" value="([^"]+)"`)

// openCapture loads the capture page and returns its capture id.
func (h *harness) openCapture() string {
	h.t.Helper()
	code, _, body := h.do("GET", "/verify/document_capture", nil)
	m := captureIDRE.FindStringSubmatch(body)
	if code != 200 || m == nil {
		h.t.Fatalf("capture page: %d %.300s", code, body)
	}
	return m[1]
}

func b64(n int, fill byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, n))
}

// uploadedForm is what the page submits after uploading both images.
func uploadedForm(captureID string) url.Values {
	return url.Values{
		"capture_id":      {captureID},
		"encryption_key":  {b64(32, 1)},
		"front_image_iv":  {b64(12, 2)},
		"back_image_iv":   {b64(12, 3)},
		"front_image_url": {fake.ObjectURL(idv.DocumentImageKey(captureID, idv.SideFront))},
		"back_image_url":  {fake.ObjectURL(idv.DocumentImageKey(captureID, idv.SideBack))},
	}
}

// lastDocumentArgs opens the sealed arguments of the harness's last job.
func (h *harness) lastDocumentArgs() idv.DocumentArguments {
	h.t.Helper()
	jobs := h.queue.Jobs()
	if len(jobs) == 0 {
		h.t.Fatal("no job enqueued")
	}
	j := jobs[len(jobs)-1]
	plain, err := fake.Sealer{}.Open(context.Background(), j.EncryptedArguments, idv.JobAAD(j.Kind, j.ResultID))
	if err != nil || j.Kind != idv.JobDocument {
		h.t.Fatalf("job %s: %v", j.Kind, err)
	}
	var args idv.DocumentArguments
	if err := json.Unmarshal(plain, &args); err != nil {
		h.t.Fatal(err)
	}
	return args
}

// finishDocument stores a result for the pending document job.
func (h *harness) finishDocument(res idv.ProofingResult) {
	h.t.Helper()
	jobs := h.queue.Jobs()
	j := jobs[len(jobs)-1]
	if err := h.results.Store(context.Background(), j.ResultID, idv.AsyncResult{Status: idv.StatusDone, Result: &res}); err != nil {
		h.t.Fatal(err)
	}
}

// postImages posts the capture form with files, as the page does when
// pre-signed uploads are off.
func (h *harness) postImages(captureID string, files map[string][]byte) (int, string, string) {
	h.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("capture_id", captureID)
	for side, b := range files {
		w, _ := mw.CreateFormFile(side, side+".bin")
		_, _ = w.Write(b)
	}
	_ = mw.Close()
	req, _ := http.NewRequest("POST", h.srv.URL+"/verify/document_capture", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return h.send(req)
}

// htmlText escapes s as html/template does in text.
func htmlText(s string) string { return strings.ReplaceAll(s, "'", "&#39;") }
