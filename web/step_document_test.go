package web

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/ratelimit/memory"
)

func TestDocumentStepComesFirst(t *testing.T) {
	t.Parallel()
	h, _ := newDocHarness(t, true)
	if _, _, body := h.do("GET", "/", nil); !strings.Contains(body, `href="/verify/document_capture"`) {
		t.Fatalf("start page does not start with the document step: %.400s", body)
	}
	for _, req := range []struct{ method, path string }{{"GET", "/verify/verify_info"}, {"POST", "/verify/verify_info"}} {
		var form url.Values
		if req.method == "POST" {
			form = goodForm()
		}
		if code, loc, _ := h.do(req.method, req.path, form); code != 303 || loc != "/verify/document_capture" {
			t.Fatalf("%s %s before the document step: %d %q", req.method, req.path, code, loc)
		}
	}
	if n := len(h.queue.Jobs()); n != 0 {
		t.Fatalf("%d jobs enqueued without a verified document", n)
	}
}

func TestDocumentCapturePageIssuesUploadURLs(t *testing.T) {
	t.Parallel()
	h, _ := newDocHarness(t, true)
	code, _, body := h.do("GET", "/verify/document_capture", nil)
	id := captureIDRE.FindStringSubmatch(body)
	if code != 200 || id == nil {
		t.Fatalf("%d %.300s", code, body)
	}
	for _, want := range []string{
		`data-front-url="` + fake.ObjectURL(idv.DocumentImageKey(id[1], idv.SideFront)) + `"`,
		`data-back-url="` + fake.ObjectURL(idv.DocumentImageKey(id[1], idv.SideBack)) + `"`,
		`data-presigned="true"`, `name="encryption_key"`, `/static/document_capture.js`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// The file inputs have no name: the photos themselves are never posted.
	if strings.Contains(body, `name="front" type="file"`) {
		t.Error("file input would post the photo")
	}
	// A reload is the same attempt: the same capture, its URLs again.
	if again := h.openCapture(); again != id[1] {
		t.Errorf("reload drew capture %s, want %s", again, id[1])
	}
}

// The capture id belongs to the attempt, not to the page: a reload or a
// second tab shows the same one, so the first page's uploads and form stay
// valid; a refused submit keeps it; only a new attempt draws a new one.
func TestDocumentCaptureIDStablePerAttempt(t *testing.T) {
	t.Parallel()
	for _, presigned := range []bool{true, false} {
		t.Run(map[bool]string{true: "pre-signed", false: "posted"}[presigned], func(t *testing.T) {
			t.Parallel()
			h, _ := newDocHarness(t, presigned)
			first := h.openCapture()
			_, _, second := h.do("GET", "/verify/document_capture", nil) // a second tab
			if m := captureIDRE.FindStringSubmatch(second); m == nil || m[1] != first {
				t.Fatalf("second page's capture %v, want %s", m, first)
			}
			if presigned && !strings.Contains(second, `data-front-url="`+fake.ObjectURL(idv.DocumentImageKey(first, idv.SideFront))+`"`) {
				t.Fatal("second page's upload URL is not for the attempt's capture")
			}
			// A refused submit renders the form again, for the same attempt.
			bad := uploadedForm(first)
			bad.Del("back_image_url")
			if !presigned {
				_, _, page := h.postImages(first, map[string][]byte{"front": testenv.PNG(t, 4, 4)})
				bad = nil
				if m := captureIDRE.FindStringSubmatch(page); m == nil || m[1] != first {
					t.Fatalf("refused submit drew capture %v, want %s", m, first)
				}
			}
			if bad != nil {
				code, _, page := h.do("POST", "/verify/document_capture", bad)
				if m := captureIDRE.FindStringSubmatch(page); code != http.StatusUnprocessableEntity || m == nil || m[1] != first {
					t.Fatalf("refused submit: %d, capture %v, want %s", code, m, first)
				}
			}
			// The first page's form still submits.
			var code int
			var loc, body string
			if presigned {
				code, loc, body = h.do("POST", "/verify/document_capture", uploadedForm(first))
			} else {
				img := testenv.PNG(t, 4, 4)
				code, loc, body = h.postImages(first, map[string][]byte{"front": img, "back": img})
			}
			if code != http.StatusSeeOther || loc != "/verify/document_capture" {
				t.Fatalf("first page's submit after the second GET: %d %q %.300s", code, loc, body)
			}
			if got := h.lastDocumentArgs().CaptureID; got != first {
				t.Fatalf("job's capture %s, want %s", got, first)
			}
			// The attempt ended: the next one has a capture of its own.
			h.finishDocument(idv.ProofingResult{Outcome: idv.OutcomeFailure,
				Stages:           []idv.Stage{{Name: "document", Result: idv.VendorResult{Errors: map[string][]string{"front": {idv.DocCodeImageUnreadable}}}}},
				FailedAttributes: []string{"front"}})
			if code, loc, _ := h.do("GET", "/verify/document_capture", nil); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/verify/errors/warning") {
				t.Fatalf("after the failure: %d %q", code, loc)
			}
			if next := h.openCapture(); next == first {
				t.Fatal("a new attempt reused the submitted attempt's capture")
			}
		})
	}
}

func TestDocumentSubmitRefusesForeignInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(f url.Values, id string)
	}{
		{"URL on another host", func(f url.Values, id string) {
			f.Set("front_image_url", "https://attacker.example/bucket/"+idv.DocumentImageKey(id, "front"))
		}},
		{"URL of another capture", func(f url.Values, id string) {
			f.Set("back_image_url", fake.ObjectURLPrefix+idv.DocumentImageKey(idv.NewID(), idv.SideBack))
		}},
		{"sides swapped", func(f url.Values, id string) {
			f["front_image_url"], f["back_image_url"] = f["back_image_url"], f["front_image_url"]
		}},
		{"URL missing", func(f url.Values, _ string) { f.Del("back_image_url") }},
		{"key too short", func(f url.Values, _ string) { f.Set("encryption_key", b64(16, 1)) }},
		{"key not base64", func(f url.Values, _ string) { f.Set("encryption_key", "not*base64") }},
		{"IV of the wrong size", func(f url.Values, _ string) { f.Set("front_image_iv", b64(16, 2)) }},
		{"same IV for front and back", func(f url.Values, _ string) { f.Set("back_image_iv", f.Get("front_image_iv")) }},
		{"same IV, once unpadded", func(f url.Values, _ string) {
			f.Set("back_image_iv", strings.TrimRight(f.Get("front_image_iv"), "="))
		}},
		{"capture id of another page", func(f url.Values, _ string) { f.Set("capture_id", idv.NewID()) }},
		{"no capture id", func(f url.Values, _ string) { f.Del("capture_id") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := newDocHarness(t, true)
			id := h.openCapture()
			f := uploadedForm(id)
			tc.change(f, id)
			code, _, body := h.do("POST", "/verify/document_capture", f)
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, "There is a problem") {
				t.Fatalf("%d %.300s", code, body)
			}
			if n := len(h.queue.Jobs()); n != 0 {
				t.Fatalf("%d jobs enqueued", n)
			}
			if strings.Contains(body, "attacker.example") {
				t.Fatal("the refused URL is echoed")
			}
		})
	}
}

