package web

import (
	"context"
	"net/http"
	"time"
)

// serveChecks answers 200 when every check passes, else 503 naming the
// failing checks (their errors go to the log, not the answer).
func (s *Server) serveChecks(checks map[string]func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.runChecks(w, r, checks) }
}

func (s *Server) runChecks(w http.ResponseWriter, r *http.Request, checks map[string]func(context.Context) error) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	out := map[string]string{}
	code := http.StatusOK
	for name, check := range checks {
		if err := check(ctx); err != nil {
			out[name] = "unavailable"
			code = http.StatusServiceUnavailable
			s.log.WarnContext(ctx, "health check failed", "check", name, "error", err.Error())
		} else {
			out[name] = "ok"
		}
	}
	status := "ok"
	if code != http.StatusOK {
		status = "unavailable"
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": out})
}
