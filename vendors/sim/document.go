package sim

import (
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/vendors"
)

// Document triggers. In development the "image" of either side may be a
// small YAML (or JSON) mapping that chooses the outcome, as with the
// document mock of the identity provider behind the seeds:
//
//	document:            PII to read from the ID, merged over DefaultDocument
//	doc_auth_result:     Passed | Failed | Attention (Caution is Attention)
//	failed_alerts:       [{name: "2D Barcode Read", result: Attention}, ...]
//	passed_alerts:       accepted; alerts whose result is Passed change nothing
//	http_status:         {front: 438|439|440, back: ..., result: 500}
//	simulate:            timeout | exception | unparseable | unreachable
//
// Anything that is not such a mapping (a real JPEG or PNG, any other
// bytes) passes with DefaultDocument. A mapping with a known key but a
// value the simulator does not understand is answered HTTP 400
// (bad_trigger), so a typo in a QA file shows instead of passing silently.
// When both sides carry a trigger, the back's keys win over the front's and
// the alerts and document fields of both apply.

// maxTrigger bounds the size of an image read as a trigger file. Trigger
// files are a few lines; real images are larger and not UTF-8, so they are
// never handed to the YAML parser.
const maxTrigger = 64 << 10

// documentHang is how long a document timeout trigger waits when
// Options.Hang is not set: longer than vendors.DefaultDocumentTimeout, so a
// client with the default timeout sees a timeout, not the HTTP 504.
const documentHang = vendors.DefaultDocumentTimeout + 30*time.Second

// HTTP statuses of the document mock's http_status trigger.
const (
	statusImageLoad  = 438
	statusPixelDepth = 439
	statusImageSize  = 440
)

var imageStatusCodes = map[int]string{
	statusImageLoad:  vendors.CodeImageLoadFailure,
	statusPixelDepth: vendors.CodePixelDepthFailure,
	statusImageSize:  vendors.CodeImageSizeFailure,
}

// alert is where a vendor alert lands in our vocabulary.
type alert struct{ attr, code string }

// barcodeRead is the alert whose Attention result alone still passes.
const barcodeRead = "2d barcode read"

// alerts maps the names of a TrueID-like vendor's alerts (lower case) to our
// codes. An alert not listed fails as document_unverified.
var alerts = map[string]alert{
	barcodeRead:                       {vendors.AttrBarcode, vendors.CodeBarcodeUnreadable},
	"2d barcode content":              {vendors.AttrBarcode, vendors.CodeBarcodeMismatch},
	"document expired":                {vendors.AttrIDExpired, vendors.CodeDocumentExpired},
	"expiration date valid":           {vendors.AttrIDExpired, vendors.CodeDocumentExpired},
	"document classification":         {vendors.AttrDocument, vendors.CodeDocumentTypeUnknown},
	"birth date crosscheck":           {vendors.AttrDocument, vendors.CodeDetailsMismatch},
	"full name crosscheck":            {vendors.AttrDocument, vendors.CodeDetailsMismatch},
	"document number crosscheck":      {vendors.AttrDocument, vendors.CodeDetailsMismatch},
	"expiration date crosscheck":      {vendors.AttrDocument, vendors.CodeDetailsMismatch},
	"issue date crosscheck":           {vendors.AttrDocument, vendors.CodeDetailsMismatch},
	"sex crosscheck":                  {vendors.AttrDocument, vendors.CodeDetailsMismatch},
	"document crosscheck aggregation": {vendors.AttrDocument, vendors.CodeDetailsMismatch},
	"visible pattern":                 {vendors.AttrDocument, vendors.CodeFeaturesUnverified},
	"visible photo characteristics":   {vendors.AttrDocument, vendors.CodeFeaturesUnverified},
	"visible color response":          {vendors.AttrDocument, vendors.CodeFeaturesUnverified},
	"layout valid":                    {vendors.AttrDocument, vendors.CodeFeaturesUnverified},
	"photo printing":                  {vendors.AttrDocument, vendors.CodeFeaturesUnverified},
}

