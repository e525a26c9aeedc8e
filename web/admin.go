package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// AdminPrefix is where the jobs admin UI (riverui) is served.
const AdminPrefix = "/admin/jobs"

// adminCSP is the Content-Security-Policy of the jobs admin UI. It is the
// web tier's policy with one relaxation riverui needs: 'unsafe-inline' for
// styles, because its toast library writes a <style> element at run time
// (no nonce support). Scripts stay 'self' only: without 'unsafe-eval' its
// validation library's one probe for code generation is refused and it
// works without. data: images are the stylesheet's inline SVG icons; the UI
// talks only to its own API.
const adminCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Admin is the jobs admin UI and who may use it.
type Admin struct {
	// Handler serves the UI and its API under AdminPrefix
	// (queue.Queue.AdminHandler).
	Handler http.Handler
	// User and PasswordSHA256 (the SHA-256 of the password, 32 bytes) are
	// the HTTP Basic credentials. Storing only the hash keeps the password
	// out of configuration files; since SHA-256 is fast, the password must
	// be random (openssl rand -base64 24), not chosen by a person.
	User           string
	PasswordSHA256 []byte
}

func (a *Admin) check() error {
	switch {
	case a.Handler == nil:
		return errors.New("web: Admin needs a Handler")
	case a.User == "" || strings.ContainsAny(a.User, ":\r\n"):
		return errors.New("web: Admin needs a user name without a colon")
	case len(a.PasswordSHA256) != sha256.Size:
		return errors.New("web: Admin.PasswordSHA256 must be a 32-byte SHA-256")
	}
	return nil
}

// mountAdmin serves the admin UI at AdminPrefix behind HTTP Basic
// authentication. It runs inside the web tier's cross-origin protection (its
// API changes jobs and queues, and browsers resend Basic credentials on
// their own) but outside the session middleware: it needs no session.
func (s *Server) mountAdmin(mux *http.ServeMux, a *Admin) {
	h := s.requireAdmin(a, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", adminCSP)
		if strings.HasPrefix(r.URL.Path, AdminPrefix+"/assets/") {
			// Content-hashed names: cache them, for the signed-in user only.
			hdr.Set("Cache-Control", "private, max-age=86400, immutable")
		}
		a.Handler.ServeHTTP(w, r)
	}))
	mux.Handle(AdminPrefix, h)
	mux.Handle(AdminPrefix+"/", h)
}

// requireAdmin lets a request through only with the admin's credentials.
// Both the user name and the password are compared as SHA-256 digests in
// constant time, and both comparisons always run, so timing tells nothing
// about either. A refusal is a bare 401 that names nothing.
func (s *Server) requireAdmin(a *Admin, next http.Handler) http.Handler {
	wantUser := sha256.Sum256([]byte(a.User))
	wantPass := [sha256.Size]byte(a.PasswordSHA256)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
		match := subtle.ConstantTimeCompare(gotUser[:], wantUser[:]) & subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || match != 1 {
			if ok {
				// The attempted user name is not logged: people type
				// passwords into the wrong field.
				s.log.WarnContext(r.Context(), "jobs admin: wrong credentials", "path", r.URL.Path)
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="idv jobs admin", charset="UTF-8"`)
			http.Error(w, "Authentication required.", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
