package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/vendors/sim"
)

type part struct {
	name string
	data []byte
}

// multipartBody encodes parts after a preamble of about preamble bytes of
// short lines, which multipart readers skip.
func multipartBody(t *testing.T, preamble int, parts ...part) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	for buf.Len() < preamble {
		buf.WriteString(strings.Repeat("x", 62) + "\r\n")
	}
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		pw, err := w.CreateFormFile(p.name, p.name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pw.Write(p.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), buf.Bytes()
}

// postDocument sends a document request and returns the status and body,
// or a transport error.
func postDocument(ctx context.Context, t *testing.T, url, contentType string, body []byte) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+vendors.PathDocument, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestDocumentHTTP covers the request handling the client never exercises:
// malformed and oversized requests.
func TestDocumentHTTP(t *testing.T) {
	t.Parallel()
	srv := start(t, sim.Options{})
	img := []byte("not an image, but not a trigger either")
	big := make([]byte, idv.MaxImageBytes+1)
	tests := []struct {
		name     string
		preamble int
		parts    []part
		ct       string // overrides the multipart content type
		status   int
		contains string
	}{
		{name: "well-formed", parts: []part{{"front", img}, {"back", img}}, status: http.StatusOK, contains: `"success":true`},
		{name: "not multipart", parts: []part{{"front", img}, {"back", img}}, ct: "application/json",
			status: http.StatusBadRequest, contains: "bad_request"},
		{name: "back missing", parts: []part{{"front", img}}, status: http.StatusBadRequest, contains: "bad_request"},
		{name: "no parts", status: http.StatusBadRequest, contains: "bad_request"},
		{name: "unknown part", parts: []part{{"front", img}, {"selfie", img}, {"back", img}},
			status: http.StatusBadRequest, contains: "bad_request"},
		{name: "front twice", parts: []part{{"front", img}, {"front", img}, {"back", img}},
			status: http.StatusBadRequest, contains: "bad_request"},
		{name: "image over the limit", parts: []part{{"front", big}, {"back", img}},
			status: http.StatusRequestEntityTooLarge, contains: "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ct, body := multipartBody(t, tt.preamble, tt.parts...)
			if tt.ct != "" {
				ct = tt.ct
			}
			status, got, err := postDocument(t.Context(), t, srv.URL, ct, body)
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status || !strings.Contains(got, tt.contains) {
				t.Errorf("got %d %s, want %d containing %s", status, got, tt.status, tt.contains)
			}
		})
	}

	// A request over vendors.MaxDocumentRequest, though each image is
	// within its limit, is refused. The server stops reading at the limit,
	// so the client may see the connection close before the 413: either
	// is a refusal.
	t.Run("request over the limit", func(t *testing.T) {
		t.Parallel()
		full := make([]byte, idv.MaxImageBytes)
		ct, body := multipartBody(t, 128<<10, part{"front", full}, part{"back", full})
		status, got, err := postDocument(t.Context(), t, srv.URL, ct, body)
		if err == nil && status != http.StatusRequestEntityTooLarge {
			t.Errorf("got %d %s, want 413 or a closed connection", status, got)
		}
	})
}

// decide posts front and back and decodes the answer.
func decide(t *testing.T, url string, front, back []byte) (int, vendors.DocumentResponse) {
	t.Helper()
	ct, body := multipartBody(t, 0, part{"front", front}, part{"back", back})
	status, got, err := postDocument(t.Context(), t, url, ct, body)
	if err != nil {
		t.Fatal(err)
	}
	var r vendors.DocumentResponse
	if status == http.StatusOK {
		if err := json.Unmarshal([]byte(got), &r); err != nil || r.Success == nil {
			t.Fatalf("answer %s: %v", got, err)
		}
	}
	return status, r
}

