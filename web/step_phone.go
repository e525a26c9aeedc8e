package web

import (
	"net/http"
	"net/url"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

// The phone step: once the identity is verified, an AddressProofing job asks
// a phone-ownership vendor whether the phone belongs to the person. Every
// submit counts against the phone limit.

func (s *Server) phoneStep() *step {
	return &step{
		Name: "phone", Path: "/verify/phone", Kind: idv.JobAddress,
		Title:   "Your phone",
		Waiting: "We're checking your phone number",
		Checks: []check{
			{Text: "Checking your phone company's records"},
			{Stage: "phone_secondary", Text: "Checking a second source of phone records"},
		},
		Missing: "Checking your phone number is taking longer than usual. That didn't use one of your attempts. " +
			"Check the number below, then continue.",
		Texts: map[string]stepError{
			"warning": {Heading: "We couldn't confirm this phone number is yours",
				Body: "The phone records we checked don't show this number in your name. Try another number in your name, such as a mobile phone on your own plan or a landline at home."},
			"timeout": {Heading: "Checking your phone number took too long",
				Body: "The phone records service we check with didn't answer in time."},
			"exception": {Heading: "We couldn't finish checking your phone number",
				Body: "We couldn't reach the phone records service we check with."},
		},
		Limit: ratelimit.ProofAddress,
		form: func(w http.ResponseWriter, r *http.Request, flash string) {
			a, err := s.identity(r.Context(), verificationOf(r.Context()))
			if err != nil {
				s.fail(w, r, err)
				return
			}
			s.renderPhone(w, r, http.StatusOK, phoneForm{Phone: a.Phone}, flash)
		},
		read: s.readPhone,
	}
}

// phoneForm is the phone template's data.
type phoneForm struct {
	Phone  string
	Errors idv.FieldErrors
}

func (s *Server) renderPhone(w http.ResponseWriter, r *http.Request, code int, f phoneForm, flash string) {
	s.render(w, r, code, "phone", page{Title: "Verify your phone number", Flash: flash,
		Step: s.stepIndicator(r.Context(), s.step("phone")), Errors: summarize(f.Errors, []string{"phone"}, nil), Data: f})
}

func (s *Server) readPhone(w http.ResponseWriter, r *http.Request) (submission, bool) {
	if !s.parseForm(w, r) {
		return submission{}, false
	}
	prev, err := s.identity(r.Context(), verificationOf(r.Context()))
	if err != nil {
		s.fail(w, r, err)
		return submission{}, false
	}
	a, fe := parsePhone(r.PostForm, prev)
	if fe != nil {
		// What was typed stays in the box, to be corrected, not retyped.
		s.renderPhone(w, r, http.StatusUnprocessableEntity, phoneForm{Phone: r.PostForm.Get("phone"), Errors: fe}, "")
		return submission{}, false
	}
	return submission{
		args:     idv.AddressArguments{Applicant: a},
		identity: &a,
	}, true
}

// parsePhone reads the phone form over prev: only the phone changes. It is
// a pure function of the posted values, so it can be fuzzed.
func parsePhone(form url.Values, prev idv.Applicant) (idv.Applicant, idv.FieldErrors) {
	prev.Phone = idv.NormalizePhone(form.Get("phone"))
	return prev, prev.ValidatePhone()
}
