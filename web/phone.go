package web

import (
	"net/http"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

// phoneForm is the phone template's data.
type phoneForm struct {
	Phone  string
	Errors idv.FieldErrors
}

// verified reports whether a step has a verified result in the session.
func (s *Server) verified(r *http.Request, st step) bool {
	return s.sessions.Exists(r.Context(), keyDonePref+st.Name)
}

// showPhone is the GET of the phone step: the same state machine as
// verify_info, after the identity was verified.
func (s *Server) showPhone(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st, err := s.state(ctx, stepPhone)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch st.Status {
	case idv.StatusInProgress:
		s.renderWait(w, r, stepPhone)
		return
	case idv.StatusDone:
		// A done result is read before any other check: the last allowed
		// attempt may just have succeeded.
		s.finish(ctx, stepPhone)
		s.afterResult(w, r, stepPhone, st.Result)
		return
	}
	if !s.verified(r, stepVerifyInfo) {
		http.Redirect(w, r, stepVerifyInfo.Path, http.StatusSeeOther)
		return
	}
	flash := ""
	if st.Status == idv.StatusMissing {
		s.finish(ctx, stepPhone)
		s.log.WarnContext(ctx, "proofing result missing", "step", stepPhone.Name, "capture_session", st.CS.ID)
		s.observe.ResultMissing(stepPhone.Name)
		flash = "Checking your phone number is taking longer than usual. Please try again."
	}
	s.render(w, r, http.StatusOK, "phone", page{Title: stepPhone.Title, Flash: flash, Data: phoneForm{Phone: s.applicant(r).Phone}})
}

func (s *Server) submitPhone(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.pending(ctx, stepPhone) {
		http.Redirect(w, r, stepPhone.Path, http.StatusSeeOther)
		return
	}
	if !s.verified(r, stepVerifyInfo) {
		http.Redirect(w, r, stepVerifyInfo.Path, http.StatusSeeOther)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, idv.Errorf(idv.EINVALID, "The form could not be read. Please try again."))
		return
	}
	a, fe := parsePhone(r.PostForm, s.applicant(r))
	if fe != nil {
		s.render(w, r, http.StatusUnprocessableEntity, "phone", page{Title: stepPhone.Title, Data: phoneForm{Errors: fe}})
		return
	}
	// Every phone submit counts, before anything is enqueued.
	person := s.person(ctx)
	if at, err := s.limited(ctx, ratelimit.ProofAddress, person); err != nil {
		s.fail(w, r, err)
		return
	} else if at.Limited {
		s.observe.RateLimited(ratelimit.ProofAddress.Name)
		http.Redirect(w, r, "/verify/errors/rate_limited?step="+stepPhone.Name, http.StatusSeeOther)
		return
	}
	if _, err := s.count(ctx, ratelimit.ProofAddress, person); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.putApplicant(r, a); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.begin(ctx, stepPhone, idv.AddressArguments{Applicant: a}); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, stepPhone.Path, http.StatusSeeOther)
}
