package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

// DocumentOptions configure the document capture step. A Server without
// them leaves the step out of the flow, which then starts at verify_info.
type DocumentOptions struct {
	// Objects holds the images.
	Objects idv.ObjectStore
	// Presigned: the browser encrypts each image and PUTs it straight to
	// Objects through a pre-signed URL. false: the page posts the images to
	// this server, which seals them and puts them itself (the seeds'
	// doc_auth_enable_presigned_s3_urls switched off).
	Presigned bool
	// URLExpiry is how long a pre-signed URL stays valid; default 12 h,
	// the longest session, so an URL never expires under an open page.
	URLExpiry time.Duration
	// AllowTestFiles lets a YAML or JSON file stand in for an image, so
	// QA can choose the document simulator's answer. Never in production.
	AllowTestFiles bool
	// Uploads, if set, is served at /uploads/: the local object store's
	// signed upload endpoint (`idv dev`).
	Uploads http.Handler
}

var stepDocument = step{Name: "document_capture", Path: "/verify/document_capture", Kind: idv.JobDocument,
	Title: "Add photos of your ID", Next: "/verify/verify_info", Limit: ratelimit.IDVDocAuth}

// Session keys of the document step.
const (
	keyDocCapture = "doc_capture" // capture id whose upload URLs the open page holds
	keyDocErrors  = "doc_errors"  // JSON []string of the last failed attempt's codes
	keyDocNotes   = "doc_notes"   // JSON []string of codes a passed document came with
	formCaptureID = "capture_id"  // hidden field echoing keyDocCapture
	maxFormMemory = 2 * (1 << 20) // multipart parts above this go to temp files
	maxTestFile   = 64 << 10      // a YAML/JSON stand-in is small
	mediaOctet    = "application/octet-stream"
	uploadsPrefix = "/uploads/"
)

// documentPage is the document_capture template's data.
type documentPage struct {
	CaptureID      string
	Presigned      bool
	FrontURL       string
	BackURL        string
	MaxBytes       int
	Accept         string
	AllowTestFiles bool
	Errors         idv.FieldErrors
}

// acceptedTypes are the image types the page and the server take: what a
// phone camera or a scanner produces.
var acceptedTypes = []string{"image/jpeg", "image/png", "image/webp"}

// testFileTypes are what http.DetectContentType calls a YAML or JSON file.
var testFileTypes = []string{"text/plain; charset=utf-8", "application/json"}

func (s *Server) documentsEnabled() bool { return s.docs != nil }

// firstStep is where the flow starts.
func (s *Server) firstStep() step {
	if s.documentsEnabled() {
		return stepDocument
	}
	return stepVerifyInfo
}

// flow lists the enqueue-then-poll steps in order.
func (s *Server) flow() []step {
	if s.documentsEnabled() {
		return []step{stepDocument, stepVerifyInfo, stepPhone}
	}
	return []step{stepVerifyInfo, stepPhone}
}

// showDocument is the GET of the document step: the same state machine as
// the other steps. A new form gets a new capture id and new upload URLs.
func (s *Server) showDocument(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st, err := s.state(ctx, stepDocument)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	flash := s.sessions.PopString(ctx, keyFlash)
	switch st.Status {
	case idv.StatusInProgress:
		s.renderWait(w, r, stepDocument)
		return
	case idv.StatusDone:
		s.finish(ctx, stepDocument)
		s.afterDocument(w, r, st.Result)
		return
	case idv.StatusMissing:
		s.finish(ctx, stepDocument)
		s.log.WarnContext(ctx, "proofing result missing", "step", stepDocument.Name, "capture_session", st.CS.ID)
		s.observe.ResultMissing(stepDocument.Name)
		flash = "Checking your ID is taking longer than usual. Please add your photos again."
	}
	s.renderDocument(w, r, http.StatusOK, nil, flash)
}

