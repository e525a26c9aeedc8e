package web

import (
	"context"
	"net/http"
	"slices"

	"github.com/idv-dev/idv"
)

// The flow a person goes through (DESIGN.md section 1): the start page,
// the steps in order, the result page (outcomes.go) and starting over.

// resultPath is where the last step sends the person.
const resultPath = "/verify/result"

// newFlow lists the steps in order: document capture (when configured),
// verify_info, phone. Each step may be taken once the one before it passed,
// and sends the person on to the next.
func (s *Server) newFlow() []*step {
	var flow []*step
	if s.docs != nil {
		flow = append(flow, s.documentStep())
	}
	flow = append(flow, s.verifyInfoStep(), s.phoneStep())
	for i, st := range flow {
		st.Next = resultPath
		if i > 0 {
			st.after = flow[i-1]
		}
		if i+1 < len(flow) {
			st.Next = flow[i+1].Path
		}
	}
	return flow
}

// step returns the flow's step of that name, or nil.
func (s *Server) step(name string) *step {
	if i := slices.IndexFunc(s.flow, func(st *step) bool { return st.Name == name }); i >= 0 {
		return s.flow[i]
	}
	return nil
}

// startData is the start page's data.
type startData struct {
	// Next is the first step not yet passed; empty when no verification is
	// bound (then SelfServe says whether the page may start one).
	Next      string
	SelfServe bool
	Documents bool
	Phone     bool
	RPName    string
	// Steps are the person's steps, in order, as the step indicator
	// counts them ("Step 2 of 3").
	Steps []string
}

// personSteps are the steps of the flow that v has, in order (all of them
// when v is the zero Verification: no verification bound).
func (s *Server) personSteps(v idv.Verification) []*step {
	var out []*step
	for _, st := range s.flow {
		if _, has := v.Step(stepName(st.Name)); has || v.ID == "" {
			out = append(out, st)
		}
	}
	return out
}

// stepIndicator is st's place among the person's steps.
func (s *Server) stepIndicator(ctx context.Context, st *step) stepPosition {
	steps := s.personSteps(verificationOf(ctx))
	i := slices.Index(steps, st)
	if i < 0 {
		return stepPosition{}
	}
	return stepPosition{N: i + 1, Of: len(steps), Title: st.Title}
}

// serveStart is the front door: for a bound verification, what will happen
// and a button into its first step not yet passed; without one, where a
// flow begins (a relying party's link), or in `idv dev` a button that
// starts one.
func (s *Server) serveStart(w http.ResponseWriter, r *http.Request) {
	r, v, ok, err := s.bound(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := startData{SelfServe: s.selfServeStart != nil, Documents: s.docs != nil, Phone: true}
	if ok {
		if v.Status.Final() {
			http.Redirect(w, r, resultPath, http.StatusSeeOther)
			return
		}
		_, d.Documents = v.Step(idv.StepDocument)
		_, d.Phone = v.Step(idv.StepPhone)
		d.Next = resultPath
		for _, st := range s.flow {
			if rec, has := v.Step(stepName(st.Name)); has && rec.Status != idv.StepPassed {
				d.Next = st.Path
				break
			}
		}
		if rp, err := s.verifications.RelyingParty(r.Context(), v.RelyingPartyID); err == nil {
			d.RPName = rp.Name
		}
		for _, st := range s.personSteps(v) {
			d.Steps = append(d.Steps, st.Name)
		}
	}
	s.render(w, r, http.StatusOK, "start", page{Title: "Verify your identity", Data: d})
}

func (s *Server) startOver(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.fail(w, r, idv.WrapError(idv.EUNAVAILABLE, "session store unavailable", err))
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
