package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
)

const uploadURLPath = "/verify/document_capture/upload_url"

// mint asks for an upload URL as the page does.
func (h *harness) mint(captureID string, side idv.Side, size int64) (int, uploadURLAnswer) {
	h.t.Helper()
	return h.mintForm(url.Values{"capture_id": {captureID}, "side": {string(side)}, "size": {strconv.FormatInt(size, 10)}})
}

func (h *harness) mintForm(form url.Values) (int, uploadURLAnswer) {
	h.t.Helper()
	code, loc, body := h.do("POST", uploadURLPath, form)
	var a uploadURLAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		h.t.Fatalf("upload URL answer %d (Location %q) is not JSON: %.300s", code, loc, body)
	}
	return code, a
}

// Issue 13: every GET of the capture page minted two URLs valid 12 h. The
// page now holds none, and nothing is signed until the page asks.
func TestCapturePageHoldsNoUploadURL(t *testing.T) {
	t.Parallel()
	h, objects := newDocHarness(t, true)
	for range 3 {
		_, _, body := h.do("GET", "/verify/document_capture", nil)
		for _, want := range []string{`data-upload-url-endpoint="` + uploadURLPath + `"`, `data-presigned="true"`, `name="encryption_key"`} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		for _, never := range []string{"data-front-url", "data-back-url", fake.ObjectURLPrefix} {
			if strings.Contains(body, never) {
				t.Errorf("page carries an upload URL (%s)", never)
			}
		}
	}
	if p := objects.Presigns(); len(p) != 0 {
		t.Fatalf("GETs of the capture page signed %d URLs, want none", len(p))
	}
}

