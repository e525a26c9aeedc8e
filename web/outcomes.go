package web

import (
	"net/http"

	"github.com/idv-dev/idv"
)

// The outcome pages of a step's attempt that did not pass (DESIGN.md
// section 1): each vendor outcome gets its own page, at
// /verify/errors/<reason>?step=<step>.

// stepError is the step_error template's data.
type stepError struct {
	Reason  string
	Heading string
	Body    string
	Retry   string // path to try again, if any
	// Remaining is the attempts left (-1: not shown).
	Remaining int
	// Messages say what to change (the document check's findings).
	Messages []string
}

// stepErrors are the pages by reason: warning (the vendors said no, attempts
// remain), timeout (a vendor timed out), exception (a vendor could not be
// reached), failure (no attempts remain), rate_limited (a submit over a
// limit).
var stepErrors = map[string]stepError{
	"warning": {Heading: "We couldn't verify your information",
		Body: "The information you entered did not match the records we checked. Check that it is exactly as it appears on your ID, then try again."},
	"timeout": {Heading: "Our check took too long",
		Body: "Our request to verify your information timed out. This wasn't your fault. Please try again."},
	"exception": {Heading: "Something went wrong",
		Body: "We couldn't reach the service that checks your information, so we could not finish. This wasn't your fault. Please try again."},
	"failure": {Heading: "We couldn't verify your identity",
		Body: "We were not able to verify your identity online. You can try again later."},
	"rate_limited": {Heading: "You've tried too many times",
		Body: "For your security, we limit how often you can try to verify your identity. Please wait and try again later."},
}

// redirectOutcome sends the person to st's outcome page for reason.
func (s *Server) redirectOutcome(w http.ResponseWriter, r *http.Request, reason string, st *step) {
	http.Redirect(w, r, "/verify/errors/"+reason+"?step="+st.Name, http.StatusSeeOther)
}

func (s *Server) serveStepError(w http.ResponseWriter, r *http.Request) {
	e, ok := stepErrors[r.PathValue("reason")]
	if !ok {
		s.renderError(w, r, http.StatusNotFound, "We couldn't find that page.")
		return
	}
	e.Reason = r.PathValue("reason")
	e.Remaining = -1
	st := s.step(r.URL.Query().Get("step"))
	if st != nil && (e.Reason == "warning" || e.Reason == "timeout" || e.Reason == "exception") {
		at, err := s.limited(r.Context(), st.Limit, s.person(r.Context()))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if s.limiter != nil {
			e.Remaining = at.Remaining
		}
	}
	if st != nil && e.Reason != "failure" && e.Reason != "rate_limited" {
		e.Retry = st.Path
	}
	if st != nil && st.warning != nil && e.Reason == "warning" {
		st.warning(r, &e)
	}
	s.render(w, r, http.StatusOK, "step_error", page{Title: e.Heading, Data: e})
}

// resultData is the result template's data.
type resultData struct {
	Verified bool
	Status   idv.VerificationStatus
	Continue string // the first step not yet passed
	Summary  passedStep
	// RPName and ReturnURL lead back to the relying party.
	RPName    string
	ReturnURL string
}

// serveResult is the last page: the verification's outcome, and the way
// back to the relying party that asked for it.
func (s *Server) serveResult(w http.ResponseWriter, r *http.Request) {
	v := verificationOf(r.Context())
	d := resultData{Verified: v.Status == idv.VerificationVerified, Status: v.Status, ReturnURL: s.continueURL(r.Context(), v)}
	if rp, err := s.verifications.RelyingParty(r.Context(), v.RelyingPartyID); err == nil {
		d.RPName = rp.Name
	}
	if v.Status.Final() {
		for _, st := range s.flow {
			if p, ok, _ := s.attempts.Passed(r.Context(), st.Name); ok {
				d.Summary.Stages = append(d.Summary.Stages, p.Stages...)
			}
		}
		s.render(w, r, http.StatusOK, "result", page{Title: "Your result", Data: d})
		return
	}
	for _, st := range s.flow {
		p, ok, err := s.attempts.Passed(r.Context(), st.Name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !ok || p.Outcome != idv.OutcomeSuccess {
			d.Verified, d.Continue = false, st.Path
			break
		}
		d.Summary.Stages = append(d.Summary.Stages, p.Stages...)
	}
	s.render(w, r, http.StatusOK, "result", page{Title: "Your result", Data: d})
}
