package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

// The step engine. Every step of the flow follows DESIGN.md section 1's
// contract, enqueue then poll: its POST checks the input, writes the
// in_progress marker and enqueues the job; its GET reads the attempt's state
// (none, in_progress, done, missing) and shows the form, the waiting page or
// where the result leads. The engine is that contract, written once; a step
// (step_*.go) gives it only what is its own: the form, how to read and check
// it, the job's arguments, the limit it counts and its texts.

// step is one enqueue-then-poll step of the flow and its parts.
type step struct {
	Name string      // document_capture, verify_info, phone: in URLs, logs and metrics
	Path string      // the step's page: GET shows it, POST submits it
	Kind idv.JobKind // the job an attempt enqueues
	// Title is the step's name for the person ("Your ID"), in the step
	// indicator and the start page's list.
	Title string
	// Waiting is the waiting page's heading and title.
	Waiting string
	// Checks are the checks the step's job runs, in order: the waiting
	// page says which one is running (idv.AsyncResult.Stage).
	Checks []check
	// Missing is said above the form when an attempt's result never came.
	Missing string
	// Texts are the step's own words on its outcome pages, by reason
	// (warning, timeout, exception); outcomes.go has the common ones.
	Texts map[string]stepError
	// Limit is the per-person attempt limit of the step, shown on its
	// outcome pages. It is counted when the vendors answered (success or
	// failure), never on submit: a timeout, an exception or a result that
	// never came was not the person's doing and uses no attempt.
	Limit ratelimit.Limit

	// after is the step that must pass first (nil: none); Next is where a
	// passed step sends the person. Both follow the flow's order (newFlow).
	after *step
	Next  string

	// form renders the step's form: GET with no attempt in flight. flash
	// is Missing when the last attempt's result never came, else empty.
	form func(w http.ResponseWriter, r *http.Request, flash string)
	// read reads and checks a POST. When it refuses the input it has
	// answered the request (the form again, with the errors) and ok is
	// false.
	read func(w http.ResponseWriter, r *http.Request) (sub submission, ok bool)
	// done, if set, sees a done result before the engine sends the person
	// on: it keeps what later pages need and may replace the result.
	done func(ctx context.Context, res *idv.ProofingResult) (*idv.ProofingResult, error)
	// warning, if set, rewrites the warning page (the vendors said no).
	warning func(r *http.Request, e *stepError)
}

// submission is a step's checked input.
type submission struct {
	// args are the job's arguments, sealed into it.
	args any
	// limits are limits beyond the step's own that this submit must be
	// under and that it counts (the SSN's).
	limits []limitCheck
	// identity, if set, is the verification's identity as this step's
	// form changed it (a corrected address, a phone): stored, sealed, in
	// the transaction that begins the attempt.
	identity *idv.Applicant
	// keep, if set, stores what later pages need (the images) once the
	// attempt is allowed, before the job is enqueued.
	keep func(ctx context.Context) error
	// begun, if set, runs once the job is enqueued.
	begun func(ctx context.Context)
}

// show is a step's GET.
func (s *Server) show(st *step) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		as, err := s.state(ctx, st)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		switch as.Status {
		case idv.StatusInProgress:
			s.renderWait(w, r, st, as.Stage)
			return
		case idv.StatusDone:
			// A done result is read before any other check: the last
			// allowed attempt may just have succeeded.
			if err := s.attempts.End(ctx, st.Name); err != nil {
				s.fail(w, r, err)
				return
			}
			s.afterResult(w, r, st, as.Result)
			return
		}
		if !s.passedBefore(w, r, st) {
			return
		}
		flash := ""
		if as.Status == idv.StatusMissing {
			if err := s.attempts.End(ctx, st.Name); err != nil {
				s.fail(w, r, err)
				return
			}
			s.log.WarnContext(ctx, "proofing result missing", "step", st.Name, "capture_session", as.CS.ID)
			s.observe.ResultMissing(st.Name)
			flash = st.Missing
		}
		st.form(w, r, flash)
	}
}

