package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/idv-dev/idv"
)

// The person's flow belongs to a verification (DESIGN.md section 10): a
// relying party created it and sent the person here with a single-use link
// (GET /start/{token}), which binds a fresh session to it. The session then
// holds only the verification's id and, per step, the pointer to the
// attempt in flight (so status polls read no database); everything else —
// which steps passed, how many attempts are left, the identity read from
// the ID — is read from the verification.

// Verifications is what the pages need of the verification store.
type Verifications interface {
	idv.VerificationStore
	// ExchangeLink spends a link token (by its hash): single use, before
	// it expires, for an unfinished verification.
	ExchangeLink(ctx context.Context, tokenHash string, now time.Time) (idv.Verification, error)
	RelyingParty(ctx context.Context, id string) (idv.RelyingParty, error)
}

// keyVerification is the session's pointer to its verification.
const keyVerification = "verification"

// verificationKey carries the request's verification, loaded once.
type verificationKey struct{}

// bound loads the session's verification into the request's context, once
// per request; ok is false when the session is bound to none.
func (s *Server) bound(r *http.Request) (*http.Request, idv.Verification, bool, error) {
	if v, ok := r.Context().Value(verificationKey{}).(idv.Verification); ok {
		return r, v, true, nil
	}
	id := s.sessions.GetString(r.Context(), keyVerification)
	if id == "" {
		return r, idv.Verification{}, false, nil
	}
	v, err := s.verifications.Verification(r.Context(), id)
	if idv.ErrorCode(err) == idv.ENOTFOUND {
		return r, idv.Verification{}, false, nil
	}
	if err != nil {
		return r, idv.Verification{}, false, err
	}
	return r.WithContext(context.WithValue(r.Context(), verificationKey{}, v)), v, true, nil
}

// requireVerification wraps a step page: without a bound verification the
// person is sent to the start page, which explains where flows begin; a
// verification that ended shows its result.
func (s *Server) requireVerification(final bool, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r, v, ok, err := s.bound(r)
		switch {
		case err != nil:
			s.fail(w, r, err)
		case !ok:
			http.Redirect(w, r, "/", http.StatusSeeOther)
		case v.Status.Final() && !final:
			http.Redirect(w, r, resultPath, http.StatusSeeOther)
		default:
			next(w, r)
		}
	}
}

// settle reads the step's attempt in flight, if its result is there, as
// show would: the attempt ends and a verdict uses an attempt.
func (s *Server) settle(ctx context.Context, st *step) error {
	if _, ok := sessionPointer(s, ctx, st.Name); !ok {
		return nil
	}
	as, err := s.state(ctx, st)
	if err != nil || as.Status != idv.StatusDone {
		return err
	}
	if err := s.attempts.End(ctx, st.Name); err != nil {
		return err
	}
	if as.Result.Outcome.Verdict() {
		_, err = s.count(ctx, st.Limit, s.person(ctx))
	}
	return err
}

// requireStep wraps a step's page: it needs a bound, unfinished
// verification, and a step the verification does not have (a relying party
// may ask for some steps only) is passed over.
func (s *Server) requireStep(st *step, next http.HandlerFunc) http.HandlerFunc {
	return s.requireVerification(true, func(w http.ResponseWriter, r *http.Request) {
		if verificationOf(r.Context()).Status.Final() {
			// The step's last result ended the verification: count it
			// (its page is the result page, so show never reads it).
			if err := s.settle(r.Context(), st); err != nil {
				s.fail(w, r, err)
				return
			}
			http.Redirect(w, r, resultPath, http.StatusSeeOther)
			return
		}
		if _, ok := verificationOf(r.Context()).Step(stepName(st.Name)); !ok {
			http.Redirect(w, r, st.Next, http.StatusSeeOther)
			return
		}
		next(w, r)
	})
}

