package vendors_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/vendors/sim"
)

// documentClient builds a document client for the vendor at url.
func documentClient(t *testing.T, url string, timeout time.Duration) *vendors.Document {
	t.Helper()
	c := clients(t, vendors.Config{BaseURL: url, Timeout: timeout})
	if c.Document == nil {
		t.Fatal("vendors.New built no document client")
	}
	return c.Document
}

// defaultApplicant is what the client makes of sim.DefaultDocument.
func defaultApplicant() idv.Applicant {
	d := sim.DefaultDocument()
	a := idv.Applicant{FirstName: d.FirstName, LastName: d.LastName, DOB: d.DOB, Address1: d.Address1,
		Address2: d.Address2, City: d.City, State: d.State, ZIPCode: d.ZIPCode, StateIDNumber: d.StateIDNumber,
		StateIDJurisdiction: d.StateIDJurisdiction, StateIDExpiration: d.StateIDExpiration}
	a.Normalize()
	return a
}

// TestDocument drives the document client against the simulator over HTTP:
// real images, every trigger, and the faults.
func TestDocument(t *testing.T) {
	t.Parallel()
	srv, simLogs := startSim(t, sim.Options{})
	// The production default: under the race detector on a busy machine, two
	// 10 MB images can take longer than a few seconds to send and parse.
	normal := documentClient(t, srv.URL, 45*time.Second)
	short := documentClient(t, srv.URL, shortTimeout)
	pngImg := testenv.PNG(t, 8, 8)
	random := make([]byte, 256<<10)
	_, _ = rand.Read(random)
	withFirst := func(name string) *idv.Applicant {
		a := defaultApplicant()
		a.FirstName = name
		return &a
	}
	def := defaultApplicant()
	y := func(s string) []byte { return []byte(s) }
	fail := func(attr string, codes ...string) map[string][]string { return map[string][]string{attr: codes} }

	tests := []struct {
		name        string
		front, back []byte
		short       bool
		outcome     idv.Outcome
		errs        map[string][]string
		exc         string
		applicant   *idv.Applicant
	}{
		{name: "real PNG", front: pngImg, back: pngImg, outcome: idv.OutcomeSuccess, applicant: &def},
		{name: "random bytes", front: random, back: random, outcome: idv.OutcomeSuccess, applicant: &def},
		{name: "largest images allowed", front: make([]byte, idv.MaxImageBytes), back: make([]byte, idv.MaxImageBytes),
			outcome: idv.OutcomeSuccess, applicant: &def},
		{name: "YAML that is not a mapping", front: y("just a line of text"), back: pngImg, outcome: idv.OutcomeSuccess, applicant: &def},
		{name: "mapping without a known key", front: y("image_metrics: {front: {GlareMetric: 100}}\n"), back: pngImg,
			outcome: idv.OutcomeSuccess, applicant: &def},
		{name: "document first name only", front: y("document:\n  first_name: Ada\n"), back: pngImg,
			outcome: idv.OutcomeSuccess, applicant: withFirst("Ada")},
		{name: "JSON instead of YAML", front: y(`{"document": {"first_name": "Ada"}, "doc_auth_result": "Passed"}`), back: pngImg,
			outcome: idv.OutcomeSuccess, applicant: withFirst("Ada")},
		{name: "trigger on the back", front: pngImg, back: y("document: {first_name: Grace}\n"),
			outcome: idv.OutcomeSuccess, applicant: withFirst("Grace")},
		{name: "document normalised", front: y("document:\n  first_name: '  Ada '\n  state: mt\n  state_id_jurisdiction: nd\n  zipcode: 59010\n  dob: 1938-10-06\n"),
			back: pngImg, outcome: idv.OutcomeSuccess, applicant: withFirst("Ada")},
		{name: "passed", front: y("doc_auth_result: Passed\n"), back: pngImg, outcome: idv.OutcomeSuccess, applicant: &def},
		{name: "failed without alerts", front: y("doc_auth_result: Failed\n"), back: pngImg,
			outcome: idv.OutcomeFailure, errs: fail("document", "document_unverified")},
		{name: "document expired", front: y("failed_alerts:\n  - name: Document Expired\n    result: Failed\n"), back: pngImg,
			outcome: idv.OutcomeFailure, errs: fail("id_expired", "document_expired")},
		{name: "barcode attention passes with a note",
			front: y("doc_auth_result: Attention\nfailed_alerts:\n  - {name: 2D Barcode Read, result: Attention}\n"), back: pngImg,
			outcome: idv.OutcomeSuccess, errs: fail("barcode", "barcode_attention"), applicant: &def},
		{name: "barcode attention without doc_auth_result", front: y("failed_alerts: [{name: 2D Barcode Read, result: Attention}]"),
			back: pngImg, outcome: idv.OutcomeSuccess, errs: fail("barcode", "barcode_attention"), applicant: &def},
		{name: "barcode attention and a failed alert",
			front: y("doc_auth_result: Attention\nfailed_alerts:\n  - {name: 2D Barcode Read, result: Attention}\n  - {name: Visible Pattern, result: Failed}\n"),
			back:  pngImg, outcome: idv.OutcomeFailure, errs: fail("document", "document_features_unverified")},
		{name: "failed with only barcode attention", front: y("doc_auth_result: Failed\nfailed_alerts: [{name: 2D Barcode Read, result: Attention}]"),
			back: pngImg, outcome: idv.OutcomeFailure, errs: fail("barcode", "barcode_unreadable")},
		{name: "barcode unreadable", front: pngImg, back: y("failed_alerts: [{name: 2D Barcode Read, result: Failed}]"),
			outcome: idv.OutcomeFailure, errs: fail("barcode", "barcode_unreadable")},
		{name: "several alerts", front: y("failed_alerts:\n  - {name: Birth Date Crosscheck, result: Failed}\n  - {name: Full Name Crosscheck, result: Failed}\n  - {name: Document Classification, result: Failed}\n  - {name: Sex Crosscheck, result: Passed}\n"),
			back: pngImg, outcome: idv.OutcomeFailure,
			errs: map[string][]string{"document": {"document_details_mismatch", "document_type_unknown"}}},
		{name: "unknown alert", front: y("failed_alerts: [{name: Something New, result: Failed}]"), back: pngImg,
			outcome: idv.OutcomeFailure, errs: fail("document", "document_unverified")},
		{name: "passed alerts only", front: y("passed_alerts: [{name: Document Expired, result: Passed}]"), back: pngImg,
			outcome: idv.OutcomeSuccess, applicant: &def},
		{name: "front image load failure", front: y("http_status: {front: 438}"), back: pngImg,
			outcome: idv.OutcomeFailure, errs: fail("front", "image_load_failure")},
		{name: "back pixel depth failure", front: y("http_status: {back: 439}"), back: pngImg,
			outcome: idv.OutcomeFailure, errs: fail("back", "pixel_depth_failure")},
		{name: "image size failure on both sides", front: y("http_status: {front: 440}"), back: y("http_status: {back: 440}"),
			outcome: idv.OutcomeFailure, errs: map[string][]string{"front": {"image_size_failure"}, "back": {"image_size_failure"}}},
		{name: "empty back image", front: pngImg, back: nil, outcome: idv.OutcomeFailure, errs: fail("back", "image_load_failure")},
		{name: "network error", front: y("http_status: {result: 500}"), back: pngImg,
			outcome: idv.OutcomeException, exc: "vendor returned HTTP 500"},
		{name: "network error on a side", front: pngImg, back: y("http_status: {back: 500}"),
			outcome: idv.OutcomeException, exc: "vendor returned HTTP 500"},
		{name: "simulate exception", front: y("simulate: exception"), back: pngImg,
			outcome: idv.OutcomeException, exc: "vendor returned HTTP 500"},
		{name: "simulate timeout", front: y("simulate: timeout"), back: pngImg, short: true,
			outcome: idv.OutcomeTimedOut, exc: "request timed out"},
		{name: "simulate unparseable", front: y("simulate: unparseable"), back: pngImg,
			outcome: idv.OutcomeException, exc: "unparseable response"},
		{name: "simulate unreachable", front: y("simulate: unreachable"), back: pngImg,
			outcome: idv.OutcomeException, exc: "connection failed"},
		{name: "back's keys win", front: y("doc_auth_result: Failed"), back: y("doc_auth_result: Passed"),
			outcome: idv.OutcomeSuccess, applicant: &def},
		{name: "bad trigger value", front: y("doc_auth_result: Maybe"), back: pngImg,
			outcome: idv.OutcomeException, exc: "vendor returned HTTP 400"},
		{name: "bad http_status", front: y("http_status: {front: 404}"), back: pngImg,
			outcome: idv.OutcomeException, exc: "vendor returned HTTP 400"},
		{name: "oversize front refused before sending", front: make([]byte, idv.MaxImageBytes+1), back: pngImg,
			outcome: idv.OutcomeFailure, errs: fail("front", "image_too_large")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := normal
			if tt.short {
				c = short
			}
			r, a := c.ProofDocument(t.Context(), tt.front, tt.back)
			if got := r.Outcome(); got != tt.outcome {
				t.Fatalf("outcome = %s, want %s (result %+v)", got, tt.outcome, r)
			}
			if !reflect.DeepEqual(r.Errors, tt.errs) {
				t.Errorf("errors = %v, want %v", r.Errors, tt.errs)
			}
			if r.Exception != tt.exc {
				t.Errorf("exception = %q, want %q", r.Exception, tt.exc)
			}
			if r.Vendor != vendors.NameDocument {
				t.Errorf("vendor = %q, want %q", r.Vendor, vendors.NameDocument)
			}
			switch {
			case tt.applicant == nil && a != nil:
				t.Errorf("applicant returned on %s", r.Outcome())
			case tt.applicant != nil && a == nil:
				t.Errorf("no applicant returned on %s", r.Outcome())
			case tt.applicant != nil:
				if diff := applicantDiff(*a, *tt.applicant); diff != nil {
					t.Errorf("applicant differs in %v", diff)
				}
			}
			if r.Outcome() == idv.OutcomeSuccess && (r.TransactionID == "" || r.Reference == "") {
				t.Errorf("transaction id %q, reference %q: want both", r.TransactionID, r.Reference)
			}
			if tt.short && r.DurationMS < shortTimeout.Milliseconds() {
				t.Errorf("duration %d ms, want at least the %v timeout", r.DurationMS, shortTimeout)
			}
		})
	}
	t.Cleanup(func() {
		if l := simLogs.String(); l != "" {
			t.Errorf("the simulator's server logged:\n%s", l)
		}
	})
}

