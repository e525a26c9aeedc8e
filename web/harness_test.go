package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/results"
	"github.com/idv-dev/idv/results/memory"
)

// harness is a Server behind a real HTTP server, and a person (a client with
// a cookie jar that does not follow redirects) using it, whose session is
// bound to a verification of the harness's relying party. The Server runs
// on the real verification store (package queue, on a SQLite file of the
// test's own; no worker runs: the harness finishes jobs as a worker would),
// the shared doubles (package fake) and the real in-memory result store,
// whose entries expire on the harness's clock. The integration tests in
// cmd/idv run the same flows against PostgreSQL, Redis, S3 and the real
// sealer.
type harness struct {
	t       *testing.T
	srv     *httptest.Server
	server  *Server
	client  *http.Client
	queue   *recordingStore
	rp      idv.RelyingParty
	vid     string // the person's verification
	token   string // its link, spent
	sm      *scs.SessionManager
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
	q, err := queue.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "idv.db"), queue.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	if err := q.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, queue: &recordingStore{Queue: q}, clock: testenv.NewClock(), sm: sm}
	h.kv = memory.NewKV(h.clock.Now)
	store, err := results.New(h.kv, fake.Sealer{}, results.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.results = store
	logger, logs := testenv.Logger(t)
	h.logs = logs
	o := Options{
		Verifications: h.queue, Results: h.results, Sealer: fake.Sealer{}, Sessions: sm,
		Logger:         logger,
		Config:         Config{LongPoll: 2 * time.Second, FallbackPoll: 20 * time.Millisecond},
		FingerprintKey: bytes.Repeat([]byte{7}, 32),
	}
	opt(&o)
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.server = s
	h.srv = httptest.NewServer(s)
	t.Cleanup(h.srv.Close)
	jar, _ := cookiejar.New(nil)
	h.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	h.rp = idv.RelyingParty{ID: "rp_" + idv.NewID(), Name: "Test Service", APIKeyHash: idv.HashToken(idv.NewID()), APIKeyHint: "idv_sk_te",
		ReturnURLs: []string{"https://rp.example/back"}, CreatedAt: time.Now().UTC()}
	if err := q.CreateRelyingParty(context.Background(), h.rp); err != nil {
		t.Fatal(err)
	}
	h.startVerification(o.Documents != nil)
	return h
}

// startVerification creates a verification of the harness's relying party
// (with the document step when documents is set) and follows its link, as
// the person would: the session is then bound to it.
func (h *harness) startVerification(documents bool) {
	h.t.Helper()
	now := time.Now().UTC()
	v := idv.Verification{ID: "vrf_" + idv.NewID(), RelyingPartyID: h.rp.ID, ClientReferenceID: "person-1",
		ReturnURL: h.rp.ReturnURLs[0], CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if documents {
		v.Steps = append(v.Steps, idv.StepRecord{Step: idv.StepDocument, MaxAttempts: ratelimit.IDVDocAuth.Max})
	}
	v.Steps = append(v.Steps, idv.StepRecord{Step: idv.StepIdentity, MaxAttempts: ratelimit.IDVResolution.Max},
		idv.StepRecord{Step: idv.StepPhone, MaxAttempts: ratelimit.ProofAddress.Max})
	token, hash := idv.NewToken(idv.LinkTokenPrefix)
	got, _, _, err := h.queue.CreateVerificationWithLink(context.Background(), queue.NewVerification{Verification: v},
		queue.NewLink{TokenHash: hash, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		h.t.Fatal(err)
	}
	h.vid, h.token = got.ID, token
	if code, loc, _ := h.do("GET", "/start/"+token, nil); code != http.StatusSeeOther || loc != "/" {
		h.t.Fatalf("link: %d %s", code, loc)
	}
}

// newLink gives the person's verification a new link, as the relying party
// does through the API, and returns its token.
func (h *harness) newLink() string {
	h.t.Helper()
	token, hash := idv.NewToken(idv.LinkTokenPrefix)
	if _, err := h.queue.CreateLink(context.Background(), h.vid, hash, time.Now(), time.Now().Add(time.Hour)); err != nil {
		h.t.Fatal(err)
	}
	return token
}

// newPerson is the same person in a new browser: no cookie.
func (h *harness) newPerson() {
	jar, _ := cookiejar.New(nil)
	h.client = &http.Client{Jar: jar, CheckRedirect: h.client.CheckRedirect}
}

// cookie is the session cookie's value.
func (h *harness) cookie() string {
	u, _ := url.Parse(h.srv.URL)
	for _, c := range h.client.Jar.Cookies(u) {
		if c.Name == h.sm.Cookie.Name {
			return c.Value
		}
	}
	return ""
}

// verification reads the person's verification.
func (h *harness) verification() idv.Verification {
	h.t.Helper()
	v, err := h.queue.Verification(context.Background(), h.vid)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

// recordingStore is the verification store the harness's server uses: the
// real one, remembering the jobs its attempts enqueued (no worker runs
// them), and failing BeginAttempt with beginErr when it is set.
type recordingStore struct {
	*queue.Queue
	mu       sync.Mutex
	jobs     []idv.Job
	beginErr error
}

func (r *recordingStore) BeginAttempt(ctx context.Context, a idv.Attempt) (idv.StepRecord, error) {
	r.mu.Lock()
	err := r.beginErr
	r.mu.Unlock()
	if err != nil {
		return idv.StepRecord{}, err
	}
	rec, err := r.Queue.BeginAttempt(ctx, a)
	if err == nil {
		a.Job.VerificationID = a.VerificationID
		r.mu.Lock()
		r.jobs = append(r.jobs, a.Job)
		r.mu.Unlock()
	}
	return rec, err
}

func (r *recordingStore) Jobs() []idv.Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.jobs)
}

func (r *recordingStore) failBegin(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.beginErr = err
}

// finish ends the attempt of result id as its worker would: the outcome
// recorded in the verification (with the identity read from the ID, sealed,
// when a document passed), then the result stored.
func (h *harness) finish(resultID string, res *idv.ProofingResult) {
	h.t.Helper()
	ctx := context.Background()
	var job idv.Job
	for _, j := range h.queue.Jobs() {
		if j.ResultID == resultID {
			job = j
		}
	}
	if job.ResultID == "" {
		h.t.Fatalf("no job for result %s", resultID)
	}
	rec := idv.OutcomeRecord{ResultID: job.ResultID, Kind: job.Kind, TraceID: job.TraceID, Outcome: res.Outcome,
		FinishedAt: time.Now().UTC(), VerificationID: job.VerificationID}
	if job.Kind == idv.JobDocument && res.Outcome == idv.OutcomeSuccess && res.Applicant != nil {
		plain, _ := json.Marshal(res.Applicant)
		rec.Identity, _ = fake.Sealer{}.Seal(ctx, plain, idv.VerificationAAD(job.VerificationID))
	}
	if err := h.queue.RecordOutcome(ctx, rec); err != nil {
		h.t.Fatal(err)
	}
	if err := h.results.Store(ctx, resultID, idv.AsyncResult{Status: idv.StatusDone, Result: res}); err != nil {
		h.t.Fatal(err)
	}
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
	h.finish(jobs[len(jobs)-1].ResultID, &idv.ProofingResult{Outcome: outcome})
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
	h.finish(jobs[len(jobs)-1].ResultID, &res)
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
