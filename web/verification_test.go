package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
)

// The flow is a verification's, not the cookie's: the regressions of the
// verifications issue, each as a test.

// finishIDDocument runs the document step to a pass whose ID reads as the
// given identity.
func (h *harness) passDocument(a idv.Applicant) {
	h.t.Helper()
	id := h.openCapture()
	if code, loc, _ := h.do("POST", "/verify/document_capture", uploadedForm(id)); code != 303 || loc != "/verify/document_capture" {
		h.t.Fatalf("document submit: %d %q", code, loc)
	}
	h.finishDocument(idv.ProofingResult{Outcome: idv.OutcomeSuccess, Applicant: &a,
		Stages: []idv.Stage{{Name: "document", Result: idv.VendorResult{Success: true}}}})
	if _, loc, _ := h.do("GET", "/verify/document_capture", nil); loc != "/verify/verify_info" {
		h.t.Fatalf("after the document: %q", loc)
	}
}

var idFromDocument = idv.Applicant{FirstName: "Fakey", LastName: "Mcfakerson", DOB: "1938-10-06", Address1: "1 Fake Rd",
	City: "Great Falls", State: "MT", ZIPCode: "59010", StateIDNumber: "1111111111111", StateIDJurisdiction: "ND", StateIDExpiration: "2099-12-31"}

// lastApplicant opens the applicant in the last job's arguments.
func (h *harness) lastApplicant() idv.Applicant {
	h.t.Helper()
	jobs := h.queue.Jobs()
	j := jobs[len(jobs)-1]
	plain, err := fake.Sealer{}.Open(context.Background(), j.EncryptedArguments, idv.JobAAD(j.Kind, j.ResultID))
	if err != nil {
		h.t.Fatal(err)
	}
	var args idv.ResolutionArguments
	if err := json.Unmarshal(plain, &args); err != nil {
		h.t.Fatal(err)
	}
	return args.Applicant
}

// Someone else's name, date of birth and ID number typed into verify_info
// are ignored: the identity resolved and checked is the one on the ID.
func TestPostedIdentityIsBoundToTheDocument(t *testing.T) {
	t.Parallel()
	h, _ := newDocHarness(t, true)
	h.passDocument(idFromDocument)
	form := goodForm() // Jane Doe, 1980-02-03, D1234567 (VA)
	form.Set("address1", "2 New St")
	if code, loc, _ := h.do("POST", "/verify/verify_info", form); code != 303 || loc != "/verify/verify_info" {
		t.Fatalf("submit: %d %q", code, loc)
	}
	a := h.lastApplicant()
	if a.FirstName != "Fakey" || a.LastName != "Mcfakerson" || a.DOB != "1938-10-06" || a.StateIDNumber != "1111111111111" ||
		a.StateIDJurisdiction != "ND" || a.StateIDExpiration != "2099-12-31" {
		t.Fatalf("resolution checked %+v, not the ID's identity", a)
	}
	if strings.ReplaceAll(a.SSN, "-", "") != "900123456" || a.Address1 != "2 New St" {
		t.Fatalf("the form's SSN and corrected address were not used: %q %q", a.SSN, a.Address1)
	}
	// The corrected address (never the SSN) is kept in the verification.
	got, err := (&Server{sealer: fake.Sealer{}}).identity(context.Background(), h.verification())
	if err != nil || got.Address1 != "2 New St" || got.SSN != "" || got.FirstName != "Fakey" {
		t.Fatalf("stored identity %+v, %v", got, err)
	}
}

