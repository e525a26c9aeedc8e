package vendors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/idv-dev/idv"
)

// Document asks a document-authentication vendor whether the images of an
// ID are of an authentic document, and reads the PII printed on it.
type Document struct{ c caller }

var _ idv.DocumentProofer = (*Document)(nil)

// NewDocument returns a client for the vendor at e.URL. A zero e.Timeout
// means DefaultDocumentTimeout and an empty e.Name NameDocument.
func NewDocument(client *http.Client, e Endpoint) (*Document, error) {
	c, err := newCaller(client, e, PathDocument, NameDocument, DefaultDocumentTimeout)
	if err != nil {
		return nil, err
	}
	return &Document{c: c}, nil
}

// documentAttributes are the attribute names a document answer's errors may
// use besides the applicant attributes every vendor may name.
var documentAttributes = map[string]bool{
	AttrFront: true, AttrBack: true, AttrBarcode: true, AttrDocument: true, AttrIDExpired: true,
}

// maxDocumentField bounds one value read from a document. Real values are
// far shorter; a longer one is dropped rather than pre-filled, and the
// person types it in the next step.
const maxDocumentField = 200

// ProofDocument implements idv.DocumentProofer. The applicant it returns is
// the PII read from the document, normalised, and only on success: a
// document that did not pass pre-fills nothing. The VendorResult carries no
// PII: every string kept from the answer is checked against the values the
// vendor read, as other clients check against the applicant's.
//
// An image over idv.MaxImageBytes is refused without a request, as a
// failure with image_too_large on its side.
func (d *Document) ProofDocument(ctx context.Context, front, back []byte) (idv.VendorResult, *idv.Applicant) {
	start := time.Now()
	done, shed := d.c.admit(ctx)
	if shed != nil {
		shed.Vendor = d.c.vendor
		return *shed, nil
	}
	r, a := d.exchange(ctx, front, back)
	done(Fault(r))
	r.Vendor = d.c.vendor
	r.DurationMS = time.Since(start).Milliseconds()
	return r, a
}

func (d *Document) exchange(ctx context.Context, front, back []byte) (idv.VendorResult, *idv.Applicant) {
	var tooLarge map[string][]string
	for side, img := range map[string][]byte{AttrFront: front, AttrBack: back} {
		if len(img) > idv.MaxImageBytes {
			if tooLarge == nil {
				tooLarge = map[string][]string{}
			}
			tooLarge[side] = []string{CodeImageTooLarge}
		}
	}
	if tooLarge != nil {
		return idv.VendorResult{Errors: tooLarge}, nil
	}

	contentType, body, size := documentBody(front, back)
	callCtx, cancel := context.WithTimeout(ctx, d.c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, d.c.url, body())
	if err != nil {
		return idv.VendorResult{Exception: excEncoding}, nil
	}
	req.ContentLength = size
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(body()), nil }
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	resp, err := d.c.client.Do(req)
	if err != nil {
		return faultResult(callCtx, err), nil
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return idv.VendorResult{Exception: httpStatusException(resp.StatusCode)}, nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return faultResult(callCtx, err), nil
	}
	var wr DocumentResponse
	if len(raw) > maxResponse || json.Unmarshal(raw, &wr) != nil || wr.Success == nil {
		return idv.VendorResult{Exception: excUnparseable}, nil
	}
	pii := applicantFromDocument(wr.Document)
	s := documentScrubber(pii)
	errs := wr.Errors
	wr.Errors = nil
	r := fromWire(wr.VerifyResponse, s)
	r.Errors = documentErrors(errs, s)
	if r.Outcome() != idv.OutcomeSuccess {
		return r, nil
	}
	return r, pii
}

// httpStatusException describes a non-2xx answer as caller.exchange does.
func httpStatusException(status int) string {
	return fmt.Sprintf("vendor returned HTTP %d", status)
}

// documentBody lays out the multipart request around the two images
// without copying them: body returns a fresh reader over the framing and
// the caller's slices each time it is called, and size is its exact length,
// so the request has a Content-Length and can be replayed.
func documentBody(front, back []byte) (contentType string, body func() io.Reader, size int64) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	var frames [3][]byte
	for i, part := range []string{PartFront, PartBack} {
		// Writes to a bytes.Buffer do not fail. The file name is the part
		// name: nothing about the person goes into the framing.
		_, _ = w.CreateFormFile(part, part)
		frames[i] = bytes.Clone(buf.Bytes())
		buf.Reset()
	}
	_ = w.Close()
	frames[2] = bytes.Clone(buf.Bytes())
	size = int64(len(frames[0]) + len(front) + len(frames[1]) + len(back) + len(frames[2]))
	body = func() io.Reader {
		return io.MultiReader(bytes.NewReader(frames[0]), bytes.NewReader(front),
			bytes.NewReader(frames[1]), bytes.NewReader(back), bytes.NewReader(frames[2]))
	}
	return w.FormDataContentType(), body, size
}

// applicantFromDocument turns the vendor's reading into a normalised
// applicant; nil when the answer read nothing.
func applicantFromDocument(f *DocumentFields) *idv.Applicant {
	if f == nil {
		return nil
	}
	a := idv.Applicant{
		FirstName:           f.FirstName,
		LastName:            f.LastName,
		DOB:                 f.DOB,
		Address1:            f.Address1,
		Address2:            f.Address2,
		City:                f.City,
		State:               f.State,
		ZIPCode:             f.ZIPCode,
		StateIDNumber:       f.StateIDNumber,
		StateIDJurisdiction: f.StateIDJurisdiction,
		StateIDExpiration:   f.StateIDExpiration,
	}
	for _, p := range []*string{&a.FirstName, &a.LastName, &a.DOB, &a.Address1, &a.Address2, &a.City,
		&a.State, &a.ZIPCode, &a.StateIDNumber, &a.StateIDJurisdiction, &a.StateIDExpiration} {
		if len(*p) > maxDocumentField {
			*p = ""
		}
	}
	a.Normalize()
	if a == (idv.Applicant{}) {
		return nil
	}
	return &a
}

// documentScrubber knows the values read from the document, and also each
// of their words and their letters and digits run together, so that a code
// such as "12_main_street" or "1980_01_02" built from them is caught too.
func documentScrubber(a *idv.Applicant) scrubber {
	if a == nil {
		return scrubber{}
	}
	s := newScrubber(*a)
	notAlnum := func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }
	for _, v := range []string{a.FirstName, a.LastName, a.DOB, a.Address1, a.Address2, a.City,
		a.ZIPCode, a.StateIDNumber, a.StateIDExpiration} {
		words := strings.FieldsFunc(strings.ToLower(v), notAlnum)
		for _, w := range append(words, strings.Join(words, "")) {
			if len(w) >= 4 {
				s.values = append(s.values, w)
			}
		}
	}
	return s
}

// documentErrors keeps the errors of a document answer: known attribute
// names (the document's and the applicant's) and code-like codes free of
// the values read from the document.
func documentErrors(errs map[string][]string, s scrubber) map[string][]string {
	var out map[string][]string
	for name, codes := range errs {
		attr := attrOther
		if documentAttributes[name] || knownAttributes[name] {
			attr = name
		}
		if out == nil {
			out = map[string][]string{}
		}
		for _, code := range codes {
			out[attr] = appendUnique(out[attr], s.code(code))
		}
		if len(out[attr]) == 0 {
			out[attr] = []string{codeUnverified}
		}
	}
	return out
}
