package web

import (
	"net/http"
	"strings"
)

// permissionsPolicy turns off the browser features no page uses. The
// camera stays allowed to our own pages: the capture page may take the
// photos of the ID with it.
const permissionsPolicy = "camera=(self), microphone=(), geolocation=(), payment=(), usb=(), " +
	"accelerometer=(), gyroscope=(), magnetometer=(), display-capture=()"

// secureHeaders sets a strict Content-Security-Policy (no third-party code;
// connections only to us and the storage origin) and related headers: no
// framing, no referrer, no browser feature but the camera, no window or
// resource shared with another origin and, when the session cookie is
// Secure (so idv is reached over HTTPS), HSTS.
func (s *Server) secureHeaders(next http.Handler) http.Handler {
	connect := strings.Join(append([]string{"'self'"}, s.cfg.ConnectSrc...), " ")
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
		"connect-src " + connect + "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	hsts := s.sessions.Cookie.Secure
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Permissions-Policy", permissionsPolicy)
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
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
