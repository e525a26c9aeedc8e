package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

func (s *Server) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	s.pages = map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("web: template %s: %w", n, err)
		}
		s.pages[base] = t
	}
	return nil
}

// formField is one labelled input, with its error.
type formField struct {
	Name, Label, Value, Error, Autocomplete, Type string
}

// uploadField is one image input of the document page.
type uploadField struct {
	Side, Label, Error, Accept string
	Presigned                  bool
}

var stageNames = map[string]string{
	"resolution": "an identity records service",
	"state_id":   "the state that issued your ID",
	"phone":      "your phone company's records",
	"document":   "a check of your ID's images",
}

var templateFuncs = template.FuncMap{
	"field": func(name, label, value string, errs idv.FieldErrors, autocomplete, typ string) formField {
		return formField{Name: name, Label: label, Value: value, Error: errs[name], Autocomplete: autocomplete, Type: typ}
	},
	"upload": func(side, label string, p documentPage) uploadField {
		return uploadField{Side: side, Label: label, Error: p.Errors[side], Accept: p.Accept, Presigned: p.Presigned}
	},
	"stageName": func(name string) string {
		if n, ok := stageNames[name]; ok {
			return n
		}
		return name
	},
}

// page is the data every template gets.
type page struct {
	Title   string
	Flash   string
	Refresh int // seconds; a meta refresh for browsers without JavaScript
	Data    any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	t, ok := s.pages[name]
	if !ok {
		s.log.ErrorContext(r.Context(), "no such template", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		s.log.ErrorContext(r.Context(), "render failed", "template", name, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.render(w, r, code, "error", page{Title: http.StatusText(code), Data: msg})
}

func (s *Server) serveStart(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "start", page{Title: "Verify your identity", Data: struct {
		First     string
		Documents bool
	}{s.firstStep().Path, s.documentsEnabled()}})
}

// verifyInfoForm is the verify_info template's data.
type verifyInfoForm struct {
	Applicant idv.Applicant
	Errors    idv.FieldErrors
	// Notes are things the document check found that the person should
	// check in the form (e.g. the barcode could not be read).
	Notes []string
}

func (s *Server) applicant(r *http.Request) idv.Applicant {
	var a idv.Applicant
	if b := s.sessions.GetBytes(r.Context(), keyApplicant); b != nil {
		_ = json.Unmarshal(b, &a)
	}
	return a
}

func (s *Server) putApplicant(r *http.Request, a idv.Applicant) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	s.sessions.Put(r.Context(), keyApplicant, b)
	return nil
}

// showVerifyInfo is the GET of the resolution step: the state machine of
// DESIGN.md section 1.
func (s *Server) showVerifyInfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st, err := s.state(ctx, stepVerifyInfo)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch st.Status {
	case idv.StatusInProgress:
		s.renderWait(w, r, stepVerifyInfo)
		return
	case idv.StatusDone:
		s.finish(ctx, stepVerifyInfo)
		s.afterResult(w, r, stepVerifyInfo, st.Result)
		return
	}
	if s.documentsEnabled() && !s.verified(r, stepDocument) {
		http.Redirect(w, r, stepDocument.Path, http.StatusSeeOther)
		return
	}
	switch st.Status {
	case idv.StatusMissing:
		s.finish(ctx, stepVerifyInfo)
		s.log.WarnContext(ctx, "proofing result missing", "step", stepVerifyInfo.Name, "capture_session", st.CS.ID)
		s.observe.ResultMissing(stepVerifyInfo.Name)
		s.renderVerifyInfo(w, r, http.StatusOK, verifyInfoForm{Applicant: s.prefill(r)},
			"Checking your information is taking longer than usual. Please try again.")
	default:
		s.renderVerifyInfo(w, r, http.StatusOK, verifyInfoForm{Applicant: s.prefill(r),
			Notes: documentMessages(s.sessionCodes(r, keyDocNotes))}, s.sessions.PopString(ctx, keyFlash))
	}
}

// prefill is the applicant shown in the form: what the ID said or the person
// typed before, without the SSN, which is always typed again.
func (s *Server) prefill(r *http.Request) idv.Applicant {
	a := s.applicant(r)
	a.SSN = ""
	return a
}

func (s *Server) renderVerifyInfo(w http.ResponseWriter, r *http.Request, code int, f verifyInfoForm, flash string) {
	s.render(w, r, code, "verify_info", page{Title: stepVerifyInfo.Title, Flash: flash, Data: f})
}

func (s *Server) submitVerifyInfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.pending(ctx, stepVerifyInfo) {
		// A resubmit (double click, back button) while a job is pending
		// enqueues nothing: show the pending attempt.
		http.Redirect(w, r, stepVerifyInfo.Path, http.StatusSeeOther)
		return
	}
	if s.documentsEnabled() && !s.verified(r, stepDocument) {
		http.Redirect(w, r, stepDocument.Path, http.StatusSeeOther)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, idv.Errorf(idv.EINVALID, "The form could not be read. Please try again."))
		return
	}
	a, fe := parseVerifyInfo(r.PostForm, s.applicant(r), s.now())
	if fe != nil {
		a.SSN = ""
		s.renderVerifyInfo(w, r, http.StatusUnprocessableEntity, verifyInfoForm{Applicant: a, Errors: fe}, "")
		return
	}
	person := s.person(ctx)
	if at, err := s.limited(ctx, ratelimit.IDVResolution, person); err != nil {
		s.fail(w, r, err)
		return
	} else if at.Limited {
		s.observe.RateLimited(ratelimit.IDVResolution.Name)
		http.Redirect(w, r, "/verify/errors/rate_limited?step="+stepVerifyInfo.Name, http.StatusSeeOther)
		return
	}
	// Every submit counts against the SSN, before anything is enqueued.
	if at, err := s.limited(ctx, ratelimit.ProofSSN, s.ssnTarget(a.SSN)); err != nil {
		s.fail(w, r, err)
		return
	} else if at.Limited {
		s.log.WarnContext(ctx, "rate limited", "limit", ratelimit.ProofSSN.Name)
		s.observe.RateLimited(ratelimit.ProofSSN.Name)
		http.Redirect(w, r, "/verify/errors/rate_limited?step="+stepVerifyInfo.Name, http.StatusSeeOther)
		return
	}
	if _, err := s.count(ctx, ratelimit.ProofSSN, s.ssnTarget(a.SSN)); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.putApplicant(r, a); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.begin(ctx, stepVerifyInfo, idv.ResolutionArguments{Applicant: a}); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, stepVerifyInfo.Path, http.StatusSeeOther)
}