// Twenty concurrent submits of one step in one session start one job and
// spend one attempt.
func TestConcurrentSubmitsStartOneAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do("GET", "/verify/verify_info", nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", h.srv.URL+"/verify/verify_info", strings.NewReader(goodForm().Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := h.client.Do(req)
			if err == nil {
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	if n := len(h.queue.Jobs()); n != 1 {
		t.Fatalf("20 concurrent submits started %d jobs", n)
	}
	if r, _ := h.verification().Step(idv.StepIdentity); r.Attempts != 1 {
		t.Fatalf("20 concurrent submits spent %d attempts", r.Attempts)
	}
}

// A passed step is locked: submitting it again, with any data, starts
// nothing and changes nothing.
func TestPassedDocumentCannotBeResubmitted(t *testing.T) {
	t.Parallel()
	h, _ := newDocHarness(t, true)
	h.passDocument(idFromDocument)
	jobs := len(h.queue.Jobs())
	h.do("POST", "/verify/document_capture", uploadedForm(h.openCaptureAny()))
	if n := len(h.queue.Jobs()); n != jobs {
		t.Fatalf("a passed document step started %d more jobs", n-jobs)
	}
	if r, _ := h.verification().Step(idv.StepDocument); r.Status != idv.StepPassed || r.Attempts != 1 {
		t.Fatalf("document step %+v", r)
	}
}

// openCaptureAny loads the capture page and returns its capture id, or a
// made-up one when the page redirects (the step passed).
func (h *harness) openCaptureAny() string {
	if m := captureIDRE.FindStringSubmatch(func() string { _, _, b := h.do("GET", "/verify/document_capture", nil); return b }()); m != nil {
		return m[1]
	}
	return idv.NewID()
}

// Limits follow the verification: a new browser (no cookie) with a new
// link, or "start over", resets none of them.
func TestLimitsSurviveNewCookieAndStartOver(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for range 2 {
		if loc := h.attempt(idv.OutcomeFailure); loc != "/verify/errors/warning?step=verify_info" {
			t.Fatalf("failure went to %q", loc)
		}
	}
	h.do("POST", "/verify/start_over", nil)
	if code, loc, _ := h.do("GET", "/verify/verify_info", nil); code != 303 || loc != "/" {
		t.Fatalf("after start over, a step page: %d %q", code, loc)
	}
	h.newPerson()
	token := h.newLink()
	if code, _, _ := h.do("GET", "/start/"+token, nil); code != 303 {
		t.Fatalf("new link: %d", code)
	}
	if loc := h.attempt(idv.OutcomeFailure); loc != "/verify/errors/warning?step=verify_info" {
		t.Fatalf("failure went to %q", loc)
	}
	if r, _ := h.verification().Step(idv.StepIdentity); r.Attempts != 3 {
		t.Fatalf("attempts %d after 3 failures across sessions, want 3", r.Attempts)
	}
}

// The session token changes when a session is bound, and a link works
// once.
func TestLinkRenewsTokenAndWorksOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.cookie()
	token := h.newLink()
	if code, _, _ := h.do("GET", "/start/"+token, nil); code != 303 {
		t.Fatalf("link: %d", code)
	}
	if after := h.cookie(); after == "" || after == before {
		t.Fatalf("session token not renewed on bind: %q -> %q", before, after)
	}
	h.newPerson()
	for _, tok := range []string{token, h.token, "idv_lt_forged"} {
		if code, _, body := h.do("GET", "/start/"+tok, nil); code != http.StatusNotFound || !strings.Contains(body, "expired or was already used") {
			t.Fatalf("link %q: %d %.200s", tok, code, body)
		}
	}
	if code, loc, _ := h.do("GET", "/verify/verify_info", nil); code != 303 || loc != "/" {
		t.Fatalf("a step without a verification: %d %q", code, loc)
	}
	if _, _, body := h.do("GET", "/", nil); !strings.Contains(body, "when a service asks you to") {
		t.Fatalf("start page without a verification: %.400s", body)
	}
}

// The session holds no PII at any point: after the whole flow, the stored
// session (as the store keeps it, before sealing) names none of the
// person's data.
func TestSessionHoldsNoPII(t *testing.T) {
	t.Parallel()
	h, _ := newDocHarness(t, true)
	h.passDocument(idFromDocument)
	h.attempt(idv.OutcomeSuccess)
	form := map[string][]string{"phone": {"7035550100"}}
	if code, _, _ := h.do("POST", "/verify/phone", form); code != 303 {
		t.Fatalf("phone submit: %d", code)
	}
	jobs := h.queue.Jobs()
	h.finish(jobs[len(jobs)-1].ResultID, &idv.ProofingResult{Outcome: idv.OutcomeSuccess})
	if _, loc, _ := h.do("GET", "/verify/phone", nil); loc != "/verify/result" {
		t.Fatalf("after the phone: %q", loc)
	}
	if v := h.verification(); v.Status != idv.VerificationVerified {
		t.Fatalf("verification %s", v.Status)
	}
	b, found, err := h.sm.Store.Find(h.cookie())
	if err != nil || !found {
		t.Fatalf("session: %v %v", found, err)
	}
	plain, err := fake.Sealer{}.Open(context.Background(), b, sessionAAD)
	if err != nil {
		t.Fatal(err)
	}
	for _, canary := range []string{"Fakey", "Mcfakerson", "1938-10-06", "1111111111111", "Fake Rd", "900123456", "900-12-3456", "7035550100", "Jane"} {
		if strings.Contains(string(plain), canary) {
			t.Fatalf("the session holds %q", canary)
		}
	}
}