// TestDocumentFaults covers what the simulator does not produce: a vendor
// nobody listens for, and vendors whose answers are not answers.
func TestDocumentFaults(t *testing.T) {
	t.Parallel()
	answer := func(status int, body string) string {
		srv, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		return srv.URL
	}
	tests := []struct {
		name, url string
		exc       string
	}{
		{"unreachable", closedURL(t), "connection failed"},
		{"garbled", answer(http.StatusOK, "<html>502 Bad Gateway</html>"), "unparseable response"},
		{"no success field", answer(http.StatusOK, `{"document":{"first_name":"X"}}`), "unparseable response"},
		{"truncated JSON", answer(http.StatusOK, `{"success":true,"document":{"first_na`), "unparseable response"},
		{"HTTP 503", answer(http.StatusServiceUnavailable, `{}`), "vendor returned HTTP 503"},
		{"redirect", answer(http.StatusTemporaryRedirect, ``), "vendor returned HTTP 307"},
		{"answer too large", answer(http.StatusOK, `{"success":true,"reference":"`+strings.Repeat("a", 2<<20)+`"}`), "unparseable response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, a := documentClient(t, tt.url, 45*time.Second).ProofDocument(t.Context(), testenv.PNG(t, 8, 8), testenv.PNG(t, 8, 8))
			if r.Outcome() != idv.OutcomeException || r.Exception != tt.exc || a != nil {
				t.Errorf("got %+v (applicant returned: %t), want exception %q", r, a != nil, tt.exc)
			}
		})
	}
}

