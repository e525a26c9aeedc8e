package web

import (
	"net/http"
	"strings"
)

// secureHeaders sets a strict Content-Security-Policy (no third-party code;
// connections only to us and the storage origin) and related headers.
func (s *Server) secureHeaders(next http.Handler) http.Handler {
	connect := strings.Join(append([]string{"'self'"}, s.cfg.ConnectSrc...), " ")
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
		"connect-src " + connect + "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses state-changing requests from other sites (CSRF).
func (s *Server) crossOrigin(next http.Handler) http.Handler {
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusForbidden, "This request came from another site, so we did not act on it. Go back and try again.")
	}))
	return csrf.Handler(next)
}
