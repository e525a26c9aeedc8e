package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

// Past the caps on status long polls held open, per session or in all, a
// poll answers at once with the current status and a retry_after hint; the
// polls held answer as usual when the result lands, and the counts return
// to zero (no poll is left waiting).
func TestLongPollCaps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		maxTotal int
		held     int // polls that wait before one is turned away
	}{
		{"per session", 100, longPollsPerSession},
		{"in all", 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarnessOpts(t, func(o *Options) {
				// Long enough that the held polls end only on the result.
				o.Config.LongPoll, o.Config.MaxLongPolls = time.Hour, tc.maxTotal
				o.Config.WaitRefresh = 3 * time.Second
			})
			h.do("POST", "/verify/verify_info", goodForm())
			resultID := h.queue.Jobs()[0].ResultID
			poll := func() (*http.Response, map[string]any) {
				req, _ := http.NewRequest("GET", h.srv.URL+"/verify/verify_info/status", nil)
				res, err := h.client.Do(req)
				if err != nil {
					t.Error(err)
					return nil, nil
				}
				defer res.Body.Close()
				var body map[string]any
				if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
					t.Error(err)
				}
				return res, body
			}
			answers := make(chan map[string]any, tc.held)
			for range tc.held {
				go func() { _, body := poll(); answers <- body }()
			}
			waitHeld(t, h.server, tc.held)

			res, body := poll()
			if body["status"] != string(idv.StatusInProgress) || body["retry_after"] != float64(3) || res.Header.Get("Retry-After") != "3" {
				t.Errorf("poll over the cap: %v (Retry-After %q), want in_progress with retry_after 3", body, res.Header.Get("Retry-After"))
			}
			if total, _ := h.server.polls.held(); total != tc.held {
				t.Errorf("after the refused poll: %d held, want %d", total, tc.held)
			}

			h.finish(resultID, &idv.ProofingResult{Outcome: idv.OutcomeSuccess})
			for range tc.held {
				if body := <-answers; body["status"] != string(idv.StatusDone) || body["retry_after"] != nil {
					t.Errorf("held poll answered %v, want done", body)
				}
			}
			waitHeld(t, h.server, 0)
			if _, sessions := h.server.polls.held(); sessions != 0 {
				t.Errorf("%d sessions still counted", sessions)
			}
			// Done: a poll answers without taking a slot, whatever the caps.
			if _, body := poll(); body["status"] != string(idv.StatusDone) {
				t.Errorf("poll after the result: %v", body)
			}
		})
	}
}

// waitHeld waits until s holds n long polls open (polled, with a deadline).
func waitHeld(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		total, _ := s.polls.held()
		if total == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d long polls held, want %d", total, n)
		}
		time.Sleep(5 * time.Millisecond) // polling a counter, with a deadline
	}
}

// The waiting page's script honours the hint: it falls back to reloading
// the page after retry_after seconds instead of polling again.
func TestWaitScriptHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	b, err := staticFS.ReadFile("static/wait.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "setTimeout(next, body.retry_after * 1000)") {
		t.Fatal("wait.js does not fall back to reloading on retry_after")
	}
}
