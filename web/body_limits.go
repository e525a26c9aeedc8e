package web

import (
	"errors"
	"net/http"

	"github.com/idv-dev/idv"
)

// Request body caps, per route. Go reads up to 10 MB of a form by default:
// unauthenticated, that is memory anyone can make the server spend. A
// person's forms are a few short fields, so each POST route takes what its
// form needs and a body over it is answered 413 with a page that says so.
const (
	// maxFormBytes caps the forms of verify_info (the longest: ten fields,
	// addresses of up to 200 characters), phone, start and start over.
	maxFormBytes = 8 << 10
	// maxUploadedFormBytes caps the document form with pre-signed uploads:
	// small fields and the two upload URLs, which a signature with a
	// temporary session token makes a few KB long each.
	maxUploadedFormBytes = 32 << 10
	// maxImagesBytes caps the document form without pre-signed uploads:
	// both images at their limit and a margin for the form's own fields
	// and multipart framing.
	maxImagesBytes = 2*int64(idv.MaxImageBytes) + 1<<20
)

// limitBody answers 413 to a body declared larger than limit and caps what
// next can read of the rest at limit; a handler that reads past it gets an
// *http.MaxBytesError (see tooLarge) and answers it as parseForm does.
func (s *Server) limitBody(limit int64, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			s.refuseTooLarge(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next(w, r)
	}
}

// stepBodyLimit is the cap on a step's POST.
func (s *Server) stepBodyLimit(st *step) int64 {
	switch {
	case st.Kind != idv.JobDocument:
		return maxFormBytes
	case s.docs.Presigned:
		return maxUploadedFormBytes
	}
	return maxImagesBytes
}

// refuseTooLarge answers a body over its route's cap with a page that says
// so: photos too large on the document page without pre-signed uploads, a
// form too large anywhere else.
func (s *Server) refuseTooLarge(w http.ResponseWriter, r *http.Request) {
	s.log.WarnContext(r.Context(), "request body too large", "path", r.URL.Path)
	msg := "What you sent is larger than this form takes, so we did not read it. Go back and try again."
	if st := s.step("document_capture"); st != nil && !s.docs.Presigned && st.Path == r.URL.Path {
		msg = photosTooLarge + " Go back and add smaller photos."
	}
	s.renderError(w, r, http.StatusRequestEntityTooLarge, msg)
}

// tooLarge reports whether err is a read past a limitBody cap.
func tooLarge(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok
}
