package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

// The verify_info step: the person reviews what the ID said (or types it),
// adds the SSN, and a ResolutionProofing job checks the identity.

func (s *Server) verifyInfoStep() *step {
	return &step{
		Name: "verify_info", Path: "/verify/verify_info", Kind: idv.JobResolution,
		Title:   "Your information",
		Waiting: "We're checking your information",
		Checks: []check{
			{Text: "Checking your details with an identity records service"},
			{Stage: "state_id", Text: "Checking your ID with the state that issued it"},
		},
		Missing: "Checking your information is taking longer than usual. That didn't use one of your attempts. " +
			"Add your Social Security number again, then continue.",
		Texts: map[string]stepError{
			"warning": {Heading: "We couldn't match your information",
				Body: "What you entered didn't match the records we checked. Check your Social Security number and your address for typing mistakes, then try again."},
			"timeout": {Heading: "Checking your information took too long",
				Body: "An identity records service we check with didn't answer in time."},
			"exception": {Heading: "We couldn't finish checking your information",
				Body: "We couldn't reach an identity records service we check with."},
		},
		Limit: ratelimit.IDVResolution,
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
	// DOB is the date of birth's three boxes, as typed (or from the
	// applicant's YYYY-MM-DD).
	DOB    dateParts
	Errors idv.FieldErrors
	// Notes are things the document check found that the person should
	// check in the form (e.g. the barcode could not be read).
	Notes []string
	// Bound: name, date of birth and the ID's number and state come from
	// the ID (shown, not editable); a wrong reading is fixed with new
	// photos, not by typing.
	Bound bool
}

// verifyInfoFields are the form's fields in the order the page shows them,
// for the error summary.
var verifyInfoFields = []string{"first_name", "last_name", "dob", "ssn", "address1", "address2", "city", "state", "zipcode", "state_id_number", "state_id_jurisdiction"}

func (s *Server) renderVerifyInfo(w http.ResponseWriter, r *http.Request, code int, f verifyInfoForm, flash string) {
	if f.DOB == (dateParts{}) {
		f.DOB = splitDate(f.Applicant.DOB)
	}
	s.render(w, r, code, "verify_info", page{Title: "Verify your information", Flash: flash,
		Step: s.stepIndicator(r.Context(), s.step("verify_info")), Errors: summarize(f.Errors, verifyInfoFields, map[string]string{"dob": "dob_month"}), Data: f})
}

// dateParts is a date as three boxes: month, day and year (the US order).
type dateParts struct{ Month, Day, Year string }

// splitDate splits YYYY-MM-DD into boxes (the zero dateParts for anything
// else).
func splitDate(s string) dateParts {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return dateParts{}
	}
	return dateParts{Month: strconv.Itoa(int(t.Month())), Day: strconv.Itoa(t.Day()), Year: strconv.Itoa(t.Year())}
}

// date joins the boxes into YYYY-MM-DD; a box that is not a number of the
// right size gives a string that does not parse, so the date's error shows.
func (d dateParts) date() string {
	m, errM := strconv.Atoi(strings.TrimSpace(d.Month))
	day, errD := strconv.Atoi(strings.TrimSpace(d.Day))
	y := strings.TrimSpace(d.Year)
	if errM != nil || errD != nil || len(y) != 4 || m < 1 || m > 12 || day < 1 || day > 31 {
		return "invalid"
	}
	return fmt.Sprintf("%s-%02d-%02d", y, m, day)
}

// formMessages replace the domain's messages where the page asks
// differently (boxes for the date, a list for the states).
var formMessages = map[string]map[string]string{
	"dob":   {"Enter your date of birth as YYYY-MM-DD.": "Enter your date of birth as a month, a day and a four-digit year, for example 4 28 1986."},
	"state": {"Choose a two-letter state code.": "Choose your state."},
}

func rewordErrors(fe idv.FieldErrors) {
	for f, msg := range fe {
		if m, ok := formMessages[f][msg]; ok {
			fe[f] = m
		}
	}
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
	dob := dateParts{Month: r.PostForm.Get("dob_month"), Day: r.PostForm.Get("dob_day"), Year: r.PostForm.Get("dob_year")}
	if bound {
		a = bindDocument(a, prev)
		fe = a.ValidateIdentity(s.now())
		dob = dateParts{}
	}
	if fe != nil {
		a.SSN = ""
		rewordErrors(fe)
		s.renderVerifyInfo(w, r, http.StatusUnprocessableEntity, verifyInfoForm{Applicant: a, DOB: dob, Errors: fe, Bound: bound}, "")
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
	dob := form.Get("dob")
	if _, boxes := form["dob_month"]; boxes && dob == "" {
		// The page's three boxes; scripts may post dob as YYYY-MM-DD.
		dob = dateParts{Month: form.Get("dob_month"), Day: form.Get("dob_day"), Year: form.Get("dob_year")}.date()
	}
	a = idv.Applicant{
		FirstName: form.Get("first_name"), LastName: form.Get("last_name"),
		DOB: dob, SSN: form.Get("ssn"),
		Address1: form.Get("address1"), Address2: form.Get("address2"),
		City: form.Get("city"), State: form.Get("state"), ZIPCode: form.Get("zipcode"),
		StateIDNumber: form.Get("state_id_number"), StateIDJurisdiction: form.Get("state_id_jurisdiction"),
		StateIDExpiration: prev.StateIDExpiration, Phone: prev.Phone,
	}
	a.Normalize()
	return a, a.ValidateIdentity(now)
}