// submit is a step's POST: check, count, enqueue, then send the person to
// the step's GET, which waits for the result.
func (s *Server) submit(st *step) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		// A resubmit (double click, back button) while an attempt is in
		// flight enqueues nothing: show the attempt in flight.
		if _, pending, err := s.attempts.Current(ctx, st.Name); err != nil {
			s.fail(w, r, err)
			return
		} else if pending {
			http.Redirect(w, r, st.Path, http.StatusSeeOther)
			return
		}
		if !s.passedBefore(w, r, st) {
			return
		}
		sub, ok := st.read(w, r)
		if !ok {
			return
		}
		own := limitCheck{Limit: st.Limit, Target: s.person(ctx)}
		if !s.allow(w, r, st, append([]limitCheck{own}, sub.limits...)) {
			return
		}
		if sub.keep != nil {
			if err := sub.keep(ctx); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		started, err := s.begin(ctx, st, sub)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if started && sub.begun != nil {
			sub.begun(ctx)
		}
		http.Redirect(w, r, st.Path, http.StatusSeeOther)
	}
}

// parseForm parses a POST's form; a body over its route's cap is answered
// with a 413 page, one that does not parse with a 400 page, and false.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	err := r.ParseForm()
	switch {
	case tooLarge(err):
		s.refuseTooLarge(w, r)
	case err != nil:
		s.fail(w, r, idv.Errorf(idv.EINVALID, "The form could not be read. Please try again."))
	}
	return err == nil
}

// passedBefore reports whether the step before st has passed; if not, it
// sends the person there.
func (s *Server) passedBefore(w http.ResponseWriter, r *http.Request, st *step) bool {
	if st.after == nil {
		return true
	}
	_, passed, err := s.attempts.Passed(r.Context(), st.after.Name)
	switch {
	case err != nil:
		s.fail(w, r, err)
	case !passed:
		http.Redirect(w, r, st.after.Path, http.StatusSeeOther)
	}
	return err == nil && passed
}

// attemptState is what the web tier knows about a step's current attempt.
type attemptState struct {
	Status idv.Status
	CS     idv.CaptureSession
	Result *idv.ProofingResult
	Stage  string // in progress: the check running, past the first
}

// state reads a step's attempt: no attempt in flight is none; one whose
// stored value is gone or unreadable is missing (the marker's 60 s TTL ran
// out); otherwise the stored status. It changes nothing, so the status
// endpoint can call it freely.
func (s *Server) state(ctx context.Context, st *step) (attemptState, error) {
	cs, ok, err := s.attempts.Current(ctx, st.Name)
	if err != nil {
		return attemptState{}, err
	}
	if !ok {
		return attemptState{Status: idv.StatusNone}, nil
	}
	missing := attemptState{Status: idv.StatusMissing, CS: cs}
	if cs.ResultID == "" {
		return missing, nil
	}
	r, err := s.results.Load(ctx, cs.ResultID)
	switch {
	case idv.ErrorCode(err) == idv.ENOTFOUND:
		return missing, nil
	case idv.ErrorCode(err) == idv.ETAMPERED:
		// Nobody can read it, so the attempt is lost: treat as missing and
		// tell operators, who should never see this.
		s.log.ErrorContext(ctx, "stored result does not open", "step", st.Name, "capture_session", cs.ID, "error", err.Error())
		return missing, nil
	case err != nil:
		return attemptState{}, err
	}
	if r.Status == idv.StatusDone && r.Result == nil {
		return missing, nil
	}
	return attemptState{Status: r.Status, CS: cs, Result: r.Result, Stage: r.Stage}, nil
}

