package web

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
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
	// NoAttemptUsed: the attempt ended without the vendors' answer (a
	// timeout, an exception), so it was given back; the page says so.
	NoAttemptUsed bool
	// Wait says when the person may try again ("in about 6 hours"); empty
	// when it is not known.
	Wait string
	// Limit is the limit a refused submit reached (rate_limited): the
	// person's own ("person"), or one on the SSN or the ID number, which
	// others may have used: then the page blames no one.
	Limit string
	// Final: no way forward in this verification (failure, rate limited);
	// the page says what the person can do instead.
	Final bool
	Help  Help
	// Return leads back to the relying party; RPName names it.
	Return string
	RPName string
}

// Help is where a person can get help, set per deployment (web.help_url,
// web.help_text). Without it, pages send the person to the relying party.
type Help struct {
	URL  string
	Text string
}

// commonErrors are the outcome pages' words when the step has none of its
// own: warning (the vendors said no, attempts remain), timeout (a vendor
// timed out), exception (a vendor could not be reached), failure (no
// attempts remain), rate_limited (a submit over a limit).
var commonErrors = map[string]stepError{
	"warning": {Heading: "We couldn't verify your information",
		Body: "What you entered didn't match the records we checked. Check it for typing mistakes, then try again."},
	"timeout": {Heading: "Our check took too long",
		Body: "A service we check with didn't answer in time."},
	"exception": {Heading: "We couldn't finish the check",
		Body: "We couldn't reach a service we check with."},
	"failure": {Heading: "We couldn't verify your identity online",
		Body: "You've used all your attempts at this step, so we can't check your identity online for now."},
	"rate_limited": {Heading: "You've tried too many times",
		Body: "To protect you, we limit how many times anyone can try this step in a few hours."},
}

// limitedErrors are the rate-limited page's words for limits that follow a
// piece of information, not the person: someone else may have reached them.
var limitedErrors = map[string]stepError{
	"ssn": {Heading: "We can't check this Social Security number right now",
		Body: "There have been too many recent attempts to verify with this Social Security number, so we've paused checks on it for a while to protect it. This can happen when someone else has used the number; it doesn't mean you did anything wrong."},
	"id_number": {Heading: "We can't check this ID right now",
		Body: "There have been too many recent attempts to verify with this ID number, so we've paused checks on it for a while to protect it. This can happen when someone else has used the number; it doesn't mean you did anything wrong."},
}

// limitKinds names, for the page, what each limit follows.
var limitKinds = map[string]string{
	ratelimit.ProofSSN.Name:      "ssn",
	ratelimit.ProofIDNumber.Name: "id_number",
}

// limitedAt is what the session keeps of a refused submit: the limit it
// reached and when that limit ends (no PII: the SSN's limit is named, not
// its key).
type limitedAt struct {
	Limit   string    `json:"limit"`
	ResetAt time.Time `json:"reset_at"`
}

// redirectOutcome sends the person to st's outcome page for reason.
func (s *Server) redirectOutcome(w http.ResponseWriter, r *http.Request, reason string, st *step) {
	http.Redirect(w, r, "/verify/errors/"+reason+"?step="+st.Name, http.StatusSeeOther)
}

// redirectLimited sends the person to st's rate-limited page, keeping which
// limit was reached and until when.
func (s *Server) redirectLimited(w http.ResponseWriter, r *http.Request, st *step, l ratelimit.Limit, at ratelimit.Attempts) {
	b, _ := json.Marshal(limitedAt{Limit: l.Name, ResetAt: at.ResetAt})
	s.sessions.Put(r.Context(), keyLimited, b)
	s.redirectOutcome(w, r, "rate_limited", st)
}