func TestDocumentFlowPrefillsVerifyInfo(t *testing.T) {
	t.Parallel()
	h, _ := newDocHarness(t, true)
	id := h.openCapture()
	if code, loc, body := h.do("POST", "/verify/document_capture", uploadedForm(id)); code != 303 || loc != "/verify/document_capture" {
		t.Fatalf("submit: %d %q %.300s", code, loc, body)
	}
	args := h.lastDocumentArgs()
	if args.CaptureID != id || args.ServerSealed || len(args.EncryptionKey) != 32 || len(args.Back.IV) != 12 ||
		args.Front.URL != fake.ObjectURL(idv.DocumentImageKey(id, idv.SideFront)) {
		t.Fatalf("job arguments %#v", args.CaptureID)
	}
	// While the job runs: the waiting page, and verify_info stays closed.
	if _, _, body := h.do("GET", "/verify/document_capture", nil); !strings.Contains(body, "data-status-url=\"/verify/document_capture/status\"") {
		t.Fatalf("not the waiting page: %.300s", body)
	}
	if code, loc, _ := h.do("GET", "/verify/verify_info", nil); code != 303 || loc != "/verify/document_capture" {
		t.Fatalf("verify_info open before the document result: %d %q", code, loc)
	}
	// A resubmit while pending enqueues nothing.
	h.do("POST", "/verify/document_capture", uploadedForm(id))
	if n := len(h.queue.Jobs()); n != 1 {
		t.Fatalf("%d jobs after a resubmit", n)
	}
	h.finishDocument(idv.ProofingResult{Outcome: idv.OutcomeSuccess,
		Stages:    []idv.Stage{{Name: "document", Result: idv.VendorResult{Success: true, Errors: map[string][]string{"barcode": {idv.DocCodeBarcodeAttention}}}}},
		Applicant: &idv.Applicant{FirstName: "Fakey", LastName: "Mcfakerson", DOB: "1938-10-06", Address1: "1 Fake Rd", City: "Great Falls", State: "MT", ZIPCode: "59010", StateIDNumber: "1111111111111", StateIDJurisdiction: "ND", StateIDExpiration: "2099-12-31"}})
	if _, _, body := h.do("GET", "/verify/document_capture/status", nil); !strings.Contains(body, `"done"`) {
		t.Fatalf("status: %s", body)
	}
	if code, loc, _ := h.do("GET", "/verify/document_capture", nil); code != 303 || loc != "/verify/verify_info" {
		t.Fatalf("after the result: %d %q", code, loc)
	}
	code, _, body := h.do("GET", "/verify/verify_info", nil)
	// What the ID decides is shown, not offered for editing; the address
	// is pre-filled for correction.
	if code != 200 || !strings.Contains(body, `Mcfakerson`) || !strings.Contains(body, `1111111111111`) ||
		strings.Contains(body, `name="last_name"`) || strings.Contains(body, `name="state_id_number"`) || !strings.Contains(body, `value="1 Fake Rd"`) {
		t.Fatalf("verify_info not pre-filled from the ID: %d %.600s", code, body)
	}
	if !strings.Contains(body, htmlText(idv.DocumentErrorMessage(idv.DocCodeBarcodeAttention))) {
		t.Fatal("the barcode note is not shown")
	}
	// verify_info now enqueues its job, carrying the ID's expiry.
	if code, loc, _ := h.do("POST", "/verify/verify_info", goodForm()); code != 303 || loc != "/verify/verify_info" {
		t.Fatalf("verify_info submit: %d %q", code, loc)
	}
}

func TestDocumentFailureShowsWhatToChange(t *testing.T) {
	t.Parallel()
	h, _ := newDocHarness(t, true)
	h.do("POST", "/verify/document_capture", uploadedForm(h.openCapture()))
	h.finishDocument(idv.ProofingResult{Outcome: idv.OutcomeFailure,
		Stages:           []idv.Stage{{Name: "document", Result: idv.VendorResult{Errors: map[string][]string{"front": {idv.DocCodeImageUnreadable}}}}},
		FailedAttributes: []string{"front"}})
	code, loc, _ := h.do("GET", "/verify/document_capture", nil)
	if code != 303 || loc != "/verify/errors/warning?step=document_capture" {
		t.Fatalf("%d %q", code, loc)
	}
	_, _, body := h.do("GET", loc, nil)
	if !strings.Contains(body, "We couldn&#39;t verify your ID") || !strings.Contains(body, htmlText(idv.DocumentErrorMessage(idv.DocCodeImageUnreadable))) ||
		!strings.Contains(body, `href="/verify/document_capture"`) {
		t.Fatalf("warning page: %.800s", body)
	}
	if code, loc, _ := h.do("GET", "/verify/verify_info", nil); code != 303 || loc != "/verify/document_capture" {
		t.Fatalf("a failed document opened verify_info: %d %q", code, loc)
	}
}

func TestDocumentPassWithoutDataIsNotAPass(t *testing.T) {
	t.Parallel()
	h, _ := newDocHarness(t, true)
	h.do("POST", "/verify/document_capture", uploadedForm(h.openCapture()))
	h.finishDocument(idv.ProofingResult{Outcome: idv.OutcomeSuccess, Stages: []idv.Stage{{Name: "document", Result: idv.VendorResult{Success: true}}}})
	if code, loc, _ := h.do("GET", "/verify/document_capture", nil); code != 303 || loc != "/verify/errors/exception?step=document_capture" {
		t.Fatalf("%d %q", code, loc)
	}
}