// unknownAlert is where an alert not in alerts lands.
var unknownAlert = alert{vendors.AttrDocument, vendors.CodeDocumentUnverified}

// DocumentCodes lists every error code the document simulator can answer.
func DocumentCodes() []string {
	var codes []string
	for _, c := range imageStatusCodes {
		codes = append(codes, c)
	}
	for _, a := range alerts {
		codes = append(codes, a.code)
	}
	codes = append(codes, unknownAlert.code, vendors.CodeBarcodeAttention)
	slices.Sort(codes)
	return slices.Compact(codes)
}

// DefaultDocument is what the simulator reads from a document that carries
// no trigger: a fictitious person, in the spirit of the identity provider's
// mock applicant, whose ID expires far in the future.
func DefaultDocument() vendors.DocumentFields {
	return vendors.DocumentFields{
		FirstName:           "FAKEY",
		LastName:            "MCFAKERSON",
		DOB:                 "1938-10-06",
		Address1:            "1 FAKE RD",
		City:                "GREAT FALLS",
		State:               "MT",
		ZIPCode:             "59010",
		StateIDNumber:       "1111111111111",
		StateIDJurisdiction: "ND",
		StateIDExpiration:   "2099-12-31",
	}
}

// trigger is a decoded trigger file.
type trigger struct {
	Document      map[string]string `yaml:"document"`
	DocAuthResult string            `yaml:"doc_auth_result"`
	FailedAlerts  []triggerAlert    `yaml:"failed_alerts"`
	PassedAlerts  []triggerAlert    `yaml:"passed_alerts"`
	HTTPStatus    map[string]int    `yaml:"http_status"`
	Simulate      string            `yaml:"simulate"`
}

type triggerAlert struct {
	Name   string `yaml:"name"`
	Result string `yaml:"result"`
}

// triggerKeys are the keys that make a mapping a trigger file.
var triggerKeys = map[string]bool{
	"document": true, "doc_auth_result": true, "failed_alerts": true,
	"passed_alerts": true, "http_status": true, "simulate": true,
}

// errBadTrigger is a trigger file the simulator cannot carry out. It is
// never shown: the answer is a fixed HTTP 400.
var errBadTrigger = errors.New("bad trigger")

// parseTrigger returns the trigger file img holds, or nil when img is not
// one (a real image, or YAML without a known key).
func parseTrigger(img []byte) (*trigger, error) {
	if len(img) == 0 || len(img) > maxTrigger || !utf8.Valid(img) {
		return nil, nil
	}
	var root yaml.Node
	if yaml.Unmarshal(img, &root) != nil || root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, nil
	}
	m := root.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, nil
	}
	known := false
	for i := 0; i < len(m.Content); i += 2 {
		known = known || triggerKeys[m.Content[i].Value]
	}
	if !known {
		return nil, nil
	}
	var t trigger
	if err := m.Decode(&t); err != nil {
		return nil, errBadTrigger
	}
	return &t, nil
}

// merge combines the triggers of both sides; either may be nil.
func merge(front, back *trigger) trigger {
	var t trigger
	for _, s := range []*trigger{front, back} {
		if s == nil {
			continue
		}
		for k, v := range s.Document {
			if t.Document == nil {
				t.Document = map[string]string{}
			}
			t.Document[k] = v
		}
		for k, v := range s.HTTPStatus {
			if t.HTTPStatus == nil {
				t.HTTPStatus = map[string]int{}
			}
			t.HTTPStatus[k] = v
		}
		if s.DocAuthResult != "" {
			t.DocAuthResult = s.DocAuthResult
		}
		if s.Simulate != "" {
			t.Simulate = s.Simulate
		}
		t.FailedAlerts = append(t.FailedAlerts, s.FailedAlerts...)
		t.PassedAlerts = append(t.PassedAlerts, s.PassedAlerts...)
	}
	return t
}