// TestDocumentRequest checks what goes on the wire: one multipart request
// with exactly the two images, nothing else, and no request at all for an
// image over the limit.
func TestDocumentRequest(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	var gotFront, gotBack, gotType string
	var gotLength int64
	srv, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		gotType, gotLength = r.Header.Get("Content-Type"), r.ContentLength
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, "not multipart", http.StatusBadRequest)
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			var b bytes.Buffer
			_, _ = b.ReadFrom(p)
			if p.Header.Get("Content-Type") != "application/octet-stream" {
				http.Error(w, "part type", http.StatusBadRequest)
				return
			}
			switch p.FormName() {
			case "front":
				gotFront = b.String()
			case "back":
				gotBack = b.String()
			default:
				http.Error(w, "extra part", http.StatusBadRequest)
				return
			}
		}
		_, _ = w.Write([]byte(`{"success":true}`))
	}))
	c := documentClient(t, srv.URL, 45*time.Second)

	r, a := c.ProofDocument(t.Context(), []byte("front-bytes"), []byte("back-bytes"))
	if !r.Success || a != nil {
		t.Fatalf("got %+v, applicant %t; want success without a document", r, a != nil)
	}
	if gotFront != "front-bytes" || gotBack != "back-bytes" {
		t.Errorf("vendor received front %q, back %q", gotFront, gotBack)
	}
	if !strings.HasPrefix(gotType, "multipart/form-data; boundary=") || gotLength <= 0 {
		t.Errorf("Content-Type %q, Content-Length %d", gotType, gotLength)
	}

	big := make([]byte, idv.MaxImageBytes+1)
	r, a = c.ProofDocument(t.Context(), big, big)
	want := map[string][]string{"front": {"image_too_large"}, "back": {"image_too_large"}}
	if r.Outcome() != idv.OutcomeFailure || !reflect.DeepEqual(r.Errors, want) || a != nil {
		t.Errorf("oversize images: %+v, want failure %v", r, want)
	}
	if n := reached.Load(); n != 1 {
		t.Errorf("vendor reached %d times, want 1 (none for the oversize images)", n)
	}
}