// waitData is the wait template's data.
type waitData struct {
	Step       step
	StatusPath string
}

func (s *Server) renderWait(w http.ResponseWriter, r *http.Request, st step) {
	s.render(w, r, http.StatusOK, "wait", page{
		Title:   "We're checking your information",
		Refresh: int(s.cfg.WaitRefresh.Round(time.Second) / time.Second),
		Data:    waitData{Step: st, StatusPath: st.Path + "/status"},
	})
}

// doneSummary is what the session keeps of a verified step: no PII.
type doneSummary struct {
	Outcome idv.Outcome `json:"outcome"`
	Stages  []idv.Stage `json:"stages"`
	At      time.Time   `json:"at"`
}

// afterResult sends the person on from a done result. Only this server-side
// result decides whether the step is complete.
func (s *Server) afterResult(w http.ResponseWriter, r *http.Request, st step, res *idv.ProofingResult) {
	ctx := r.Context()
	s.log.InfoContext(ctx, "proofing result read", "step", st.Name, "outcome", string(res.Outcome))
	s.observe.ResultRead(st.Name, string(res.Outcome))
	// A resolution attempt counts only when the vendors answered: a
	// timeout or exception is not the person's fault.
	if st.CountOnResult && (res.Outcome == idv.OutcomeSuccess || res.Outcome == idv.OutcomeFailure) {
		if _, err := s.count(ctx, st.Limit, s.person(ctx)); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if res.Outcome == idv.OutcomeFailure {
		if at, err := s.limited(ctx, st.Limit, s.person(ctx)); err != nil {
			s.fail(w, r, err)
			return
		} else if at.Limited {
			http.Redirect(w, r, "/verify/errors/failure?step="+st.Name, http.StatusSeeOther)
			return
		}
	}
	switch res.Outcome {
	case idv.OutcomeSuccess:
		b, _ := json.Marshal(doneSummary{Outcome: res.Outcome, Stages: res.Stages, At: res.FinishedAt})
		s.sessions.Put(ctx, keyDonePref+st.Name, b)
		http.Redirect(w, r, st.Next, http.StatusSeeOther)
	case idv.OutcomeTimedOut:
		http.Redirect(w, r, "/verify/errors/timeout?step="+st.Name, http.StatusSeeOther)
	case idv.OutcomeException:
		http.Redirect(w, r, "/verify/errors/exception?step="+st.Name, http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/verify/errors/warning?step="+st.Name, http.StatusSeeOther)
	}
}

// stepError is the errors template's data.
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

func (s *Server) serveStepError(w http.ResponseWriter, r *http.Request) {
	e, ok := stepErrors[r.PathValue("reason")]
	if !ok {
		s.renderError(w, r, http.StatusNotFound, "We couldn't find that page.")
		return
	}
	e.Reason = r.PathValue("reason")
	e.Remaining = -1
	st, known := steps[r.URL.Query().Get("step")]
	if known && (e.Reason == "warning" || e.Reason == "timeout" || e.Reason == "exception") {
		at, err := s.limited(r.Context(), st.Limit, s.person(r.Context()))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if s.limiter != nil {
			e.Remaining = at.Remaining
		}
	}
	if known && e.Reason != "failure" && e.Reason != "rate_limited" {
		e.Retry = st.Path
	}
	if known && st.Name == stepDocument.Name && e.Reason == "warning" {
		e.Heading = "We couldn't verify your ID"
		e.Body = "We couldn't use the photos of your ID. Here is what to change before you take new ones:"
		e.Messages = documentMessages(s.sessionCodes(r, keyDocErrors))
		if len(e.Messages) == 0 {
			e.Messages = documentMessages([]string{""})
		}
	}
	s.render(w, r, http.StatusOK, "step_error", page{Title: e.Heading, Data: e})
}

// resultData is the result template's data.
type resultData struct {
	Verified bool
	Continue string // the first step not yet verified
	Summary  doneSummary
}

func (s *Server) serveResult(w http.ResponseWriter, r *http.Request) {
	d := resultData{Verified: true}
	for _, st := range s.flow() {
		var sum doneSummary
		b := s.sessions.GetBytes(r.Context(), keyDonePref+st.Name)
		if b == nil || json.Unmarshal(b, &sum) != nil || sum.Outcome != idv.OutcomeSuccess {
			d.Verified, d.Continue = false, st.Path
			break
		}
		d.Summary.Stages = append(d.Summary.Stages, sum.Stages...)
	}
	s.render(w, r, http.StatusOK, "result", page{Title: "Your result", Data: d})
}

func (s *Server) startOver(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.fail(w, r, idv.WrapError(idv.EUNAVAILABLE, "session store unavailable", err))
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