// verificationOf returns the request's verification (requireVerification
// loaded it).
func verificationOf(ctx context.Context) idv.Verification {
	v, _ := ctx.Value(verificationKey{}).(idv.Verification)
	return v
}

// serveLink spends a person's link and binds a new session to its
// verification. The old session's data goes and the token is renewed, so a
// session id seen before the link cannot read what follows.
func (s *Server) serveLink(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, err := s.verifications.ExchangeLink(ctx, idv.HashToken(r.PathValue("token")), s.now())
	switch idv.ErrorCode(err) {
	case "":
	case idv.ENOTFOUND:
		s.renderError(w, r, http.StatusNotFound, "This link has expired or was already used. Go back to the service that sent you here and start again.")
		return
	case idv.ECONFLICT:
		s.renderError(w, r, http.StatusConflict, "This verification has already ended. Go back to the service that sent you here.")
		return
	default:
		s.fail(w, r, err)
		return
	}
	if err := s.bind(ctx, v.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// bind makes the session the verification's: cleared, a new token, then
// the pointer.
func (s *Server) bind(ctx context.Context, id string) error {
	if err := s.sessions.Clear(ctx); err != nil {
		return idv.WrapError(idv.EUNAVAILABLE, "session store unavailable", err)
	}
	if err := s.sessions.RenewToken(ctx); err != nil {
		return idv.WrapError(idv.EUNAVAILABLE, "session store unavailable", err)
	}
	s.sessions.Put(ctx, keyVerification, id)
	s.log.InfoContext(ctx, "session bound to verification", "verification_id", id)
	return nil
}

// selfServe starts a verification for the self-serve relying party (`idv
// dev` only): production flows start at a relying party.
func (s *Server) selfServe(w http.ResponseWriter, r *http.Request) {
	id, err := s.selfServeStart(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.bind(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, s.flow[0].Path, http.StatusSeeOther)
}

// identity opens the verification's bound identity: what the ID said (and
// the address the person corrected); the zero Applicant when there is none
// yet.
func (s *Server) identity(ctx context.Context, v idv.Verification) (idv.Applicant, error) {
	var a idv.Applicant
	if v.Identity == nil {
		return a, nil
	}
	plain, err := s.sealer.Open(ctx, v.Identity, idv.VerificationAAD(v.ID))
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(plain, &a); err != nil {
		return a, idv.Errorf(idv.EINTERNAL, "the verification's identity does not decode")
	}
	return a, nil
}

// sealIdentity seals what later steps need of a (never the SSN) under the
// verification's AAD.
func (s *Server) sealIdentity(ctx context.Context, v idv.Verification, a idv.Applicant) ([]byte, error) {
	a.SSN = ""
	plain, err := json.Marshal(a)
	if err != nil {
		return nil, idv.WrapError(idv.EINTERNAL, "encode identity", err)
	}
	return s.sealer.Seal(ctx, plain, idv.VerificationAAD(v.ID))
}

// verificationAttempts keeps the engine's progress in the verification: an
// attempt begins through the store's one guarded statement (so two tabs, a
// double click or twenty concurrent submits start one), and a step passed
// only when the verification says so. The session keeps a pointer to the
// attempt in flight so status polls read no database, and a passedStep per
// step for the result page's summary (no PII).
type verificationAttempts struct{ s *Server }

var _ attempts = verificationAttempts{}

func stepName(step string) idv.StepName {
	switch step {
	case "document_capture":
		return idv.StepDocument
	case "verify_info":
		return idv.StepIdentity
	case "phone":
		return idv.StepPhone
	}
	return ""
}

func (a verificationAttempts) Current(ctx context.Context, step string) (idv.CaptureSession, bool, error) {
	if cs, ok := sessionPointer(a.s, ctx, step); ok {
		return cs, true, nil
	}
	// No pointer (a new session on the same verification, say): the
	// verification knows the attempt in flight. Status polls always have
	// the pointer: the page that started them wrote it.
	v, ok := ctx.Value(verificationKey{}).(idv.Verification)
	if !ok {
		return idv.CaptureSession{}, false, nil
	}
	rec, ok := v.Step(stepName(step))
	if !ok || rec.InFlight == "" {
		return idv.CaptureSession{}, false, nil
	}
	a.s.sessions.Put(ctx, keyPtrPref+step, "|"+rec.InFlight)
	return idv.CaptureSession{ResultID: rec.InFlight}, true, nil
}

func sessionPointer(s *Server, ctx context.Context, step string) (idv.CaptureSession, bool) {
	ptr := s.sessions.GetString(ctx, keyPtrPref+step)
	if ptr == "" {
		return idv.CaptureSession{}, false
	}
	id, resultID, _ := cutPointer(ptr)
	return idv.CaptureSession{ID: id, ResultID: resultID}, true
}

func (a verificationAttempts) Begin(ctx context.Context, step string, cs idv.CaptureSession, job idv.Job, identity []byte) (bool, error) {
	v := verificationOf(ctx)
	_, err := a.s.verifications.BeginAttempt(ctx, idv.Attempt{VerificationID: v.ID, Step: stepName(step),
		CaptureSession: cs, Job: job, Identity: identity})
	switch idv.ErrorCode(err) {
	case "":
	case idv.ECONFLICT:
		return false, nil // in flight, passed, or the verification ended: the step's page says which
	default:
		return false, err
	}
	a.s.sessions.Put(ctx, keyPtrPref+step, cs.ID+"|"+cs.ResultID)
	return true, nil
}

// End forgets the attempt; one whose result never came is abandoned in the
// verification, so the person may try again (a result that arrives later
// is ignored). After a done result the store has already moved on and the
// abandon changes nothing.
func (a verificationAttempts) End(ctx context.Context, step string) error {
	cs, ok := sessionPointer(a.s, ctx, step)
	a.s.sessions.Remove(ctx, keyPtrPref+step)
	if !ok || cs.ResultID == "" {
		return nil
	}
	v := verificationOf(ctx)
	if v.ID == "" {
		v.ID = a.s.sessions.GetString(ctx, keyVerification)
	}
	_, err := a.s.verifications.AbandonAttempt(ctx, v.ID, stepName(step), cs.ResultID)
	return err
}

func (a verificationAttempts) Pass(ctx context.Context, step string, p passedStep) error {
	b, err := json.Marshal(p)
	if err != nil {
		return idv.WrapError(idv.EINTERNAL, "encode passed step", err)
	}
	a.s.sessions.Put(ctx, keyPassedPref+step, b)
	return nil
}

// Passed is the verification's word; the session adds the summary shown on
// the result page.
func (a verificationAttempts) Passed(ctx context.Context, step string) (passedStep, bool, error) {
	v := verificationOf(ctx)
	if v.ID == "" {
		id := a.s.sessions.GetString(ctx, keyVerification)
		if id == "" {
			return passedStep{}, false, nil
		}
		var err error
		if v, err = a.s.verifications.Verification(ctx, id); err != nil {
			return passedStep{}, false, err
		}
	}
	rec, ok := v.Step(stepName(step))
	switch {
	case !ok:
		return passedStep{Outcome: idv.OutcomeSuccess}, true, nil // not part of this verification
	case rec.Status != idv.StepPassed:
		return passedStep{}, false, nil
	}
	p := passedStep{Outcome: idv.OutcomeSuccess}
	if b := a.s.sessions.GetBytes(ctx, keyPassedPref+step); b != nil {
		_ = json.Unmarshal(b, &p)
	}
	return p, true, nil
}

// returnURL is where "Continue to <relying party>" leads: the
// verification's registered return URL with its id.
func returnURL(v idv.Verification) string {
	if v.ReturnURL == "" {
		return ""
	}
	u, err := url.Parse(v.ReturnURL)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("verification_id", v.ID)
	u.RawQuery = q.Encode()
	return u.String()
}