// TestDocumentLatency checks the simulated latency on the document path.
func TestDocumentLatency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		latency time.Duration
		timeout time.Duration
		outcome idv.Outcome
	}{
		{"answered after the latency", 50 * time.Millisecond, 5 * time.Second, idv.OutcomeSuccess},
		{"latency beyond the client timeout", time.Hour, shortTimeout, idv.OutcomeTimedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := startSim(t, sim.Options{Latency: tt.latency})
			r, _ := documentClient(t, srv.URL, tt.timeout).ProofDocument(t.Context(), testenv.PNG(t, 8, 8), testenv.PNG(t, 8, 8))
			if r.Outcome() != tt.outcome {
				t.Fatalf("outcome %s, want %s (%+v)", r.Outcome(), tt.outcome, r)
			}
			if floor := min(tt.latency, tt.timeout).Milliseconds(); r.DurationMS < floor {
				t.Errorf("duration %d ms, want at least %d", r.DurationMS, floor)
			}
		})
	}
}

// documentCanaries are distinctive values printed on a test document. None
// may come back in a VendorResult, a log line or a proxied request line.
var documentCanaries = []string{
	"Doccanaryfirst", "Doccanarylast", "1947-03-21", "19470321", "Doccanarystreet",
	"Doccanaryapt", "Doccanarytown", "86421", "DOCCANARYID77", "2071-05-04", "20710504",
}