// The endpoint mints a URL for the attempt's key, the side asked, exactly
// the length asked, for the configured minutes; and refuses everything
// else with JSON the page can show.
func TestUploadURLEndpoint(t *testing.T) {
	t.Parallel()
	h, objects := newDocHarness(t, true)
	id := h.openCapture()
	for _, side := range idv.Sides {
		code, a := h.mint(id, side, 123456)
		if code != http.StatusOK || a.URL != fake.ObjectURL(idv.DocumentImageKey(id, side)) || a.ExpiresIn != 300 {
			t.Fatalf("mint %s: %d %+v", side, code, a)
		}
		p := objects.Presigns()
		if last := p[len(p)-1]; last != (fake.Presign{Key: idv.DocumentImageKey(id, side), Size: 123456, Expires: DefaultUploadURLExpiry}) {
			t.Errorf("signed %+v, want the %s key, 123456 bytes, 5 minutes", last, side)
		}
	}
	before := len(objects.Presigns())
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		reload bool
	}{
		{"another capture", url.Values{"capture_id": {idv.NewID()}, "side": {"front"}, "size": {"10"}}, http.StatusConflict, true},
		{"no capture", url.Values{"side": {"front"}, "size": {"10"}}, http.StatusConflict, true},
		{"unknown side", url.Values{"capture_id": {id}, "side": {"selfie"}, "size": {"10"}}, http.StatusBadRequest, false},
		{"no size", url.Values{"capture_id": {id}, "side": {"front"}}, http.StatusBadRequest, false},
		{"zero size", url.Values{"capture_id": {id}, "side": {"front"}, "size": {"0"}}, http.StatusBadRequest, false},
		{"negative size", url.Values{"capture_id": {id}, "side": {"front"}, "size": {"-5"}}, http.StatusBadRequest, false},
		{"size over the limit", url.Values{"capture_id": {id}, "side": {"back"}, "size": {strconv.Itoa(idv.MaxImageBytes + 1)}}, http.StatusRequestEntityTooLarge, false},
		{"body over its cap", url.Values{"capture_id": {id}, "side": {"front"}, "size": {"10"}, "pad": {strings.Repeat("a", maxUploadURLBytes)}}, http.StatusRequestEntityTooLarge, false},
	} {
		code, a := h.mintForm(tc.form)
		if code != tc.status || a.URL != "" || a.Error == "" || a.Reload != tc.reload {
			t.Errorf("%s: %d %+v, want %d with an error (reload %v)", tc.name, code, a, tc.status, tc.reload)
		}
	}
	if n := len(objects.Presigns()); n != before {
		t.Errorf("refused requests signed %d URLs", n-before)
	}

	// Not a person's session: no URL.
	stranger := newDocHarnessClient(t, h)
	if code, a := stranger.mint(id, idv.SideFront, 10); code != http.StatusConflict || a.URL != "" {
		t.Errorf("another session with this capture id: %d %+v, want 409", code, a)
	}
	// A cross-site POST is refused like every other.
	req, _ := http.NewRequest("POST", h.srv.URL+uploadURLPath, strings.NewReader(url.Values{"capture_id": {id}, "side": {"front"}, "size": {"10"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if code, _, _ := h.send(req); code != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", code)
	}
	if n := len(objects.Presigns()); n != before {
		t.Errorf("refused requests signed %d URLs", n-before)
	}
}

// newDocHarnessClient is a second browser on h's server: its own cookie
// jar, bound to no verification.
func newDocHarnessClient(t *testing.T, h *harness) *harness {
	t.Helper()
	other := *h
	other.client = &http.Client{CheckRedirect: h.client.CheckRedirect}
	return &other
}

// Issue 13: URLs stay mintable only while the person is on the capture
// step. Once the attempt's job is enqueued no URL is minted for its
// capture (nor any other while it is in flight); after the step passed,
// none at all.
func TestUploadURLsEndWithTheAttempt(t *testing.T) {
	t.Parallel()
	h, objects := newDocHarness(t, true)
	id := h.openCapture()
	if code, a := h.mint(id, idv.SideFront, 1000); code != http.StatusOK {
		t.Fatalf("mint on the capture step: %d %+v", code, a)
	}
	if code, loc, _ := h.do("POST", "/verify/document_capture", uploadedForm(id)); code != http.StatusSeeOther || loc != "/verify/document_capture" {
		t.Fatalf("submit: %d %q", code, loc)
	}
	before := len(objects.Presigns())
	if code, a := h.mint(id, idv.SideBack, 1000); code != http.StatusConflict || !a.Reload {
		t.Errorf("mint for the submitted capture: %d %+v, want 409 reload", code, a)
	}
	// The waiting page draws no capture; a second tab's old form neither.
	if _, _, body := h.do("GET", "/verify/document_capture", nil); captureIDRE.MatchString(body) {
		t.Fatal("the waiting page is a capture form")
	}
	if code, _ := h.mint("", idv.SideFront, 1000); code != http.StatusConflict {
		t.Errorf("mint while the job is in flight: %d, want 409", code)
	}
	h.finishDocument(idv.ProofingResult{Outcome: idv.OutcomeSuccess, Applicant: &idFromDocument,
		Stages: []idv.Stage{{Name: "document", Result: idv.VendorResult{Success: true}}}})
	if _, loc, _ := h.do("GET", "/verify/document_capture", nil); loc != "/verify/verify_info" {
		t.Fatalf("after the pass: %q", loc)
	}
	if code, _ := h.mint(id, idv.SideFront, 1000); code != http.StatusConflict {
		t.Errorf("mint after the step passed: %d, want 409", code)
	}
	if n := len(objects.Presigns()); n != before {
		t.Errorf("%d URLs signed after the job was enqueued", n-before)
	}
}

// One attempt's page may ask for a bounded number of URLs; a new attempt
// starts a new count.
func TestUploadURLMintCap(t *testing.T) {
	t.Parallel()
	h, _ := newDocHarness(t, true)
	id := h.openCapture()
	for i := range maxMintsPerCapture {
		if code, a := h.mint(id, idv.SideFront, int64(i+1)); code != http.StatusOK {
			t.Fatalf("mint #%d: %d %+v", i+1, code, a)
		}
	}
	if code, a := h.mint(id, idv.SideFront, 10); code != http.StatusTooManyRequests || a.URL != "" {
		t.Fatalf("mint over the cap: %d %+v, want 429", code, a)
	}
}

// Without pre-signed uploads there is nothing to mint.
func TestUploadURLEndpointOnlyWhenPresigned(t *testing.T) {
	t.Parallel()
	h, objects := newDocHarness(t, false)
	id := h.openCapture()
	if code, _, _ := h.do("POST", uploadURLPath, url.Values{"capture_id": {id}, "side": {"front"}, "size": {"10"}}); code/100 == 2 {
		t.Errorf("upload URL without pre-signed uploads: %d", code)
	}
	if len(objects.Presigns()) != 0 {
		t.Error("signed a URL without pre-signed uploads")
	}
}

// A configured expiry is what the URL gets and what the page is told.
func TestUploadURLExpiryConfigured(t *testing.T) {
	t.Parallel()
	objects := &fake.ObjectStore{}
	h := newHarnessOpts(t, func(o *Options) {
		o.Documents = &DocumentOptions{Objects: objects, Presigned: true, URLExpiry: 45 * time.Second}
	})
	id := h.openCapture()
	if code, a := h.mint(id, idv.SideBack, 77); code != http.StatusOK || a.ExpiresIn != 45 {
		t.Fatalf("mint: %d %+v, want expires_in 45", code, a)
	}
	if p := objects.Presigns(); len(p) != 1 || p[0].Expires != 45*time.Second || p[0].Size != 77 {
		t.Fatalf("signed %+v", p)
	}
}