// documentField returns the field of d a trigger's document key names, or
// nil for a key the wire protocol does not carry (such keys are ignored,
// so the identity provider's fixtures with extra keys still work).
func documentField(d *vendors.DocumentFields, key string) *string {
	switch key {
	case "first_name":
		return &d.FirstName
	case "last_name":
		return &d.LastName
	case "dob":
		return &d.DOB
	case "address1":
		return &d.Address1
	case "address2":
		return &d.Address2
	case "city":
		return &d.City
	case "state":
		return &d.State
	case "zipcode":
		return &d.ZIPCode
	case "state_id_number":
		return &d.StateIDNumber
	case "state_id_jurisdiction":
		return &d.StateIDJurisdiction
	case "state_id_expiration":
		return &d.StateIDExpiration
	}
	return nil
}

// docAnswer is what a document trigger decided.
type docAnswer struct {
	kind answerKind
	body vendors.DocumentResponse
	bad  bool // a trigger file the simulator cannot carry out: HTTP 400
}

// decideDocument chooses the answer to a document request: simulated
// faults first, then image problems, then the authentication verdict.
func (s *Simulator) decideDocument(front, back []byte) docAnswer {
	ft, err1 := parseTrigger(front)
	bt, err2 := parseTrigger(back)
	if err1 != nil || err2 != nil {
		return docAnswer{bad: true}
	}
	t := merge(ft, bt)

	switch strings.ToLower(strings.TrimSpace(t.Simulate)) {
	case "":
	case "timeout":
		return docAnswer{kind: answerHang}
	case "exception":
		return docAnswer{kind: answerError}
	case "unparseable":
		return docAnswer{kind: answerGarbage}
	case "unreachable":
		return docAnswer{kind: answerUnreachable}
	default:
		return docAnswer{bad: true}
	}

	pii := DefaultDocument()
	for k, v := range t.Document {
		if f := documentField(&pii, k); f != nil {
			*f = v
		}
	}

	// Image problems: the vendor could not analyse an image, so it read
	// nothing and returns no document.
	imageErrs := map[string][]string{}
	for side, img := range map[string][]byte{vendors.AttrFront: front, vendors.AttrBack: back} {
		if len(img) == 0 {
			imageErrs[side] = []string{vendors.CodeImageLoadFailure}
		}
	}
	networkError := false
	for key, status := range t.HTTPStatus {
		switch {
		case key != "front" && key != "back" && key != "result":
			return docAnswer{bad: true}
		case status == http.StatusOK:
		case status >= 500 && status <= 599:
			networkError = true
		case key != "result" && imageStatusCodes[status] != "":
			imageErrs[key] = []string{imageStatusCodes[status]}
		default:
			return docAnswer{bad: true}
		}
	}
	if networkError {
		return docAnswer{kind: answerError}
	}
	if len(imageErrs) > 0 {
		return docVerdict(false, imageErrs, nil)
	}

	// The verdict on the document.
	errs := map[string][]string{}
	add := func(a alert) { errs[a.attr] = appendUnique(errs[a.attr], a.code) }
	var failed, attention, barcodeAttention bool
	for i, al := range slices.Concat(t.FailedAlerts, t.PassedAlerts) {
		name := strings.ToLower(strings.TrimSpace(al.Name))
		a, ok := alerts[name]
		if !ok {
			a = unknownAlert
		}
		result := strings.ToLower(strings.TrimSpace(al.Result))
		if result == "" && i < len(t.FailedAlerts) {
			result = "failed"
		}
		switch result {
		case "", "passed":
		case "failed":
			failed = true
			add(a)
		case "attention", "caution":
			if name == barcodeRead {
				barcodeAttention = true
			} else {
				attention = true
				add(a)
			}
		default:
			return docAnswer{bad: true}
		}
	}
	result := strings.ToLower(strings.TrimSpace(t.DocAuthResult))
	if result == "" {
		switch {
		case failed:
			result = "failed"
		case attention, barcodeAttention:
			result = "attention"
		default:
			result = "passed"
		}
	}
	note := map[string][]string{vendors.AttrBarcode: {vendors.CodeBarcodeAttention}}
	switch result {
	case "passed":
		if barcodeAttention {
			return docVerdict(true, note, &pii)
		}
		return docVerdict(true, nil, &pii)
	case "attention", "caution":
		if barcodeAttention && !failed && !attention {
			return docVerdict(true, note, &pii)
		}
	case "failed":
	default:
		return docAnswer{bad: true}
	}
	if barcodeAttention && len(errs) == 0 {
		// The unread barcode is all that is wrong with a document that
		// did not pass.
		add(alerts[barcodeRead])
	}
	if len(errs) == 0 {
		add(unknownAlert)
	}
	// A vendor returns what it read even from a document that failed; the
	// client keeps it only on success.
	return docVerdict(false, errs, &pii)
}

