package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/idv-dev/idv"
)

// fail maps an error to a page by its code, once, here at the edge. Error
// texts are PII-free by contract, so they can be logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := http.StatusInternalServerError, "Something went wrong on our side. Please try again."
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

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.render(w, r, code, "error", page{Title: http.StatusText(code), Data: msg})
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
				s.renderError(w, r, http.StatusInternalServerError, "Something went wrong on our side. Please try again.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
