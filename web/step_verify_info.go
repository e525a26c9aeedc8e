package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

// The verify_info step: the person reviews what the ID said (or types it),
// adds the SSN, and a ResolutionProofing job checks the identity.

func (s *Server) verifyInfoStep() *step {
	return &step{
		Name: "verify_info", Path: "/verify/verify_info", Kind: idv.JobResolution,
		Waiting: "We're checking your information",
		Missing: "Checking your information is taking longer than usual. Please try again.",
		Limit:   ratelimit.IDVResolution, CountOnResult: true,
		form: func(w http.ResponseWriter, r *http.Request, flash string) {
			f := verifyInfoForm{Applicant: s.prefill(r.Context())}
			if flash == "" {
				f.Notes = documentMessages(s.sessionCodes(r.Context(), keyDocNotes))
			}
			s.renderVerifyInfo(w, r, http.StatusOK, f, flash)
		},
		read: s.readVerifyInfo,
	}
}

// verifyInfoForm is the verify_info template's data.
type verifyInfoForm struct {
	Applicant idv.Applicant
	Errors    idv.FieldErrors
	// Notes are things the document check found that the person should
	// check in the form (e.g. the barcode could not be read).
	Notes []string
}

func (s *Server) renderVerifyInfo(w http.ResponseWriter, r *http.Request, code int, f verifyInfoForm, flash string) {
	s.render(w, r, code, "verify_info", page{Title: "Verify your information", Flash: flash, Data: f})
}

// prefill is the applicant shown in the form: what the ID said or the person
// typed before, without the SSN, which is always typed again.
func (s *Server) prefill(ctx context.Context) idv.Applicant {
	a := s.applicant(ctx)
	a.SSN = ""
	return a
}

// readVerifyInfo reads the form; every valid submit counts against the SSN.
func (s *Server) readVerifyInfo(w http.ResponseWriter, r *http.Request) (submission, bool) {
	if !s.parseForm(w, r) {
		return submission{}, false
	}
	a, fe := parseVerifyInfo(r.PostForm, s.applicant(r.Context()), s.now())
	if fe != nil {
		a.SSN = ""
		s.renderVerifyInfo(w, r, http.StatusUnprocessableEntity, verifyInfoForm{Applicant: a, Errors: fe}, "")
		return submission{}, false
	}
	return submission{
		args:   idv.ResolutionArguments{Applicant: a},
		limits: []limitCheck{{Limit: ratelimit.ProofSSN, Target: s.ssnTarget(a.SSN), Count: true}},
		keep:   func(ctx context.Context) error { return s.putApplicant(ctx, a) },
	}, true
}

// parseVerifyInfo reads the verify_info form (DESIGN.md 2a) over prev, the
// applicant the session holds: the form does not carry the ID's expiry or
// the phone, so those are kept. The result is normalized; fe is nil when
// every field is valid. Field errors never echo a value. It is a pure
// function of the posted values, so it can be fuzzed (fuzz_test.go).
func parseVerifyInfo(form url.Values, prev idv.Applicant, now time.Time) (a idv.Applicant, fe idv.FieldErrors) {
	a = idv.Applicant{
		FirstName: form.Get("first_name"), LastName: form.Get("last_name"),
		DOB: form.Get("dob"), SSN: form.Get("ssn"),
		Address1: form.Get("address1"), Address2: form.Get("address2"),
		City: form.Get("city"), State: form.Get("state"), ZIPCode: form.Get("zipcode"),
		StateIDNumber: form.Get("state_id_number"), StateIDJurisdiction: form.Get("state_id_jurisdiction"),
		StateIDExpiration: prev.StateIDExpiration, Phone: prev.Phone,
	}
	a.Normalize()
	return a, a.ValidateIdentity(now)
}
