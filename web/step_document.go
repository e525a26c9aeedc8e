package web

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

// The document capture step: the person photographs the front and back of
// their ID, and a DocumentProofing job has a vendor check the images and
// read the ID. Only the stored result decides that the step passed, and the
// PII read from the ID comes from it, never from the browser.

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

// uploadsPrefix is where DocumentOptions.Uploads is served.
const uploadsPrefix = "/uploads/"

func (s *Server) documentStep() *step {
	return &step{
		Name: "document_capture", Path: "/verify/document_capture", Kind: idv.JobDocument,
		Title:   "Your ID",
		Waiting: "We're checking your ID",
		Checks:  []check{{Text: "Checking the photos of your ID"}},
		Missing: "Checking your ID is taking longer than usual. That didn't use one of your attempts. " +
			"For your security we don't keep the photos, so please add them again.",
		Texts: map[string]stepError{
			"timeout": {Heading: "Checking your ID took too long",
				Body: "The service that checks ID photos didn't answer in time. You'll need to add your photos again."},
			"exception": {Heading: "We couldn't finish checking your ID",
				Body: "We couldn't reach the service that checks ID photos. You'll need to add your photos again."},
		},
		Limit: ratelimit.IDVDocAuth,
		form: func(w http.ResponseWriter, r *http.Request, flash string) {
			s.renderDocument(w, r, http.StatusOK, nil, flash)
		},
		read:    s.readDocument,
		done:    s.documentDone,
		warning: s.documentWarning,
	}
}

// documentPage is the document_capture template's data.
type documentPage struct {
	CaptureID      string
	Presigned      bool
	URLs           map[idv.Side]string // pre-signed upload URLs
	MaxBytes       int
	Accept         string
	AllowTestFiles bool
	Errors         idv.FieldErrors
}

// URL is the pre-signed upload URL of side.
func (p documentPage) URL(side idv.Side) string { return p.URLs[side] }

// renderDocument shows the capture form. The capture id is the attempt's,
// not the page's: every form of one attempt (a reload, a second tab) gets
// the same one, so the upload URLs and the form of a page opened earlier stay
// valid. A new id is drawn only when there is none, that is for a new
// attempt: submitting one removes it (readDocument's begun). With pre-signed
// uploads each form gets fresh upload URLs for the attempt's keys.
func (s *Server) renderDocument(w http.ResponseWriter, r *http.Request, code int, fe idv.FieldErrors, flash string) {
	ctx := r.Context()
	captureID := s.sessions.GetString(ctx, keyDocCapture)
	if captureID == "" {
		captureID = idv.NewID()
		s.sessions.Put(ctx, keyDocCapture, captureID)
	}
	p := documentPage{CaptureID: captureID, Presigned: s.docs.Presigned, MaxBytes: idv.MaxImageBytes,
		Accept: strings.Join(acceptedTypes, ","), AllowTestFiles: s.docs.AllowTestFiles, Errors: fe}
	if p.AllowTestFiles {
		p.Accept += ",.yml,.yaml,.json"
	}
	if p.Presigned {
		p.URLs = map[idv.Side]string{}
		for _, side := range idv.Sides {
			u, err := s.docs.Objects.PresignPut(ctx, idv.DocumentImageKey(p.CaptureID, side), s.docs.URLExpiry)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			p.URLs[side] = u
		}
	}
	s.render(w, r, code, "document_capture", page{Title: "Add photos of your ID", Flash: flash,
		Step: s.stepIndicator(ctx, s.step("document_capture")), Errors: summarize(fe, []string{"front", "back"}, nil), Data: p})
}

