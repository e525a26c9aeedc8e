package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

// Unknown paths and methods get the styled error page, with the mux's
// status and Allow header, not Go's plain text.
func TestStyledMisses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
		says         string
	}{
		{"GET", "/no/such/page", http.StatusNotFound, "", "Page not found"},
		{"POST", "/verify/result", http.StatusMethodNotAllowed, "GET, HEAD", "This page can&#39;t be used that way"},
		{"GET", "/verify/errors/nonsense?step=phone", http.StatusNotFound, "", "Page not found"},
	} {
		req, _ := http.NewRequest(tc.method, h.srv.URL+tc.path, nil)
		res, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		code, _, body := h.send(req)
		if code != tc.code || !strings.Contains(body, tc.says) || !strings.Contains(body, `href="/static/idv.css"`) {
			t.Errorf("%s %s: %d %.300s", tc.method, tc.path, code, body)
		}
		if got := res.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, got)
		}
		if got := res.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}

// With pre-signed uploads the capture form needs its script (the browser
// encrypts the photos): the page sends it disabled, with a notice for
// browsers without JavaScript, and the script enables it. Posting the
// photos to the server needs no script: that form is enabled.
func TestCaptureFormWithoutJavaScript(t *testing.T) {
	t.Parallel()
	for _, presigned := range []bool{true, false} {
		h, _ := newDocHarness(t, presigned)
		_, _, body := h.do("GET", "/verify/document_capture", nil)
		disabled := strings.Contains(body, `<fieldset class="plain" disabled data-needs-script>`)
		notice := strings.Contains(body, "<noscript>") && strings.Contains(body, "This step needs JavaScript.")
		if disabled != presigned || notice != presigned {
			t.Errorf("presigned %v: form disabled %v, notice %v", presigned, disabled, notice)
		}
		if !strings.Contains(body, `<button class="button" type="submit">Continue</button>`) || !strings.Contains(body, "Step 1 of 3: Your ID") {
			t.Errorf("presigned %v: no Continue button or step indicator: %.2000s", presigned, body)
		}
	}
	h, _ := newDocHarness(t, true)
	_, _, script := h.do("GET", "/static/document_capture.js", nil)
	for _, want := range []string{"function enableForm()", "function showPreview(s, file)", `submit.textContent = "Continue"`} {
		if !strings.Contains(script, want) {
			t.Errorf("document_capture.js lacks %s", want)
		}
	}
}

// The status endpoint says which check runs: at once when it differs from
// the one the page shows, and the waiting page shows it without script.
func TestStatusNamesTheCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do("POST", "/verify/verify_info", goodForm())
	jobs := h.queue.Jobs()
	id := jobs[len(jobs)-1].ResultID
	if err := h.results.Store(context.Background(), id, idv.AsyncResult{Status: idv.StatusInProgress, Stage: "state_id"}); err != nil {
		t.Fatal(err)
	}
	_, _, body := h.do("GET", "/verify/verify_info/status?stage=", nil)
	if !strings.Contains(body, `"stage":"state_id"`) || !strings.Contains(body, `"check":1`) || !strings.Contains(body, `"status":"in_progress"`) {
		t.Fatalf("status: %s", body)
	}
	// A client that does not track checks waits for the result as before
	// (here until the long poll ends).
	if _, _, body := h.do("GET", "/verify/verify_info/status", nil); body != "{\"status\":\"in_progress\"}\n" {
		t.Fatalf("status without ?stage: %q", body)
	}
	_, _, page := h.do("GET", "/verify/verify_info", nil)
	for _, want := range []string{`<title>We&#39;re checking your information · idv</title>`, `class="check-current" aria-current="step">Checking your ID with the state that issued it`,
		`role="status" aria-live="polite" data-announce>Checking your ID with the state that issued it…`} {
		if !strings.Contains(page, want) {
			t.Errorf("waiting page lacks %s: %.3000s", want, page)
		}
	}
}

// A refused form keeps what was typed (a phone number is corrected, not
// retyped), lists its errors in a summary that links to each field, and
// its title starts with "Error:".
func TestRefusedFormsKeepValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	bad := goodForm()
	bad.Del("dob")
	bad.Set("dob_month", "13")
	bad.Set("dob_day", "3")
	bad.Set("dob_year", "1980")
	bad.Set("zipcode", "1")
	code, _, body := h.do("POST", "/verify/verify_info", bad)
	for _, want := range []string{"<title>Error: Verify your information · idv</title>", `<a href="#dob_month">Enter your date of birth as a month`,
		`<a href="#zipcode">Enter a five-digit ZIP code.</a>`, `value="Jane"`, `id="dob_month" name="dob_month" type="text" inputmode="numeric" autocomplete="bday-month" value="13"`,
		`<option value="VA" selected>Virginia</option>`} {
		if !strings.Contains(body, want) {
			t.Errorf("refused verify_info (%d) lacks %s", code, want)
		}
	}
	if strings.Index(body, `href="#dob_month"`) > strings.Index(body, `href="#zipcode"`) {
		t.Error("the summary is not in the form's order")
	}
	h.attempt(idv.OutcomeSuccess)
	code, _, body = h.do("POST", "/verify/phone", map[string][]string{"phone": {"703 555 01"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `value="703 555 01"`) || !strings.Contains(body, `<a href="#phone">`) {
		t.Errorf("refused phone: %d %.2000s", code, body)
	}
}

func TestWaitText(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s := &Server{now: func() time.Time { return now }}
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{-time.Second, ""}, {30 * time.Second, "in a minute or two"}, {20*time.Minute + time.Second, "in about 21 minutes"},
		{59 * time.Minute, "in about an hour"}, {5*time.Hour + 50*time.Minute, "in about 6 hours"},
	} {
		if got := s.waitText(now.Add(tc.in)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := s.waitText(time.Time{}); got != "" {
		t.Errorf("no reset time: %q", got)
	}
}

// The success page continues to the relying party by the one link
// continueURL gives; without one the person is told they may close the
// page.
func TestSuccessNextStep(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		returnURL string
		want      string
	}{
		{"https://rp.example/back?verification_id=v1", `<a class="button" href="https://rp.example/back?verification_id=v1" data-continue>Continue to Test Service</a>`},
		{"", "You can close this page."},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", resultPath, nil)
		h.server.render(rec, req, http.StatusOK, "result", page{Title: "Your result",
			Data: resultData{Verified: true, Status: idv.VerificationVerified, RPName: "Test Service", ReturnURL: tc.returnURL}})
		if body := rec.Body.String(); !strings.Contains(body, tc.want) || strings.Count(body, "data-continue") > 1 {
			t.Errorf("return URL %q: %.2000s", tc.returnURL, body)
		}
	}
}