// canaryDocument is a trigger file with a canary in every document field,
// followed by extra trigger lines.
func canaryDocument(extra string) []byte {
	return []byte(`document:
  first_name: Doccanaryfirst
  last_name: Doccanarylast
  dob: 1947-03-21
  address1: 12 Doccanarystreet
  address2: Doccanaryapt 9
  city: Doccanarytown
  state: VA
  zipcode: "86421"
  state_id_number: DOCCANARYID77
  state_id_jurisdiction: VA
  state_id_expiration: 2071-05-04
` + extra)
}

// documentEchoVendor is a careless vendor: it reads the canary document and
// reflects its values into every string of its answer.
func documentEchoVendor(success bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc := vendors.DocumentFields{FirstName: "Doccanaryfirst", LastName: "Doccanarylast", DOB: "1947-03-21",
			Address1: "12 Doccanarystreet", Address2: "Doccanaryapt 9", City: "Doccanarytown", State: "VA",
			ZIPCode: "86421", StateIDNumber: "DOCCANARYID77", StateIDJurisdiction: "VA", StateIDExpiration: "2071-05-04"}
		errs := map[string][]string{}
		var all []string
		for _, v := range []string{doc.FirstName, doc.LastName, doc.DOB, "19470321", doc.Address1, doc.Address2,
			doc.City, doc.ZIPCode, strings.ToLower(doc.StateIDNumber), doc.StateIDExpiration, "20710504"} {
			all = append(all, v)
			errs[v] = []string{v, strings.ToLower(v), "bad " + v}
			errs["document"] = append(errs["document"], strings.ToLower(strings.ReplaceAll(v, " ", "_")))
		}
		resp := vendors.DocumentResponse{
			VerifyResponse: vendors.VerifyResponse{
				Success: &success, Errors: errs, TransactionID: doc.StateIDNumber,
				Reference: "ref-" + doc.LastName, VerifiedAttributes: all,
			},
			Document: &doc,
		}
		if !success {
			resp.Exception = strings.ToLower(doc.FirstName)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
}

// TestDocumentNoPIIInResults reads a canary document through every trigger,
// through the forward proxy and from vendors that echo what they read, and
// checks that no canary appears in any result, server log or proxied
// request line, while a successful read still returns the document.
func TestDocumentNoPIIInResults(t *testing.T) {
	t.Parallel()
	simSrv, simLogs := startSim(t, sim.Options{})
	_, proxyURL, proxyLogs := startProxy(t)
	logs := []*testenv.Log{simLogs, proxyLogs}
	viaProxy := func(url string, timeout time.Duration) *vendors.Document {
		c := clients(t, vendors.Config{BaseURL: url, ProxyURL: proxyURL, Timeout: timeout})
		return c.Document
	}
	viaSim := viaProxy(simSrv.URL, 5*time.Second)
	viaSimShort := viaProxy(simSrv.URL, shortTimeout)
	echoes := map[bool]*vendors.Document{}
	for _, ok := range []bool{true, false} {
		srv, l := serve(t, documentEchoVendor(ok))
		logs = append(logs, l)
		echoes[ok] = viaProxy(srv.URL, 5*time.Second)
	}
	pngImg := testenv.PNG(t, 8, 8)

	tests := []struct {
		name     string
		c        *vendors.Document
		extra    string
		readBack bool // the document comes back
	}{
		{"passed", viaSim, "", true},
		{"barcode attention", viaSim, "failed_alerts: [{name: 2D Barcode Read, result: Attention}]\n", true},
		{"failed", viaSim, "doc_auth_result: Failed\n", false},
		{"expired", viaSim, "failed_alerts: [{name: Document Expired, result: Failed}]\n", false},
		{"image failure", viaSim, "http_status: {front: 438}\n", false},
		{"network error", viaSim, "http_status: {result: 500}\n", false},
		{"bad trigger", viaSim, "simulate: sometimes\n", false},
		{"timeout", viaSimShort, "simulate: timeout\n", false},
		{"unparseable", viaSim, "simulate: unparseable\n", false},
		{"unreachable", viaSim, "simulate: unreachable\n", false},
		{"echoing vendor, success", echoes[true], "", true},
		{"echoing vendor, failure", echoes[false], "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, a := tt.c.ProofDocument(t.Context(), canaryDocument(tt.extra), pngImg)
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if leaked := findCanaries(string(b), documentCanaries); leaked != nil {
				t.Errorf("result carries %q: %s", leaked, b)
			}
			if tt.readBack != (a != nil) {
				t.Fatalf("document returned: %t, want %t (%+v)", a != nil, tt.readBack, r)
			}
			if a != nil && (a.FirstName != "Doccanaryfirst" || a.StateIDNumber != "DOCCANARYID77" || a.ZIPCode != "86421") {
				t.Error("the document read is not the canary document")
			}
		})
	}
	t.Cleanup(func() {
		for i, l := range logs {
			if leaked := findCanaries(l.String(), documentCanaries); leaked != nil {
				t.Errorf("server log %d carries %q", i, leaked)
			}
		}
	})
}