// readDocument reads what the page sends: the fields of its browser-side
// uploads, or (pre-signed uploads off) the images themselves.
func (s *Server) readDocument(w http.ResponseWriter, r *http.Request) (submission, bool) {
	captureID := s.sessions.GetString(r.Context(), keyDocCapture)
	var args idv.DocumentArguments
	var images map[idv.Side][]byte
	var fe idv.FieldErrors
	if s.docs.Presigned {
		if !s.parseForm(w, r) {
			return submission{}, false
		}
		args, fe = parseDocumentForm(r.PostForm, captureID, s.docs.Objects)
	} else {
		images, fe = s.readImages(r, captureID)
		args = idv.DocumentArguments{CaptureID: captureID, ServerSealed: true}
	}
	if fe != nil {
		s.log.WarnContext(r.Context(), "document form refused", "fields", fe.Error())
		code := http.StatusUnprocessableEntity
		if fe[string(idv.SideFront)] == photosTooLarge {
			code = http.StatusRequestEntityTooLarge
		}
		s.renderDocument(w, r, code, fe, "")
		return submission{}, false
	}
	return submission{
		args: args,
		keep: func(ctx context.Context) error { return s.putImages(ctx, captureID, images) },
		// The attempt has begun, and its capture with it: the next form
		// is a new attempt's, with a new capture id.
		begun: func(ctx context.Context) { s.sessions.Remove(ctx, keyDocCapture) },
	}, true
}

// putImages seals the images the page posted and puts them in the object
// store, under the keys the job reads. It clears them as it goes.
func (s *Server) putImages(ctx context.Context, captureID string, images map[idv.Side][]byte) error {
	for side, img := range images {
		key := idv.DocumentImageKey(captureID, side)
		sealed, err := s.sealer.Seal(ctx, img, idv.ImageAAD(key))
		clear(img)
		if err != nil {
			return err
		}
		if err := s.docs.Objects.Put(ctx, key, sealed); err != nil {
			return err
		}
	}
	return nil
}

// documentDone keeps what a done document result means for later pages: on
// a pass, any notes (the identity read from the ID is already bound to the
// verification, by the job); on a failure, the codes the warning page
// explains.
func (s *Server) documentDone(ctx context.Context, res *idv.ProofingResult) (*idv.ProofingResult, error) {
	codes := resultCodes(res)
	s.sessions.Remove(ctx, keyDocErrors)
	s.sessions.Remove(ctx, keyDocNotes)
	switch {
	case res.Outcome == idv.OutcomeSuccess && res.Applicant == nil:
		// A pass without the ID's contents cannot pre-fill the next step;
		// treat it as a vendor fault.
		s.log.ErrorContext(ctx, "document result passed without document data")
		return &idv.ProofingResult{Outcome: idv.OutcomeException, Stages: res.Stages, FinishedAt: res.FinishedAt}, nil
	case res.Outcome == idv.OutcomeSuccess:
		s.putCodes(ctx, keyDocNotes, codes)
	case res.Outcome == idv.OutcomeFailure:
		s.putCodes(ctx, keyDocErrors, codes)
	}
	return res, nil
}

// documentWarning says what to change before taking new photos.
func (s *Server) documentWarning(r *http.Request, e *stepError) {
	e.Heading = "We couldn't verify your ID"
	e.Body = "We couldn't use the photos of your ID. Here is what to change before you take new ones:"
	e.Messages = documentMessages(s.sessionCodes(r.Context(), keyDocErrors))
	if len(e.Messages) == 0 {
		e.Messages = documentMessages([]string{""})
	}
}

// resultCodes lists the document codes of every stage, in order, once each.
func resultCodes(res *idv.ProofingResult) []string {
	var out []string
	for _, st := range res.Stages {
		for _, attr := range slices.Sorted(maps.Keys(st.Result.Errors)) {
			for _, c := range st.Result.Errors[attr] {
				if !slices.Contains(out, c) {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// putCodes keeps a list of document codes in the session (none: nothing).
func (s *Server) putCodes(ctx context.Context, key string, codes []string) {
	if len(codes) > 0 {
		b, _ := json.Marshal(codes)
		s.sessions.Put(ctx, key, b)
	}
}

// sessionCodes reads a list of document codes from the session.
func (s *Server) sessionCodes(ctx context.Context, key string) []string {
	var codes []string
	if b := s.sessions.GetBytes(ctx, key); b != nil {
		_ = json.Unmarshal(b, &codes)
	}
	return codes
}

// documentMessages turns document codes into sentences a person can act on,
// each sentence once.
func documentMessages(codes []string) []string {
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		if m := idv.DocumentErrorMessage(c); !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}
