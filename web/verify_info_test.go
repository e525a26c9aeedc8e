package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/ratelimit/memory"
)

type harness struct {
	t       *testing.T
	srv     *httptest.Server
	client  *http.Client
	queue   *fakeQueue
	results *fakeResults
	logs    *bytes.Buffer
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
	sm.Codec = SealedCodec{Sealer: fakeSealer{}}
	logs := &bytes.Buffer{}
	h := &harness{t: t, queue: newFakeQueue(), results: newFakeResults(), logs: logs}
	o := Options{
		Queue: h.queue, Results: h.results, Sealer: fakeSealer{}, Sessions: sm,
		Logger:         slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, nil)),
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

func TestVerifyInfoStates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		outcome  idv.Outcome // "" = no result written
		expire   bool
		corrupt  bool
		wantCode int
		wantLoc  string
		wantBody string
	}{
		{name: "in progress", wantCode: 200, wantBody: `<noscript><meta http-equiv="refresh" content="3"></noscript>`},
		{name: "success", outcome: idv.OutcomeSuccess, wantCode: 303, wantLoc: "/verify/phone"},
		{name: "failure", outcome: idv.OutcomeFailure, wantCode: 303, wantLoc: "/verify/errors/warning?step=verify_info"},
		{name: "timed out", outcome: idv.OutcomeTimedOut, wantCode: 303, wantLoc: "/verify/errors/timeout?step=verify_info"},
		{name: "exception", outcome: idv.OutcomeException, wantCode: 303, wantLoc: "/verify/errors/exception?step=verify_info"},
		{name: "missing", expire: true, wantCode: 200, wantBody: "taking longer than usual"},
		{name: "unreadable result", corrupt: true, wantCode: 200, wantBody: "taking longer than usual"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			code, loc, body := h.do("GET", "/verify/verify_info", nil)
			if code != 200 || !strings.Contains(body, `name="ssn"`) {
				t.Fatalf("none: got %d %q", code, body)
			}
			code, loc, _ = h.do("POST", "/verify/verify_info", goodForm())
			if code != 303 || loc != "/verify/verify_info" {
				t.Fatalf("submit: got %d %q", code, loc)
			}
			jobs := h.queue.Jobs()
			if len(jobs) != 1 {
				t.Fatalf("jobs enqueued: %d, want 1", len(jobs))
			}
			id := jobs[0].ResultID
			if r, err := h.results.Load(context.Background(), id); err != nil || r.Status != idv.StatusInProgress {
				t.Fatalf("marker: %+v %v", r, err)
			}
			switch {
			case tc.outcome != "":
				_ = h.results.Store(context.Background(), id, idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{Outcome: tc.outcome}})
			case tc.expire:
				h.results.expire(id)
			case tc.corrupt:
				h.results.corrupt(id)
			}
			code, loc, body = h.do("GET", "/verify/verify_info", nil)
			if code != tc.wantCode || loc != tc.wantLoc || !strings.Contains(strings.ToLower(body), strings.ToLower(tc.wantBody)) {
				t.Fatalf("got %d %q, body %.300q", code, loc, body)
			}
			if tc.outcome != "" || tc.expire || tc.corrupt {
				// The attempt ended: a new submit enqueues a new job with a new result id.
				h.do("POST", "/verify/verify_info", goodForm())
				jobs := h.queue.Jobs()
				if len(jobs) != 2 || jobs[1].ResultID == id {
					t.Fatalf("retry: %d jobs, new id %v", len(jobs), len(jobs) == 2 && jobs[1].ResultID != id)
				}
			}
		})
	}
}

func TestResubmitWhilePendingEnqueuesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for range 3 {
		if code, loc, _ := h.do("POST", "/verify/verify_info", goodForm()); code != 303 || loc != "/verify/verify_info" {
			t.Fatalf("submit: %d %q", code, loc)
		}
	}
	if n := len(h.queue.Jobs()); n != 1 {
		t.Fatalf("jobs enqueued: %d, want 1", n)
	}
}

func TestVerifyInfoFieldErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ field, value string }{
		{"first_name", ""}, {"dob", "02/03/1980"}, {"dob", "2999-01-01"}, {"ssn", "12345"},
		{"zipcode", "ABCDE"}, {"state", "Virginia"}, {"state_id_number", ""}, {"address1", ""},
		{"first_name", strings.Repeat("x", 500)}, {"ssn", "<script>alert(1)</script>"},
	}
	for _, tc := range tests {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			f := goodForm()
			f.Set(tc.field, tc.value)
			code, _, body := h.do("POST", "/verify/verify_info", f)
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="`+tc.field+`-error"`) {
				t.Fatalf("got %d, body %.400q", code, body)
			}
			if strings.Contains(body, "<script>alert") {
				t.Fatal("input echoed unescaped")
			}
			if n := len(h.queue.Jobs()); n != 0 {
				t.Fatalf("enqueued %d jobs for invalid input", n)
			}
		})
	}
}

func TestStatusLongPollWakesOnResult(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do("POST", "/verify/verify_info", goodForm())
	id := h.queue.Jobs()[0].ResultID
	got := make(chan string, 1)
	go func() {
		_, _, body := h.do("GET", "/verify/verify_info/status", nil)
		got <- body
	}()
	_ = h.results.Store(context.Background(), id, idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{Outcome: idv.OutcomeSuccess}})
	select {
	case body := <-got:
		if !strings.Contains(body, `"done"`) {
			t.Fatalf("status: %s", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not answer")
	}
	// No session: status none.
	h2 := newHarness(t)
	if _, _, body := h2.do("GET", "/verify/verify_info/status", nil); !strings.Contains(body, `"none"`) {
		t.Fatalf("status without attempt: %s", body)
	}
}

func TestUnavailableQueueGives503(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.queue.err = idv.WrapError(idv.EUNAVAILABLE, "job queue unavailable", io.ErrUnexpectedEOF)
	code, _, body := h.do("POST", "/verify/verify_info", goodForm())
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "try again") {
		t.Fatalf("got %d %.200q", code, body)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	req, _ := http.NewRequest("POST", h.srv.URL+"/verify/verify_info", strings.NewReader(goodForm().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || len(h.queue.Jobs()) != 0 {
		t.Fatalf("cross-site POST: %d, %d jobs", res.StatusCode, len(h.queue.Jobs()))
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res, err := h.client.Get(h.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
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

func TestResolutionAttemptLimits(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, memory.New(time.Now))
	// Vendor faults do not cost an attempt.
	for range 3 {
		if loc := h.attempt(idv.OutcomeException); loc != "/verify/errors/exception?step=verify_info" {
			t.Fatalf("exception went to %q", loc)
		}
	}
	if _, _, body := h.do("GET", "/verify/errors/warning?step=verify_info", nil); !strings.Contains(body, "<strong>5</strong> attempts left") {
		t.Fatalf("remaining after exceptions: %.600s", body)
	}
	for i := 1; i <= ratelimit.IDVResolution.Max; i++ {
		loc := h.attempt(idv.OutcomeFailure)
		want := "/verify/errors/warning?step=verify_info"
		if i == ratelimit.IDVResolution.Max {
			want = "/verify/errors/failure?step=verify_info"
		}
		if loc != want {
			t.Fatalf("failure %d went to %q, want %q", i, loc, want)
		}
	}
	jobs := len(h.queue.Jobs())
	if loc := h.attempt(idv.OutcomeSuccess); loc != "/verify/errors/rate_limited?step=verify_info" {
		t.Fatalf("after the limit: %q", loc)
	}
	if len(h.queue.Jobs()) != jobs {
		t.Fatal("a rate-limited submit enqueued a job")
	}
}

func TestSSNAttemptLimit(t *testing.T) {
	t.Parallel()
	lim := memory.New(time.Now)
	// The SSN limit follows the SSN across sessions (people).
	for i := 0; i < ratelimit.ProofSSN.Max; i++ {
		h := newHarnessWith(t, lim)
		if loc := h.attempt(idv.OutcomeException); loc != "/verify/errors/exception?step=verify_info" {
			t.Fatalf("attempt %d went to %q", i, loc)
		}
	}
	h := newHarnessWith(t, lim)
	if loc := h.attempt(idv.OutcomeSuccess); loc != "/verify/errors/rate_limited?step=verify_info" {
		t.Fatalf("after %d SSN attempts: %q", ratelimit.ProofSSN.Max, loc)
	}
}

func TestPhoneStep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		outcome idv.Outcome
		want    string
	}{
		{idv.OutcomeSuccess, "/verify/result"},
		{idv.OutcomeFailure, "/verify/errors/warning?step=phone"},
		{idv.OutcomeTimedOut, "/verify/errors/timeout?step=phone"},
		{idv.OutcomeException, "/verify/errors/exception?step=phone"},
	}
	for _, tc := range tests {
		t.Run(string(tc.outcome), func(t *testing.T) {
			t.Parallel()
			h := newHarnessWith(t, memory.New(time.Now))
			// Before the identity is verified, the phone step sends the person back.
			if _, loc, _ := h.do("GET", "/verify/phone", nil); loc != "/verify/verify_info" {
				t.Fatalf("phone before verify_info: %q", loc)
			}
			if loc := h.attempt(idv.OutcomeSuccess); loc != "/verify/phone" {
				t.Fatalf("verify_info: %q", loc)
			}
			if code, _, body := h.do("POST", "/verify/phone", url.Values{"phone": {"12"}}); code != 422 || !strings.Contains(body, `id="phone-error"`) {
				t.Fatalf("bad phone: %d", code)
			}
			if code, loc, _ := h.do("POST", "/verify/phone", url.Values{"phone": {"(703) 555-0100"}}); code != 303 || loc != "/verify/phone" {
				t.Fatalf("submit: %d %q", code, loc)
			}
			jobs := h.queue.Jobs()
			last := jobs[len(jobs)-1]
			if last.Kind != idv.JobAddress {
				t.Fatalf("job kind %s", last.Kind)
			}
			if _, _, body := h.do("GET", "/verify/phone", nil); !strings.Contains(body, "data-status-url=\"/verify/phone/status\"") {
				t.Fatalf("wait page: %.300s", body)
			}
			_ = h.results.Store(context.Background(), last.ResultID, idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{Outcome: tc.outcome}})
			if _, loc, _ := h.do("GET", "/verify/phone", nil); loc != tc.want {
				t.Fatalf("got %q, want %q", loc, tc.want)
			}
			_, _, body := h.do("GET", "/verify/result", nil)
			if got := strings.Contains(body, `class="alert alert-success"`); got != (tc.outcome == idv.OutcomeSuccess) {
				t.Fatalf("result page verified=%v for %s", got, tc.outcome)
			}
		})
	}
}

func TestPhoneAttemptLimit(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, memory.New(time.Now))
	h.attempt(idv.OutcomeSuccess)
	for i := 0; i < ratelimit.ProofAddress.Max; i++ {
		h.do("POST", "/verify/phone", url.Values{"phone": {"7035550100"}})
		jobs := h.queue.Jobs()
		_ = h.results.Store(context.Background(), jobs[len(jobs)-1].ResultID, idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{Outcome: idv.OutcomeTimedOut}})
		h.do("GET", "/verify/phone", nil)
	}
	if _, loc, _ := h.do("POST", "/verify/phone", url.Values{"phone": {"7035550100"}}); loc != "/verify/errors/rate_limited?step=phone" {
		t.Fatalf("after %d phone submits: %q", ratelimit.ProofAddress.Max, loc)
	}
}
