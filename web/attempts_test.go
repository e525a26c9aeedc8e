package web

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/ratelimit/memory"
)

// TestAttemptAccounting: on every step, only the vendors' answer (success
// or failure) uses one of the person's attempts, in the per-person limit
// and in the verification's own count; a timeout, an exception or a result
// that never came uses none, and its page says so.
func TestAttemptAccounting(t *testing.T) {
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
	passInfo := func(h *harness) {
		passDocument(h)
		if loc := h.attempt(idv.OutcomeSuccess); loc != "/verify/phone" {
			h.t.Fatalf("verify_info step: %q", loc)
		}
	}
	steps := []struct {
		name   string
		limit  ratelimit.Limit
		step   idv.StepName
		reach  func(*harness)
		submit func(*harness)
	}{
		{"document_capture", ratelimit.IDVDocAuth, idv.StepDocument, func(*harness) {},
			func(h *harness) { h.do("POST", "/verify/document_capture", uploadedForm(h.openCapture())) }},
		{"verify_info", ratelimit.IDVResolution, idv.StepIdentity, passDocument,
			func(h *harness) { h.do("POST", "/verify/verify_info", goodForm()) }},
		{"phone", ratelimit.ProofAddress, idv.StepPhone, passInfo,
			func(h *harness) { h.do("POST", "/verify/phone", url.Values{"phone": {"7035550100"}}) }},
	}
	outcomes := []struct {
		outcome idv.Outcome // "" = the result never came
		used    int         // attempts it uses
		page    string      // where the step's page leads ("" = the form again)
		says    string      // what that page says of the attempt
	}{
		{idv.OutcomeSuccess, 1, "next", ""},
		{idv.OutcomeFailure, 1, "/verify/errors/warning?step=", "attempts left"},
		{idv.OutcomeTimedOut, 0, "/verify/errors/timeout?step=", "didn't use one of your attempts"},
		{idv.OutcomeException, 0, "/verify/errors/exception?step=", "didn't use one of your attempts"},
		{"", 0, "", "didn't use one of your attempts"},
	}
	for _, st := range steps {
		for _, oc := range outcomes {
			name := string(oc.outcome)
			if name == "" {
				name = "missing"
			}
			t.Run(st.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				lim := memory.New(time.Now)
				h, _ := newDocHarness(t, true)
				h.server.limiter = lim
				st.reach(h)
				target := "rp:" + h.rp.ID + ":person-1"
				before, _ := lim.Status(context.Background(), st.limit, target)
				rec, _ := h.verification().Step(st.step)
				st.submit(h)
				jobs := h.queue.Jobs()
				id := jobs[len(jobs)-1].ResultID
				if oc.outcome == "" {
					h.expireResults()
				} else {
					res := &idv.ProofingResult{Outcome: oc.outcome}
					if st.step == idv.StepDocument {
						res.Applicant = idCard
					}
					h.finish(id, res)
				}
				code, loc, body := h.do("GET", "/verify/"+st.name, nil)
				switch {
				case oc.page == "next":
					if code != 303 || strings.HasPrefix(loc, "/verify/errors/") {
						t.Fatalf("step page after success: %d %q", code, loc)
					}
				case oc.page == "":
					if code != 200 || !strings.Contains(unescape(body), oc.says) {
						t.Fatalf("form after a missing result: %d %.400s", code, body)
					}
				default:
					if loc != oc.page+st.name {
						t.Fatalf("step page leads to %q, want %q", loc, oc.page+st.name)
					}
					if _, _, page := h.do("GET", loc, nil); !strings.Contains(unescape(page), oc.says) {
						t.Fatalf("%s page does not say %q: %.1500s", loc, oc.says, page)
					}
				}
				after, _ := lim.Status(context.Background(), st.limit, target)
				if got := after.Count - before.Count; got != oc.used {
					t.Errorf("per-person limit %s counted %d, want %d", st.limit.Name, got, oc.used)
				}
				now, _ := h.verification().Step(st.step)
				if got := now.Attempts - rec.Attempts; got != oc.used {
					t.Errorf("verification's %s step counted %d attempts, want %d", st.step, got, oc.used)
				}
			})
		}
	}
}

// unescape undoes html/template's escaping of apostrophes, so a test can
// look for the words of a template and of its data alike.
func unescape(s string) string { return strings.ReplaceAll(s, "&#39;", "'") }