// TestDocumentAlerts maps every alert name the simulator knows (in any
// case) and checks that the codes it answers are exactly DocumentCodes:
// each listed code can be produced, and nothing unlisted is.
func TestDocumentAlerts(t *testing.T) {
	t.Parallel()
	srv := start(t, sim.Options{})
	img := []byte{0x89, 'P', 'N', 'G'}
	tests := []struct {
		trigger string
		errs    map[string][]string
	}{
		{"failed_alerts: [{name: 2D Barcode Read}]", map[string][]string{"barcode": {"barcode_unreadable"}}},
		{"failed_alerts: [{name: 2d barcode read, result: attention}]", map[string][]string{"barcode": {"barcode_attention"}}},
		{"failed_alerts: [{name: 2D Barcode Content}]", map[string][]string{"barcode": {"barcode_mismatch"}}},
		{"failed_alerts: [{name: Document Expired}]", map[string][]string{"id_expired": {"document_expired"}}},
		{"failed_alerts: [{name: Expiration Date Valid}]", map[string][]string{"id_expired": {"document_expired"}}},
		{"failed_alerts: [{name: DOCUMENT CLASSIFICATION}]", map[string][]string{"document": {"document_type_unknown"}}},
		{"failed_alerts: [{name: Birth Date Crosscheck}]", map[string][]string{"document": {"document_details_mismatch"}}},
		{"failed_alerts: [{name: Full Name Crosscheck}]", map[string][]string{"document": {"document_details_mismatch"}}},
		{"failed_alerts: [{name: Document Number Crosscheck}]", map[string][]string{"document": {"document_details_mismatch"}}},
		{"failed_alerts: [{name: Expiration Date Crosscheck}]", map[string][]string{"document": {"document_details_mismatch"}}},
		{"failed_alerts: [{name: Issue Date Crosscheck}]", map[string][]string{"document": {"document_details_mismatch"}}},
		{"failed_alerts: [{name: Sex Crosscheck}]", map[string][]string{"document": {"document_details_mismatch"}}},
		{"failed_alerts: [{name: Document Crosscheck Aggregation}]", map[string][]string{"document": {"document_details_mismatch"}}},
		{"failed_alerts: [{name: Visible Pattern}]", map[string][]string{"document": {"document_features_unverified"}}},
		{"failed_alerts: [{name: Visible Photo Characteristics}]", map[string][]string{"document": {"document_features_unverified"}}},
		{"failed_alerts: [{name: Visible Color Response}]", map[string][]string{"document": {"document_features_unverified"}}},
		{"failed_alerts: [{name: Layout Valid}]", map[string][]string{"document": {"document_features_unverified"}}},
		{"failed_alerts: [{name: Photo Printing}]", map[string][]string{"document": {"document_features_unverified"}}},
		{"failed_alerts: [{name: Not A Known Alert}]", map[string][]string{"document": {"document_unverified"}}},
		{"doc_auth_result: Caution", map[string][]string{"document": {"document_unverified"}}},
		{"failed_alerts: [{name: Visible Pattern, result: Caution}]", map[string][]string{"document": {"document_features_unverified"}}},
		{"http_status: {front: 438}", map[string][]string{"front": {"image_load_failure"}}},
		{"http_status: {front: 439}", map[string][]string{"front": {"pixel_depth_failure"}}},
		{"http_status: {front: 440, back: 200}", map[string][]string{"front": {"image_size_failure"}}},
	}
	emitted := map[string]bool{}
	for _, tt := range tests {
		status, r := decide(t, srv.URL, []byte(tt.trigger), img)
		if status != http.StatusOK {
			t.Errorf("%s: HTTP %d", tt.trigger, status)
			continue
		}
		if got, _ := json.Marshal(r.Errors); string(got) != mustJSON(t, tt.errs) {
			t.Errorf("%s: errors %s, want %s", tt.trigger, got, mustJSON(t, tt.errs))
		}
		for _, codes := range r.Errors {
			for _, c := range codes {
				emitted[c] = true
			}
		}
	}
	codes := sim.DocumentCodes()
	for c := range emitted {
		if !slices.Contains(codes, c) {
			t.Errorf("code %q answered but not in DocumentCodes", c)
		}
	}
	for _, c := range codes {
		if !emitted[c] {
			t.Errorf("DocumentCodes lists %q, which no trigger here produced", c)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDocumentDefault checks the default reading: a real image passes with
// DefaultDocument, which expires in the future, and a trigger's document
// fields replace only themselves.
func TestDocumentDefault(t *testing.T) {
	t.Parallel()
	srv := start(t, sim.Options{})
	def := sim.DefaultDocument()
	if exp, err := time.Parse(time.DateOnly, def.StateIDExpiration); err != nil || !exp.After(time.Now()) {
		t.Errorf("default expiry %q is not a future date", def.StateIDExpiration)
	}
	_, r := decide(t, srv.URL, []byte{0xff, 0xd8, 0xff, 0xe0}, []byte{0xff, 0xd8, 0xff, 0xe0})
	if !*r.Success || r.Document == nil || *r.Document != def {
		t.Errorf("a JPEG: success %t, document %+v; want success with the default document", *r.Success, r.Document)
	}
	_, r = decide(t, srv.URL, []byte("document:\n  first_name: Ada\n  middle_name: ignored\n"), []byte("document: {city: Helena}"))
	want := def
	want.FirstName, want.City = "Ada", "Helena"
	if !*r.Success || r.Document == nil || *r.Document != want {
		t.Errorf("merged document %+v, want %+v", r.Document, want)
	}
}

// TestDocumentHang checks a document timeout trigger: it answers HTTP 504
// after the hang limit, and a client that gives up releases the handler at
// once.
func TestDocumentHang(t *testing.T) {
	t.Parallel()
	ct, body := multipartBody(t, 0, part{"front", []byte("simulate: timeout")}, part{"back", []byte("x")})
	t.Run("limit", func(t *testing.T) {
		t.Parallel()
		srv := start(t, sim.Options{Hang: 50 * time.Millisecond})
		status, _, err := postDocument(t.Context(), t, srv.URL, ct, body)
		if err != nil || status != http.StatusGatewayTimeout {
			t.Fatalf("got %d %v, want HTTP 504", status, err)
		}
	})
	t.Run("client gives up", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(sim.New(sim.Options{}))
		defer srv.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if _, _, err := postDocument(ctx, t, srv.URL, ct, body); err == nil {
			t.Fatal("got an answer, want the client to time out")
		}
		done := make(chan struct{})
		go func() { srv.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the handler still holds the request after the client left")
		}
	})
}