func (s *Server) serveStepError(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	reason := r.PathValue("reason")
	e, ok := commonErrors[reason]
	if !ok {
		s.renderError(w, r, http.StatusNotFound, "")
		return
	}
	st := s.step(r.URL.Query().Get("step"))
	if st != nil {
		if own, ok := st.Texts[reason]; ok {
			e.Heading, e.Body = cmp.Or(own.Heading, e.Heading), cmp.Or(own.Body, e.Body)
		}
	}
	e.Reason, e.Remaining, e.Help = reason, -1, s.help()
	v := verificationOf(ctx)
	// The way back to the relying party (continueURL, oidc.go); through
	// the OpenID Provider only once the verification has ended.
	if u := s.continueURL(ctx, v); u != OIDCContinuePath || v.Status.Final() {
		e.Return = u
	}
	if rp, err := s.verifications.RelyingParty(ctx, v.RelyingPartyID); err == nil {
		e.RPName = rp.Name
	}
	switch reason {
	case "warning", "timeout", "exception":
		e.NoAttemptUsed = reason != "warning"
		if st == nil {
			break
		}
		e.Retry = st.Path
		at, err := s.limited(ctx, st.Limit, s.person(ctx))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		e.Remaining = s.attemptsLeft(v, st, at)
	case "failure":
		e.Final = true
		if st != nil {
			at, err := s.limited(ctx, st.Limit, s.person(ctx))
			if err != nil {
				s.fail(w, r, err)
				return
			}
			e.Wait = s.waitText(at.ResetAt)
		}
	case "rate_limited":
		e.Final = true
		var l limitedAt
		if b := s.sessions.GetBytes(ctx, keyLimited); b != nil {
			_ = json.Unmarshal(b, &l)
		}
		e.Wait = s.waitText(l.ResetAt)
		e.Limit = cmp.Or(limitKinds[l.Limit], "person")
		if own, ok := limitedErrors[e.Limit]; ok {
			e.Heading, e.Body = own.Heading, own.Body
		}
	}
	if st != nil && st.warning != nil && reason == "warning" {
		st.warning(r, &e)
	}
	s.render(w, r, http.StatusOK, "step_error", page{Title: e.Heading, Step: s.stepIndicator(ctx, st), Data: e})
}

// attemptsLeft is what the outcome page counts: the fewer of the person's
// limit and the verification's own count (without a limiter, the latter).
func (s *Server) attemptsLeft(v idv.Verification, st *step, at ratelimit.Attempts) int {
	left := -1
	if rec, ok := v.Step(stepName(st.Name)); ok && rec.MaxAttempts > 0 {
		left = rec.AttemptsLeft()
	}
	if s.limiter != nil && (left < 0 || at.Remaining < left) {
		left = at.Remaining
	}
	return left
}

// waitText says how long until resetAt, roughly, as a person would ("in
// about 6 hours", "in about 20 minutes"); empty for a time not in the future.
func (s *Server) waitText(resetAt time.Time) string {
	d := resetAt.Sub(s.now())
	switch {
	case resetAt.IsZero() || d <= 0:
		return ""
	case d < 2*time.Minute:
		return "in a minute or two"
	case d < 45*time.Minute:
		return fmt.Sprintf("in about %d minutes", int((d+time.Minute-1)/time.Minute))
	case d < 90*time.Minute:
		return "in about an hour"
	default:
		h := int((d + 30*time.Minute) / time.Hour)
		return fmt.Sprintf("in about %d hours", h)
	}
}

func (s *Server) help() Help { return Help{URL: s.cfg.HelpURL, Text: s.cfg.HelpText} }

// resultData is the result template's data.
type resultData struct {
	Verified bool
	Status   idv.VerificationStatus
	Continue string // the first step not yet passed
	Summary  passedStep
	// RPName and ReturnURL lead back to the relying party (continueURL).
	RPName    string
	ReturnURL string
	Help      Help
	// Wait says when the person may try again after a failure.
	Wait string
}

// serveResult is the last page: the verification's outcome, and the way
// back to the relying party that asked for it.
func (s *Server) serveResult(w http.ResponseWriter, r *http.Request) {
	v := verificationOf(r.Context())
	d := resultData{Verified: v.Status == idv.VerificationVerified, Status: v.Status, ReturnURL: s.continueURL(r.Context(), v), Help: s.help()}
	if rp, err := s.verifications.RelyingParty(r.Context(), v.RelyingPartyID); err == nil {
		d.RPName = rp.Name
	}
	if v.Status == idv.VerificationFailed {
		for _, st := range s.flow {
			if rec, ok := v.Step(stepName(st.Name)); ok && rec.Status == idv.StepFailed {
				at, err := s.limited(r.Context(), st.Limit, s.person(r.Context()))
				if err != nil {
					s.fail(w, r, err)
					return
				}
				d.Wait = s.waitText(at.ResetAt)
			}
		}
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