func (s *Server) renderDocument(w http.ResponseWriter, r *http.Request, code int, fe idv.FieldErrors, flash string) {
	ctx := r.Context()
	p := documentPage{CaptureID: idv.NewID(), Presigned: s.docs.Presigned, MaxBytes: idv.MaxImageBytes,
		Accept: strings.Join(acceptedTypes, ","), AllowTestFiles: s.docs.AllowTestFiles, Errors: fe}
	if p.AllowTestFiles {
		p.Accept += ",.yml,.yaml,.json"
	}
	if p.Presigned {
		for _, side := range []struct {
			name string
			url  *string
		}{{idv.SideFront, &p.FrontURL}, {idv.SideBack, &p.BackURL}} {
			u, err := s.docs.Objects.PresignPut(ctx, idv.DocumentImageKey(p.CaptureID, side.name), s.docs.URLExpiry)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			*side.url = u
		}
	}
	s.sessions.Put(ctx, keyDocCapture, p.CaptureID)
	s.render(w, r, code, "document_capture", page{Title: stepDocument.Title, Flash: flash, Data: p})
}

// submitDocument is the POST of the document step: check what the page
// sends, count the attempt, enqueue the DocumentProofing job.
func (s *Server) submitDocument(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.pending(ctx, stepDocument) {
		http.Redirect(w, r, stepDocument.Path, http.StatusSeeOther)
		return
	}
	captureID := s.sessions.GetString(ctx, keyDocCapture)
	var args idv.DocumentArguments
	var images map[string][]byte
	var fe idv.FieldErrors
	if s.docs.Presigned {
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, idv.Errorf(idv.EINVALID, "The form could not be read. Please try again."))
			return
		}
		args, fe = parseDocumentForm(r.PostForm, captureID, s.docs.Objects)
	} else {
		images, fe = s.readImages(w, r, captureID)
		args = idv.DocumentArguments{CaptureID: captureID, ServerSealed: true}
	}
	if fe != nil {
		s.log.WarnContext(ctx, "document form refused", "fields", fe.Error())
		s.renderDocument(w, r, http.StatusUnprocessableEntity, fe, "")
		return
	}
	person := s.person(ctx)
	if at, err := s.limited(ctx, stepDocument.Limit, person); err != nil {
		s.fail(w, r, err)
		return
	} else if at.Limited {
		s.observe.RateLimited(stepDocument.Limit.Name)
		http.Redirect(w, r, "/verify/errors/rate_limited?step="+stepDocument.Name, http.StatusSeeOther)
		return
	}
	if _, err := s.count(ctx, stepDocument.Limit, person); err != nil {
		s.fail(w, r, err)
		return
	}
	for side, img := range images {
		key := idv.DocumentImageKey(captureID, side)
		sealed, err := s.sealer.Seal(ctx, img, idv.ImageAAD(key))
		clear(img)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.docs.Objects.Put(ctx, key, sealed); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.begin(ctx, stepDocument, args); err != nil {
		s.fail(w, r, err)
		return
	}
	// The URLs of this capture are used up: a new form gets new ones.
	s.sessions.Remove(ctx, keyDocCapture)
	http.Redirect(w, r, stepDocument.Path, http.StatusSeeOther)
}

// readImages reads the posted images (pre-signed uploads off), refusing
// what the page would have refused: a missing side, a file over the size
// limit or of another type.
func (s *Server) readImages(w http.ResponseWriter, r *http.Request, captureID string) (map[string][]byte, idv.FieldErrors) {
	r.Body = http.MaxBytesReader(w, r.Body, 2*int64(idv.MaxImageBytes)+1<<20)
	err := r.ParseMultipartForm(maxFormMemory)
	if r.MultipartForm != nil {
		defer func() { _ = r.MultipartForm.RemoveAll() }()
	}
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			return nil, idv.FieldErrors{"front": "Your photos are too large. Each must be under 10 MB."}
		}
		return nil, idv.FieldErrors{"front": "We couldn't read your photos. Please add them again."}
	}
	fe := idv.FieldErrors{}
	if captureID == "" || r.PostFormValue(formCaptureID) != captureID {
		fe["front"] = "This page has expired. Please add your photos again."
		return nil, fe
	}
	images := map[string][]byte{}
	for _, side := range []string{idv.SideFront, idv.SideBack} {
		img, msg := s.readImage(r.MultipartForm, side)
		if msg != "" {
			fe[side] = msg
			continue
		}
		images[side] = img
	}
	if len(fe) > 0 {
		for _, img := range images {
			clear(img)
		}
		return nil, fe
	}
	return images, nil
}