// applicantDiff names the fields in which got and want differ, without
// their values.
func applicantDiff(got, want idv.Applicant) []string {
	var diff []string
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		if g.Field(i).Interface() != w.Field(i).Interface() {
			diff = append(diff, g.Type().Field(i).Name)
		}
	}
	return diff
}

// TestDocumentThroughTinyproxy sends document requests through a real
// tinyproxy with an allow-list, as workers do: megabytes of image go
// through, the proxy's log shows the request line and nothing of the
// document, and a host outside the allow-list is an exception.
func TestDocumentThroughTinyproxy(t *testing.T) {
	t.Parallel()
	vendor := httptest.NewServer(sim.New(sim.Options{}))
	t.Cleanup(vendor.Close)
	proxy := testenv.Tinyproxy(t, "127.0.0.1")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	vc, err := vendors.New(vendors.Config{BaseURL: vendor.URL, ProxyURL: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vc.HTTP.CloseIdleConnections)
	back := make([]byte, 3<<20)
	_, _ = rand.Read(back)
	r, a := vc.Document.ProofDocument(ctx, canaryDocument(""), back)
	if !r.Success || a == nil || a.FirstName != "Doccanaryfirst" {
		t.Errorf("document through the proxy: %+v, document read: %t", r, a != nil)
	}
	r, a = vc.Document.ProofDocument(ctx, canaryDocument("failed_alerts: [{name: 2D Barcode Read, result: Failed}]\n"), back)
	if want := map[string][]string{"barcode": {"barcode_unreadable"}}; r.Outcome() != idv.OutcomeFailure ||
		!reflect.DeepEqual(r.Errors, want) || a != nil {
		t.Errorf("failing document through the proxy: %+v, want failure %v", r, want)
	}

	denied := strings.Replace(vendor.URL, "127.0.0.1", "localhost", 1)
	vd, err := vendors.New(vendors.Config{BaseURL: denied, ProxyURL: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vd.HTTP.CloseIdleConnections)
	if r, a := vd.Document.ProofDocument(ctx, canaryDocument(""), back); r.Outcome() != idv.OutcomeException || a != nil {
		t.Errorf("a host outside the allow-list: %+v", r)
	}

	log := proxy.Log(t)
	for _, want := range []string{
		"POST " + vendor.URL + vendors.PathDocument,
		`Proxying refused on filtered domain "localhost"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("proxy log lacks %q:\n%s", want, log)
		}
	}
	if leaked := findCanaries(log, documentCanaries); leaked != nil {
		t.Errorf("proxy log carries %q", leaked)
	}
}