// begin starts a new attempt of st: a new capture session and result id, the
// sealed in_progress marker (written first, so a fast worker's result is
// never overwritten by it), then the job. args is sealed into the job.
// started is false when another attempt was already in flight.
func (s *Server) begin(ctx context.Context, st *step, sub submission) (started bool, err error) {
	var identity []byte
	if sub.identity != nil {
		if identity, err = s.sealIdentity(ctx, verificationOf(ctx), *sub.identity); err != nil {
			return false, err
		}
	}
	plain, err := json.Marshal(sub.args)
	if err != nil {
		return false, idv.WrapError(idv.EINTERNAL, "encode job arguments", err)
	}
	now := s.now()
	cs := idv.CaptureSession{ID: idv.NewID(), ResultID: idv.NewID(), Kind: st.Kind, RequestedAt: now}
	sealed, err := s.sealer.Seal(ctx, plain, idv.JobAAD(st.Kind, cs.ResultID))
	if err != nil {
		return false, err
	}
	if err := s.results.Store(ctx, cs.ResultID, idv.AsyncResult{Status: idv.StatusInProgress}); err != nil {
		return false, err
	}
	job := idv.Job{Kind: st.Kind, ResultID: cs.ResultID, TraceID: traceID(ctx), EnqueuedAt: now, EncryptedArguments: sealed}
	if started, err = s.attempts.Begin(ctx, st.Name, cs, job, identity); err != nil || !started {
		return started, err
	}
	s.log.InfoContext(ctx, "job enqueued", slog.String("kind", string(st.Kind)), slog.String("capture_session", cs.ID), slog.String("trace_id", job.TraceID))
	return true, nil
}

// afterResult sends the person on from a done result. Only this server-side
// result decides whether the step is complete.
func (s *Server) afterResult(w http.ResponseWriter, r *http.Request, st *step, res *idv.ProofingResult) {
	ctx := r.Context()
	if st.done != nil {
		var err error
		if res, err = st.done(ctx, res); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.log.InfoContext(ctx, "proofing result read", "step", st.Name, "outcome", string(res.Outcome))
	s.observe.ResultRead(st.Name, string(res.Outcome))
	if res.Outcome.Verdict() {
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
			s.redirectOutcome(w, r, "failure", st)
			return
		}
	}
	switch res.Outcome {
	case idv.OutcomeSuccess:
		p := passedStep{Outcome: res.Outcome, Stages: res.Stages, At: res.FinishedAt}
		if err := s.attempts.Pass(ctx, st.Name, p); err != nil {
			s.fail(w, r, err)
			return
		}
		http.Redirect(w, r, st.Next, http.StatusSeeOther)
	case idv.OutcomeTimedOut:
		s.redirectOutcome(w, r, "timeout", st)
	case idv.OutcomeException:
		s.redirectOutcome(w, r, "exception", st)
	default:
		s.redirectOutcome(w, r, "warning", st)
	}
}

// check is one check of a step's job as the waiting page names it.
type check struct {
	Stage string // the job's stage name ("" for the first)
	Text  string // what the page says while it runs
}

// waitData is the wait template's data.
type waitData struct {
	Heading    string
	Path       string // where the page goes once the status changes
	StatusPath string
	Checks     []check
	Current    int // index in Checks of the check running
}

// currentCheck is the index of the check running at stage: the first until
// the job says otherwise.
func currentCheck(checks []check, stage string) int {
	for i, c := range checks {
		if c.Stage == stage && stage != "" {
			return i
		}
	}
	return 0
}

func (s *Server) renderWait(w http.ResponseWriter, r *http.Request, st *step, stage string) {
	s.render(w, r, http.StatusOK, "wait", page{
		Title:   st.Waiting,
		Refresh: int(s.cfg.WaitRefresh.Round(time.Second) / time.Second),
		Step:    s.stepIndicator(r.Context(), st),
		Data: waitData{Heading: st.Waiting, Path: st.Path, StatusPath: st.Path + "/status",
			Checks: st.Checks, Current: currentCheck(st.Checks, stage)},
	})
}
