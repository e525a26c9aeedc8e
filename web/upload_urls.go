package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"

	"github.com/idv-dev/idv"
)

// Upload URLs (pre-signed uploads). The capture page holds none when it is
// served: just before each PUT it asks this server for one, with a small
// same-origin POST (CSRF-protected like every POST, by the cross-origin
// check), naming the side and the exact length of the ciphertext it is
// about to send. The URL it gets back takes exactly that many bytes and
// lives DocumentOptions.URLExpiry (minutes), so a URL is only ever minted
// for a person who is on the capture step of their verification, for the
// attempt's own keys, and stops working soon after. Once the attempt's job
// is enqueued the capture id is retired (readDocument's begun), so no URL
// for its keys is minted again; the worker deletes the images after the
// vendor call, and the bucket's lifecycle rule removes anything a late PUT
// (within the URL's few minutes) leaves.

const (
	// uploadURLSuffix follows the capture step's path.
	uploadURLSuffix = "/upload_url"
	// maxUploadURLBytes caps the request: capture_id, side and size.
	maxUploadURLBytes = 1 << 10
	// maxMintsPerCapture bounds the URLs one attempt's page may ask for:
	// each photo chosen or upload retried takes one; a page that asks
	// more often is broken or a script.
	maxMintsPerCapture = 100
	// keyDocMints counts the URLs minted for the session's capture id.
	keyDocMints = "doc_upload_urls"
)

// uploadURLAnswer is the endpoint's JSON: the URL and how long it lives, or
// an error a person can read and whether only a reload helps.
type uploadURLAnswer struct {
	URL       string `json:"url,omitempty"`
	ExpiresIn int    `json:"expires_in,omitempty"` // seconds
	Error     string `json:"error,omitempty"`
	Reload    bool   `json:"reload,omitempty"`
}

// pageExpired is the answer when the page no longer belongs to a capture
// the person can upload to: another tab submitted, the attempt is in
// flight or over, or the session ended.
const pageExpired = "This page has expired. Reload it to add your photos."

// serveUploadURL mints one upload URL for the session's current capture.
// It answers JSON in every case (never a redirect, which fetch would
// follow to an HTML page).
func (s *Server) serveUploadURL(st *step) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		answer := func(code int, a uploadURLAnswer) {
			if code >= 400 {
				s.log.Log(r.Context(), slog.LevelWarn, "upload URL refused", "status", code, "reason", a.Error)
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(a)
		}
		// The body cap of limitBody, answered in JSON.
		if r.ContentLength > maxUploadURLBytes {
			answer(http.StatusRequestEntityTooLarge, uploadURLAnswer{Error: "The request is too large."})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxUploadURLBytes)
		if err := r.ParseForm(); err != nil {
			if tooLarge(err) {
				answer(http.StatusRequestEntityTooLarge, uploadURLAnswer{Error: "The request is too large."})
				return
			}
			answer(http.StatusBadRequest, uploadURLAnswer{Error: "The request could not be read."})
			return
		}
		side := idv.Side(r.PostForm.Get("side"))
		size, err := strconv.ParseInt(r.PostForm.Get("size"), 10, 64)
		switch {
		case !slices.Contains(idv.Sides[:], side):
			answer(http.StatusBadRequest, uploadURLAnswer{Error: "Unknown side of the ID."})
			return
		case err != nil || size < 1:
			answer(http.StatusBadRequest, uploadURLAnswer{Error: "The photo's size is missing."})
			return
		case size > idv.MaxImageBytes:
			answer(http.StatusRequestEntityTooLarge, uploadURLAnswer{Error: "This photo is too large. Use a photo under 10 MB."})
			return
		}
		r, ok, err := s.onCaptureStep(r, st)
		if err != nil {
			code := http.StatusInternalServerError
			if idv.ErrorCode(err) == idv.EUNAVAILABLE {
				code = http.StatusServiceUnavailable
			}
			s.log.ErrorContext(r.Context(), "upload URL", "error", err.Error())
			answer(code, uploadURLAnswer{Error: "Something went wrong on our side. Please try again."})
			return
		}
		ctx := r.Context()
		captureID := s.sessions.GetString(ctx, keyDocCapture)
		if !ok || captureID == "" || r.PostForm.Get(formCaptureID) != captureID {
			answer(http.StatusConflict, uploadURLAnswer{Error: pageExpired, Reload: true})
			return
		}
		n, _ := strconv.Atoi(s.sessions.GetString(ctx, keyDocMints)) // the session keeps strings
		if n >= maxMintsPerCapture {
			answer(http.StatusTooManyRequests, uploadURLAnswer{Error: "You've tried too many times. Reload the page to add your photos."})
			return
		}
		s.sessions.Put(ctx, keyDocMints, strconv.Itoa(n+1))
		u, err := s.docs.Objects.PresignPut(ctx, idv.DocumentImageKey(captureID, side), size, s.docs.URLExpiry)
		if err != nil {
			s.log.ErrorContext(ctx, "upload URL", "error", err.Error())
			answer(http.StatusServiceUnavailable, uploadURLAnswer{Error: "We can't prepare the upload right now. Please try again."})
			return
		}
		answer(http.StatusOK, uploadURLAnswer{URL: u, ExpiresIn: int(s.docs.URLExpiry.Seconds())})
	}
}

// onCaptureStep reports whether the person is on st's form: the session is
// bound to an unfinished verification that has the step, the steps before
// it passed, the step neither passed nor ran out of attempts, and no
// attempt of it is in flight. It returns r carrying the verification.
func (s *Server) onCaptureStep(r *http.Request, st *step) (*http.Request, bool, error) {
	r, v, ok, err := s.bound(r)
	if err != nil || !ok || v.Status.Final() {
		return r, false, err
	}
	rec, ok := v.Step(stepName(st.Name))
	if !ok || rec.Status == idv.StepPassed || rec.Status == idv.StepFailed || rec.InFlight != "" || rec.AttemptsLeft() == 0 {
		return r, false, nil
	}
	ctx := r.Context()
	if _, pending, err := s.attempts.Current(ctx, st.Name); err != nil || pending {
		return r, false, err
	}
	if st.after != nil {
		if _, passed, err := s.attempts.Passed(ctx, st.after.Name); err != nil || !passed {
			return r, false, err
		}
	}
	return r, true, nil
}

// newCapture draws the capture id of a new attempt, with a fresh count of
// minted URLs.
func (s *Server) newCapture(ctx context.Context) string {
	id := idv.NewID()
	s.sessions.Put(ctx, keyDocCapture, id)
	s.sessions.Remove(ctx, keyDocMints)
	return id
}