func (s *Server) readImage(form *multipart.Form, side string) ([]byte, string) {
	files := form.File[side]
	if len(files) != 1 {
		return nil, "Add a photo of the " + side + " of your ID."
	}
	fh := files[0]
	if fh.Size > int64(idv.MaxImageBytes) {
		return nil, "This photo is too large. Use a photo under 10 MB."
	}
	f, err := fh.Open()
	if err != nil {
		return nil, "We couldn't read this photo. Please add it again."
	}
	defer f.Close()
	img, err := io.ReadAll(io.LimitReader(f, int64(idv.MaxImageBytes)+1))
	if err != nil || len(img) == 0 || len(img) > idv.MaxImageBytes {
		return nil, "We couldn't read this photo. Please add it again."
	}
	if msg := s.checkImageType(img); msg != "" {
		clear(img)
		return nil, msg
	}
	return img, ""
}

// checkImageType sniffs the bytes rather than trusting the name or the
// declared type.
func (s *Server) checkImageType(img []byte) string {
	ct := http.DetectContentType(img)
	for _, t := range acceptedTypes {
		if ct == t {
			return ""
		}
	}
	if s.docs.AllowTestFiles && len(img) <= maxTestFile {
		for _, t := range testFileTypes {
			if ct == t {
				return ""
			}
		}
	}
	return "This file is not a photo. Use a JPEG, PNG or WebP image."
}

// afterDocument sends the person on from a done document result. Only this
// server-side result decides that the step is complete, and the PII read
// from the ID comes from it, never from the browser.
func (s *Server) afterDocument(w http.ResponseWriter, r *http.Request, res *idv.ProofingResult) {
	ctx := r.Context()
	codes := resultCodes(res)
	s.sessions.Remove(ctx, keyDocErrors)
	s.sessions.Remove(ctx, keyDocNotes)
	if res.Outcome == idv.OutcomeSuccess {
		if res.Applicant == nil {
			// A pass without the ID's contents cannot pre-fill the next
			// step; treat it as a vendor fault.
			s.log.ErrorContext(ctx, "document result passed without document data")
			res = &idv.ProofingResult{Outcome: idv.OutcomeException, Stages: res.Stages, FinishedAt: res.FinishedAt}
		} else {
			a := *res.Applicant
			a.Normalize()
			a.SSN, a.Phone = "", ""
			if err := s.putApplicant(r, a); err != nil {
				s.fail(w, r, err)
				return
			}
			if len(codes) > 0 {
				b, _ := json.Marshal(codes)
				s.sessions.Put(ctx, keyDocNotes, b)
			}
		}
	} else if res.Outcome == idv.OutcomeFailure && len(codes) > 0 {
		b, _ := json.Marshal(codes)
		s.sessions.Put(ctx, keyDocErrors, b)
	}
	s.afterResult(w, r, stepDocument, res)
}

// resultCodes lists the error codes of every stage, in order, once each.
func resultCodes(res *idv.ProofingResult) []string {
	var out []string
	seen := map[string]bool{}
	for _, st := range res.Stages {
		for _, attr := range sortedKeys(st.Result.Errors) {
			for _, c := range st.Result.Errors[attr] {
				if !seen[c] {
					seen[c] = true
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// sessionCodes reads a JSON list of codes from the session.
func (s *Server) sessionCodes(r *http.Request, key string) []string {
	var codes []string
	if b := s.sessions.GetBytes(r.Context(), key); b != nil {
		_ = json.NewDecoder(bytes.NewReader(b)).Decode(&codes)
	}
	return codes
}

// documentMessages turns codes into sentences a person can act on.
func documentMessages(codes []string) []string {
	out := make([]string, 0, len(codes))
	seen := map[string]bool{}
	for _, c := range codes {
		m := idv.DocumentErrorMessage(c)
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}
