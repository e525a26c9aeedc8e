package web

import (
	"context"
	"net/http"
	"time"

	"github.com/idv-dev/idv"
)

// serveStatus answers the waiting page's script: {"status": ...}. It waits up
// to the long-poll limit for the attempt to leave in_progress, waking on the
// result store's change notification and re-reading on a short fallback
// tick, so the page learns of a result as soon as it is written. It is
// served through readSession: a poll never saves the session.
func (s *Server) serveStatus(st *step) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LongPoll)
		defer cancel()
		var changed <-chan struct{}
		for {
			as, err := s.state(ctx, st)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
				return
			}
			if as.Status != idv.StatusInProgress {
				writeJSON(w, http.StatusOK, map[string]string{"status": string(as.Status)})
				return
			}
			if changed == nil {
				changed = s.results.Changed(ctx, as.CS.ResultID)
				continue // re-read once: the result may have landed before we subscribed
			}
			if !s.waitChange(ctx, changed) {
				break
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": string(idv.StatusInProgress)})
	}
}

// waitChange blocks until a change notification, the fallback tick or the end
// of ctx or of the server (Drain); it reports false when either ended.
func (s *Server) waitChange(ctx context.Context, changed <-chan struct{}) bool {
	t := time.NewTimer(s.cfg.FallbackPoll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-s.draining:
		return false
	case <-changed:
		return true
	case <-t.C:
		return true
	}
}