// docVerdict builds a well-formed document answer with fresh ids.
func docVerdict(ok bool, errs map[string][]string, pii *vendors.DocumentFields) docAnswer {
	body := vendors.DocumentResponse{
		VerifyResponse: vendors.VerifyResponse{
			Success:       &ok,
			Errors:        errs,
			TransactionID: "doc-" + rand.Text(),
			Reference:     "ref-" + rand.Text(),
		},
		Document: pii,
	}
	return docAnswer{kind: answerJSON, body: body}
}

func appendUnique(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// document serves POST /document/verify: a multipart/form-data body with the
// parts front and back. The images are read into memory and nowhere else:
// ParseMultipartForm would spill large parts to temporary files, and the
// images are PII.
func (s *Simulator) document(w http.ResponseWriter, r *http.Request) {
	front, back, status := readImages(w, r)
	defer clear(front)
	defer clear(back)
	if status != 0 {
		code := "bad_request"
		if status == http.StatusRequestEntityTooLarge {
			code = "too_large"
		}
		writeJSON(w, status, map[string]string{"error": code})
		return
	}
	if !s.wait(r, s.latency) {
		return
	}
	a := s.decideDocument(front, back)
	switch {
	case a.bad:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_trigger"})
	case a.kind == answerJSON:
		writeJSON(w, http.StatusOK, a.body)
	case a.kind == answerHang:
		hang := s.hang
		if hang == DefaultHang {
			hang = documentHang
		}
		if s.wait(r, hang) {
			writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": "timeout"})
		}
	default:
		s.respond(w, r, answer{kind: a.kind})
	}
}

// readImages reads the two parts of a document request, bounded by
// vendors.MaxDocumentRequest in all and idv.MaxImageBytes per image. A
// non-zero status is the error to answer.
func readImages(w http.ResponseWriter, r *http.Request) (front, back []byte, status int) {
	body := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, vendors.MaxDocumentRequest)}
	r.Body = body
	readStatus := func() int {
		if body.over {
			return http.StatusRequestEntityTooLarge
		}
		return http.StatusBadRequest
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, http.StatusBadRequest
	}
	var got [2]bool
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, readStatus()
		}
		var i int
		switch p.FormName() {
		case vendors.PartFront:
			i = 0
		case vendors.PartBack:
			i = 1
		default:
			return nil, nil, http.StatusBadRequest
		}
		if got[i] {
			return nil, nil, http.StatusBadRequest
		}
		got[i] = true
		img, err := io.ReadAll(io.LimitReader(p, idv.MaxImageBytes+1))
		if err != nil {
			return nil, nil, readStatus()
		}
		if len(img) > idv.MaxImageBytes {
			return nil, nil, http.StatusRequestEntityTooLarge
		}
		if i == 0 {
			front = img
		} else {
			back = img
		}
	}
	if !got[0] || !got[1] {
		return nil, nil, http.StatusBadRequest
	}
	return front, back, 0
}

// limitedBody remembers that the request went over its limit: the
// multipart reader reports read errors as text, without the
// *http.MaxBytesError that says so.
type limitedBody struct {
	io.ReadCloser
	over bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		b.over = true
	}
	return n, err
}
