package web

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

// The step engine's contract (DESIGN.md section 1), driven through the
// verify_info step; the other steps' tests check what they configure.

func TestVerifyInfoStates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		outcome  idv.Outcome // "" = no result written
		expire   bool
		corrupt  bool
		wantCode int
		wantLoc  string
		wantBody string
	}{
		{name: "in progress", wantCode: 200, wantBody: `<noscript><meta http-equiv="refresh" content="3"></noscript>`},
		{name: "success", outcome: idv.OutcomeSuccess, wantCode: 303, wantLoc: "/verify/phone"},
		{name: "failure", outcome: idv.OutcomeFailure, wantCode: 303, wantLoc: "/verify/errors/warning?step=verify_info"},
		{name: "timed out", outcome: idv.OutcomeTimedOut, wantCode: 303, wantLoc: "/verify/errors/timeout?step=verify_info"},
		{name: "exception", outcome: idv.OutcomeException, wantCode: 303, wantLoc: "/verify/errors/exception?step=verify_info"},
		{name: "missing", expire: true, wantCode: 200, wantBody: "taking longer than usual"},
		{name: "unreadable result", corrupt: true, wantCode: 200, wantBody: "taking longer than usual"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			code, _, body := h.do("GET", "/verify/verify_info", nil)
			if code != 200 || !strings.Contains(body, `name="ssn"`) {
				t.Fatalf("none: got %d %q", code, body)
			}
			code, loc, _ := h.do("POST", "/verify/verify_info", goodForm())
			if code != 303 || loc != "/verify/verify_info" {
				t.Fatalf("submit: got %d %q", code, loc)
			}
			jobs := h.queue.Jobs()
			if len(jobs) != 1 {
				t.Fatalf("jobs enqueued: %d, want 1", len(jobs))
			}
			id := jobs[0].ResultID
			if r, err := h.results.Load(context.Background(), id); err != nil || r.Status != idv.StatusInProgress {
				t.Fatalf("marker: %+v %v", r, err)
			}
			switch {
			case tc.outcome != "":
				h.finish(id, &idv.ProofingResult{Outcome: tc.outcome})
			case tc.expire:
				h.expireResults()
			case tc.corrupt:
				h.corruptResult(id)
			}
			code, loc, body = h.do("GET", "/verify/verify_info", nil)
			if code != tc.wantCode || loc != tc.wantLoc || !strings.Contains(strings.ToLower(body), strings.ToLower(tc.wantBody)) {
				t.Fatalf("got %d %q, body %.300q", code, loc, body)
			}
			if tc.outcome == idv.OutcomeSuccess {
				// A passed step is locked: a resubmit enqueues nothing.
				h.do("POST", "/verify/verify_info", goodForm())
				if n := len(h.queue.Jobs()); n != 1 {
					t.Fatalf("a passed step started %d jobs", n)
				}
				return
			}
			if tc.outcome != "" || tc.expire || tc.corrupt {
				// The attempt ended: a new submit enqueues a new job with a new result id.
				h.do("POST", "/verify/verify_info", goodForm())
				jobs := h.queue.Jobs()
				if len(jobs) != 2 || jobs[1].ResultID == id {
					t.Fatalf("retry: %d jobs, new id %v", len(jobs), len(jobs) == 2 && jobs[1].ResultID != id)
				}
			}
		})
	}
}

func TestResubmitWhilePendingEnqueuesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for range 3 {
		if code, loc, _ := h.do("POST", "/verify/verify_info", goodForm()); code != 303 || loc != "/verify/verify_info" {
			t.Fatalf("submit: %d %q", code, loc)
		}
	}
	if n := len(h.queue.Jobs()); n != 1 {
		t.Fatalf("jobs enqueued: %d, want 1", n)
	}
}

