package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/idv-dev/idv/internal/fake"
)

// Each POST route takes a body of what its form needs: over it, whether
// declared (Content-Length) or found while reading (chunked), the answer
// is 413 with a page that says so, and nothing is enqueued.
func TestOversizedFormRefused(t *testing.T) {
	t.Parallel()
	padded := func(form url.Values, n int) string {
		form.Set("padding", strings.Repeat("x", n))
		return form.Encode()
	}
	for _, tc := range []struct {
		name, path string
		presigned  bool
		body       string
		chunked    bool
		code       int
	}{
		{"verify_info", "/verify/verify_info", false, padded(goodForm(), maxFormBytes), false, 413},
		{"verify_info chunked", "/verify/verify_info", false, padded(goodForm(), maxFormBytes), true, 413},
		{"verify_info at the cap", "/verify/verify_info", false, padded(goodForm(), maxFormBytes-len(goodForm().Encode())-len("&padding=")), false, 303},
		{"phone", "/verify/phone", false, padded(url.Values{"phone": {"7035550199"}}, maxFormBytes), false, 413},
		{"start over", "/verify/start_over", false, padded(url.Values{}, maxFormBytes), false, 413},
		{"document with uploads", "/verify/document_capture", true, padded(url.Values{}, maxUploadedFormBytes), false, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarnessOpts(t, func(o *Options) {
				if tc.presigned {
					o.Documents = &DocumentOptions{Objects: &fake.ObjectStore{}, Presigned: true}
				}
			})
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // no length known: sent chunked
			}
			req, _ := http.NewRequest("POST", h.srv.URL+tc.path, body)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			code, _, page := h.send(req)
			if code != tc.code {
				t.Fatalf("%d-byte body: %d, want %d: %.300s", len(tc.body), code, tc.code, page)
			}
			if code == 413 && (!strings.Contains(page, htmlText("What you sent is larger than this form takes")) || len(h.queue.Jobs()) != 0) {
				t.Fatalf("413 page %.500s; %d jobs", page, len(h.queue.Jobs()))
			}
		})
	}
}

// The document form without pre-signed uploads takes both images: its cap
// is twice the image limit and a margin, and a body declared over it is
// refused before a byte is read, with a page about the photos.
func TestOversizedImagesRefused(t *testing.T) {
	t.Parallel()
	h, _ := newDocHarness(t, false)
	req := httptest.NewRequest("POST", "/verify/document_capture", strings.NewReader("--b--"))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	req.ContentLength = maxImagesBytes + 1
	rec := httptest.NewRecorder()
	h.srv.Config.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "Your photos are too large") {
		t.Fatalf("Content-Length %d: %d: %.500s", req.ContentLength, rec.Code, rec.Body.String())
	}
}