func TestDocumentPostedImagesAreSealed(t *testing.T) {
	t.Parallel()
	h, objects := newDocHarness(t, false)
	code, _, page := h.do("GET", "/verify/document_capture", nil)
	if code != 200 || !strings.Contains(page, `enctype="multipart/form-data"`) || !strings.Contains(page, `name="front" type="file"`) {
		t.Fatalf("page: %d %.400s", code, page)
	}
	id := captureIDRE.FindStringSubmatch(page)[1]
	img := testenv.PNG(t, 4, 4)
	if code, loc, body := h.postImages(id, map[string][]byte{"front": img, "back": img}); code != 303 || loc != "/verify/document_capture" {
		t.Fatalf("post: %d %q %.300s", code, loc, body)
	}
	args := h.lastDocumentArgs()
	if !args.ServerSealed || args.CaptureID != id || args.Front.URL != "" || args.EncryptionKey != nil {
		t.Fatalf("arguments %+v", args.ServerSealed)
	}
	for _, side := range idv.Sides {
		key := idv.DocumentImageKey(id, side)
		stored, err := objects.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := fake.Sealer{}.Open(context.Background(), stored, idv.ImageAAD(key))
		if err != nil || !bytes.Equal(plain, img) {
			t.Fatalf("%s: stored image is not the sealed upload: %v", side, err)
		}
	}
}

func TestDocumentPostedImagesChecked(t *testing.T) {
	t.Parallel()
	yaml := []byte("doc_auth_result: Failed\n")
	tests := []struct {
		name      string
		testFiles bool
		files     map[string][]byte
		wantCode  int
	}{
		{"missing back", false, map[string][]byte{"front": nil}, 422},
		{"not an image", false, map[string][]byte{"front": []byte("%PDF-1.4 hello"), "back": nil}, 422},
		{"empty file", false, map[string][]byte{"front": {}, "back": {}}, 422},
		{"too large", false, map[string][]byte{"front": bytes.Repeat([]byte{0xff}, idv.MaxImageBytes+10)}, 422},
		{"YAML without test files", false, map[string][]byte{"front": yaml, "back": yaml}, 422},
		{"YAML with test files", true, map[string][]byte{"front": yaml, "back": yaml}, 303},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objects := &fake.ObjectStore{}
			h := newHarnessOpts(t, func(o *Options) {
				o.Documents = &DocumentOptions{Objects: objects, AllowTestFiles: tc.testFiles}
			})
			id := h.openCapture()
			files := map[string][]byte{}
			for side, b := range tc.files {
				if b == nil {
					b = testenv.PNG(t, 4, 4)
				}
				files[side] = b
			}
			code, _, body := h.postImages(id, files)
			if code != tc.wantCode {
				t.Fatalf("%d, want %d: %.300s", code, tc.wantCode, body)
			}
			if tc.wantCode != 303 && len(h.queue.Jobs()) != 0 {
				t.Fatal("job enqueued for refused images")
			}
		})
	}
}

func TestDocumentAttemptLimit(t *testing.T) {
	t.Parallel()
	objects := &fake.ObjectStore{}
	h := newHarnessOpts(t, func(o *Options) {
		o.Documents = &DocumentOptions{Objects: objects, Presigned: true}
		o.Limiter = memory.New(time.Now)
	})
	// Timeouts use no attempt: more of them than the limit are all let
	// through. (TestAttemptAccounting covers every step and outcome.)
	for range ratelimit.IDVDocAuth.Max + 1 {
		id := h.openCapture()
		if code, loc, _ := h.do("POST", "/verify/document_capture", uploadedForm(id)); loc != "/verify/document_capture" {
			t.Fatalf("submit after timeouts went to %d %q", code, loc)
		}
		h.finishDocument(idv.ProofingResult{Outcome: idv.OutcomeTimedOut})
		h.do("GET", "/verify/document_capture", nil)
	}
	if n := len(h.queue.Jobs()); n != ratelimit.IDVDocAuth.Max+1 {
		t.Fatalf("%d jobs, want %d", n, ratelimit.IDVDocAuth.Max+1)
	}
}
