package web

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/idv-dev/idv"
)

// longPollsPerSession caps the status long polls one session holds open at
// once: a person has one waiting page, perhaps a second tab; more is a
// script or an attack tying up the server.
const longPollsPerSession = 4

// serveStatus answers the waiting page's script: {"status": ...}. It waits up
// to the long-poll limit for the attempt to leave in_progress, waking on the
// result store's change notification and re-reading on a short fallback
// tick, so the page learns of a result as soon as it is written. It is
// served through readSession: a poll never saves the session.
//
// Past the caps on long polls held open (per session and in all), it
// answers at once with the current status and a retry_after hint (seconds,
// also sent as Retry-After): the page's script then falls back to reloading
// the waiting page, as browsers without JavaScript do.
func (s *Server) serveStatus(st *step) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LongPoll)
		defer cancel()
		var changed <-chan struct{}
		held := false
		// known is the check the page already shows. Only a client that
		// says it (the waiting page's script, ?stage=) is answered when the
		// check changes; others (scripts, load tests) wait for the result.
		stages, tracks := r.URL.Query()["stage"]
		known := ""
		if tracks {
			known = stages[0]
		}
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
			if tracks && as.Stage != known {
				// The job moved on to another check: the page says so.
				writeJSON(w, http.StatusOK, statusAnswer(st, as.Stage))
				return
			}
			if !held {
				// Only a poll that would wait takes a slot: the key is the
				// session's token, which readSession has just loaded.
				key := s.sessions.Token(ctx)
				if !s.polls.acquire(key) {
					s.answerBusy(w)
					return
				}
				held = true
				defer s.polls.release(key)
			}
			if changed == nil {
				changed = s.results.Changed(ctx, as.CS.ResultID)
				continue // re-read once: the result may have landed before we subscribed
			}
			if !s.waitChange(ctx, changed) {
				break
			}
		}
		if !tracks {
			writeJSON(w, http.StatusOK, map[string]string{"status": string(idv.StatusInProgress)})
			return
		}
		writeJSON(w, http.StatusOK, statusAnswer(st, known))
	}
}

// statusAnswer is an in-progress answer: the check running (its stage, and
// its index in the step's checks).
func statusAnswer(st *step, stage string) map[string]any {
	return map[string]any{"status": string(idv.StatusInProgress), "stage": stage, "check": currentCheck(st.Checks, stage)}
}

// answerBusy answers a poll over a cap: still in progress, come back after
// the no-JavaScript refresh interval.
func (s *Server) answerBusy(w http.ResponseWriter) {
	secs := max(1, int(s.cfg.WaitRefresh.Round(time.Second)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeJSON(w, http.StatusOK, map[string]any{"status": string(idv.StatusInProgress), "retry_after": secs})
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

// longPolls counts the status long polls held open, in all and per
// session, so that neither one session nor a crowd can hold every
// goroutine and connection of the process waiting.
type longPolls struct {
	mu         sync.Mutex
	total      int
	max        int
	perSession int
	bySession  map[string]int
}

func newLongPolls(max, perSession int) *longPolls {
	return &longPolls{max: max, perSession: perSession, bySession: map[string]int{}}
}

// acquire takes a slot for session key, or reports false when the process
// or the session is at its cap.
func (l *longPolls) acquire(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.bySession[key] >= l.perSession {
		return false
	}
	l.total++
	l.bySession[key]++
	return true
}

// release gives back the slot acquire took.
func (l *longPolls) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.bySession[key]--; l.bySession[key] <= 0 {
		delete(l.bySession, key)
	}
}

// held returns the slots held, in all and the sessions holding any.
func (l *longPolls) held() (total, sessions int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, len(l.bySession)
}
