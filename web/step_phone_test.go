package web

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/ratelimit/memory"
)

func TestPhoneStep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		outcome idv.Outcome
		want    string
	}{
		{idv.OutcomeSuccess, "/verify/result"},
		{idv.OutcomeFailure, "/verify/errors/warning?step=phone"},
		{idv.OutcomeTimedOut, "/verify/errors/timeout?step=phone"},
		{idv.OutcomeException, "/verify/errors/exception?step=phone"},
	}
	for _, tc := range tests {
		t.Run(string(tc.outcome), func(t *testing.T) {
			t.Parallel()
			h := newHarnessWith(t, memory.New(time.Now))
			// Before the identity is verified, the phone step sends the person back.
			if _, loc, _ := h.do("GET", "/verify/phone", nil); loc != "/verify/verify_info" {
				t.Fatalf("phone before verify_info: %q", loc)
			}
			if loc := h.attempt(idv.OutcomeSuccess); loc != "/verify/phone" {
				t.Fatalf("verify_info: %q", loc)
			}
			if code, _, body := h.do("POST", "/verify/phone", url.Values{"phone": {"12"}}); code != 422 || !strings.Contains(body, `id="phone-error"`) {
				t.Fatalf("bad phone: %d", code)
			}
			if code, loc, _ := h.do("POST", "/verify/phone", url.Values{"phone": {"(703) 555-0100"}}); code != 303 || loc != "/verify/phone" {
				t.Fatalf("submit: %d %q", code, loc)
			}
			jobs := h.queue.Jobs()
			last := jobs[len(jobs)-1]
			if last.Kind != idv.JobAddress {
				t.Fatalf("job kind %s", last.Kind)
			}
			if _, _, body := h.do("GET", "/verify/phone", nil); !strings.Contains(body, "data-status-url=\"/verify/phone/status\"") {
				t.Fatalf("wait page: %.300s", body)
			}
			h.finish(last.ResultID, &idv.ProofingResult{Outcome: tc.outcome})
			if _, loc, _ := h.do("GET", "/verify/phone", nil); loc != tc.want {
				t.Fatalf("got %q, want %q", loc, tc.want)
			}
			_, _, body := h.do("GET", "/verify/result", nil)
			if got := strings.Contains(body, `class="alert alert-success"`); got != (tc.outcome == idv.OutcomeSuccess) {
				t.Fatalf("result page verified=%v for %s", got, tc.outcome)
			}
		})
	}
}

func TestPhoneAttemptLimit(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, memory.New(time.Now))
	h.attempt(idv.OutcomeSuccess)
	// Timeouts use no attempt; failures do, and the last one ends the step.
	for range ratelimit.ProofAddress.Max + 1 {
		h.do("POST", "/verify/phone", url.Values{"phone": {"7035550100"}})
		jobs := h.queue.Jobs()
		h.finish(jobs[len(jobs)-1].ResultID, &idv.ProofingResult{Outcome: idv.OutcomeTimedOut})
		if _, loc, _ := h.do("GET", "/verify/phone", nil); loc != "/verify/errors/timeout?step=phone" {
			t.Fatalf("after a timeout: %q", loc)
		}
	}
	var loc string
	for range ratelimit.ProofAddress.Max {
		h.do("POST", "/verify/phone", url.Values{"phone": {"7035550100"}})
		jobs := h.queue.Jobs()
		h.finish(jobs[len(jobs)-1].ResultID, &idv.ProofingResult{Outcome: idv.OutcomeFailure})
		_, loc, _ = h.do("GET", "/verify/phone", nil)
	}
	// The verification failed: its result page is the final failure page.
	if loc != "/verify/result" {
		t.Fatalf("after %d phone failures: %q", ratelimit.ProofAddress.Max, loc)
	}
	if _, _, body := h.do("GET", loc, nil); !strings.Contains(body, "verify your identity online") || !strings.Contains(body, "You can try again in about 6 hours") {
		t.Fatalf("final failure page: %.2000s", body)
	}
}
