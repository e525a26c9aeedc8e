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
			a, bound, err := s.prefill(r.Context())
			if err != nil {
				s.fail(w, r, err)
				return
			}
			f := verifyInfoForm{Applicant: a, Bound: bound}
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
	// Bound: name, date of birth and the ID's number and state come from
	// the ID (shown, not editable); a wrong reading is fixed with new
	// photos, not by typing.
	Bound bool
}

func (s *Server) renderVerifyInfo(w http.ResponseWriter, r *http.Request, code int, f verifyInfoForm, flash string) {
	s.render(w, r, code, "verify_info", page{Title: "Verify your information", Flash: flash, Data: f})
}

// prefill is the applicant shown in the form: the verification's identity
// (what the ID said, and an address corrected before), without the SSN,
// which is always typed again. bound is true when the verification has a
// document step: then the ID's fields are not the form's to change.
func (s *Server) prefill(ctx context.Context) (a idv.Applicant, bound bool, err error) {
	v := verificationOf(ctx)
	_, bound = v.Step(idv.StepDocument)
	a, err = s.identity(ctx, v)
	a.SSN = ""
	return a, bound, err
}

// readVerifyInfo reads the form. With a document step, the identity that is
// checked is the one read from the ID: the form adds the SSN and may
// correct the address, and anything else it posts is ignored. Every valid
// submit counts against the SSN and the ID number.
func (s *Server) readVerifyInfo(w http.ResponseWriter, r *http.Request) (submission, bool) {
	if !s.parseForm(w, r) {
		return submission{}, false
	}
	prev, bound, err := s.prefill(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return submission{}, false
	}
	if bound && prev.FirstName == "" {
		// The document step passed without binding an identity: nothing
		// to check against.
		s.fail(w, r, idv.Errorf(idv.ECONFLICT, "Your ID has not been checked yet."))
		return submission{}, false
	}
	a, fe := parseVerifyInfo(r.PostForm, prev, s.now())
	if bound {
		a = bindDocument(a, prev)
		fe = a.ValidateIdentity(s.now())
	}
	if fe != nil {
		a.SSN = ""
		s.renderVerifyInfo(w, r, http.StatusUnprocessableEntity, verifyInfoForm{Applicant: a, Errors: fe, Bound: bound}, "")
		return submission{}, false
	}
	return submission{
		args: idv.ResolutionArguments{Applicant: a},
		limits: []limitCheck{
			{Limit: ratelimit.ProofSSN, Target: s.fingerprint(a.SSN), Count: true},
			{Limit: ratelimit.ProofIDNumber, Target: s.fingerprint(a.StateIDJurisdiction + ":" + a.StateIDNumber), Count: true},
		},
		identity: &a,
	}, true
}

// bindDocument puts the fields the ID decides back over a posted applicant:
// name, date of birth, the ID's number, state and expiry.
func bindDocument(posted, doc idv.Applicant) idv.Applicant {
	posted.FirstName, posted.LastName, posted.DOB = doc.FirstName, doc.LastName, doc.DOB
	posted.StateIDNumber, posted.StateIDJurisdiction, posted.StateIDExpiration = doc.StateIDNumber, doc.StateIDJurisdiction, doc.StateIDExpiration
	posted.Normalize()
	return posted
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