func TestStatusLongPollWakesOnResult(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do("POST", "/verify/verify_info", goodForm())
	id := h.queue.Jobs()[0].ResultID
	got := make(chan string, 1)
	go func() {
		_, _, body := h.do("GET", "/verify/verify_info/status", nil)
		got <- body
	}()
	h.finish(id, &idv.ProofingResult{Outcome: idv.OutcomeSuccess})
	select {
	case body := <-got:
		if !strings.Contains(body, `"done"`) {
			t.Fatalf("status: %s", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not answer")
	}
	// No session: status none.
	h2 := newHarness(t)
	if _, _, body := h2.do("GET", "/verify/verify_info/status", nil); !strings.Contains(body, `"none"`) {
		t.Fatalf("status without attempt: %s", body)
	}
}

func TestUnavailableQueueGives503(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.queue.failBegin(idv.WrapError(idv.EUNAVAILABLE, "job queue unavailable", io.ErrUnexpectedEOF))
	code, _, body := h.do("POST", "/verify/verify_info", goodForm())
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "try again") {
		t.Fatalf("got %d %.200q", code, body)
	}
}

// Every step runs the same machine with its own texts: an attempt whose
// result never comes shows the step's form with its "taking longer than
// usual" notice, and a new submit then starts a new attempt.
func TestEveryStepMissing(t *testing.T) {
	t.Parallel()
	idCard := &idv.Applicant{FirstName: "Fakey", LastName: "Mcfakerson", DOB: "1938-10-06", Address1: "1 Fake Rd",
		City: "Great Falls", State: "MT", ZIPCode: "59010", StateIDNumber: "1111111111111", StateIDJurisdiction: "ND", StateIDExpiration: "2099-12-31"}
	passDocument := func(h *harness) {
		h.do("POST", "/verify/document_capture", uploadedForm(h.openCapture()))
		h.finishDocument(idv.ProofingResult{Outcome: idv.OutcomeSuccess, Applicant: idCard})
		if _, loc, _ := h.do("GET", "/verify/document_capture", nil); loc != "/verify/verify_info" {
			h.t.Fatalf("document step: %q", loc)
		}
	}
	tests := []struct {
		path   string
		reach  func(h *harness) // pass the steps before
		submit func(h *harness)
		notice string
	}{
		{"/verify/document_capture", func(*harness) {},
			func(h *harness) { h.do("POST", "/verify/document_capture", uploadedForm(h.openCapture())) },
			"Checking your ID is taking longer than usual. That didn't use one of your attempts."},
		{"/verify/verify_info", passDocument,
			func(h *harness) { h.do("POST", "/verify/verify_info", goodForm()) },
			"Checking your information is taking longer than usual. That didn't use one of your attempts."},
		{"/verify/phone", func(h *harness) {
			passDocument(h)
			if loc := h.attempt(idv.OutcomeSuccess); loc != "/verify/phone" {
				h.t.Fatalf("verify_info step: %q", loc)
			}
		}, func(h *harness) { h.do("POST", "/verify/phone", url.Values{"phone": {"7035550100"}}) },
			"Checking your phone number is taking longer than usual. That didn't use one of your attempts."},
	}
	for _, tc := range tests {
		t.Run(strings.TrimPrefix(tc.path, "/verify/"), func(t *testing.T) {
			t.Parallel()
			h, _ := newDocHarness(t, true)
			tc.reach(h)
			tc.submit(h)
			jobs := h.queue.Jobs()
			id := jobs[len(jobs)-1].ResultID
			h.expireResults()
			if _, _, body := h.do("GET", tc.path+"/status", nil); !strings.Contains(body, `"missing"`) {
				t.Fatalf("status: %s", body)
			}
			code, _, body := h.do("GET", tc.path, nil)
			if code != 200 || !strings.Contains(body, htmlText(tc.notice)) {
				t.Fatalf("%d %.600s", code, body)
			}
			if !strings.Contains(h.logs.String(), `"msg":"proofing result missing"`) {
				t.Fatal("the missing result is not logged")
			}
			tc.submit(h)
			if jobs := h.queue.Jobs(); jobs[len(jobs)-1].ResultID == id {
				t.Fatal("no new attempt after the missing one")
			}
		})
	}
}
