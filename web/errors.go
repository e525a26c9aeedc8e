package web

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/idv-dev/idv"
)

// fail maps an error to a page by its code, once, here at the edge. Error
// texts are PII-free by contract, so they can be logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := http.StatusInternalServerError, "Please try again in a few minutes. What you entered is safe."
	switch idv.ErrorCode(err) {
	case idv.EUNAVAILABLE:
		code, msg = http.StatusServiceUnavailable, "We can't reach one of our systems right now. Your information is safe. Please try again in a few minutes."
	case idv.EINVALID:
		code, msg = http.StatusBadRequest, idv.ErrorMessage(err)
	case idv.ECONFLICT:
		code, msg = http.StatusConflict, idv.ErrorMessage(err)
	case idv.ENOTFOUND:
		code, msg = http.StatusNotFound, "We couldn't find that page."
	case idv.ERATELIMITED:
		code, msg = http.StatusTooManyRequests, "You've tried too many times. Please wait and try again later."
	}
	// A 4xx is the request's fault (a bad form, a spent link, a limit):
	// worth a warning, not an operator's alarm; a 5xx is ours.
	level := slog.LevelWarn
	if code >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request failed", "path", r.URL.Path, "status", code, "error", err.Error())
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "30")
	}
	s.renderError(w, r, code, msg)
}

// errorPage is the error template's data.
type errorPage struct {
	Heading, Message, Hint string
}

// errorHeadings are the error page's headings by status; others use
// errorHeadings[500].
var errorHeadings = map[int]errorPage{
	http.StatusBadRequest:            {Heading: "We couldn't use that request"},
	http.StatusForbidden:             {Heading: "We didn't act on that request"},
	http.StatusNotFound:              {Heading: "Page not found", Hint: "If you typed the address, check that it's right. If you followed a link, it may be old: start again from the service that sent you here."},
	http.StatusMethodNotAllowed:      {Heading: "This page can't be used that way", Message: "This address doesn't accept what your browser sent.", Hint: "Go back, reload the page and try again."},
	http.StatusConflict:              {Heading: "That can't be done now"},
	http.StatusRequestEntityTooLarge: {Heading: "That was too large to send"},
	http.StatusTooManyRequests:       {Heading: "You've tried too many times"},
	http.StatusInternalServerError:   {Heading: "Sorry, something went wrong on our side"},
	http.StatusServiceUnavailable:    {Heading: "Sorry, this service is having problems"},
}

// renderError shows the error page for code; msg ("" for the code's own
// words) says what happened.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	e, ok := errorHeadings[code]
	if !ok {
		e = errorHeadings[http.StatusInternalServerError]
		if code < 500 {
			e = errorHeadings[http.StatusBadRequest]
		}
	}
	if msg != "" {
		e.Message = msg
	}
	s.render(w, r, code, "error", page{Title: e.Heading, Data: e})
}

// styledMisses answers what mux has no route for (404) or no method for
// (405, with its Allow header) with the styled error page instead of the
// mux's plain text.
func (s *Server) styledMisses(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		s.renderError(w, r, cmp.Or(rec.code, http.StatusNotFound), "")
	})
}

// statusRecorder keeps a handler's status and headers and drops its body.
type statusRecorder struct {
	header http.Header
	code   int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

// recoverPanics turns a panic into a plain 500 page. The panic value is not
// logged (it could hold PII); its type and the stack are.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path,
					"panic_type", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
				s.renderError(w, r, http.StatusInternalServerError, "Please try again in a few minutes. What you entered is safe.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
