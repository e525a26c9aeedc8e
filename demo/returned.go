package demo

import (
	"net/http"
	"regexp"
	"slices"
)

// verificationIDPattern is the shape of idv's verification ids; anything
// else in the query is refused before it reaches a URL.
var verificationIDPattern = regexp.MustCompile(`^vrf_[A-Za-z0-9_-]{1,64}$`)

// returnData is the return page: what the demo learned, with no PII.
type returnData struct {
	ID           string
	Verification verification
	Events       []event
	Receipt      *receiptCheck // nil until the verification is final
	Waiting      bool          // not final yet, or its final event not received
	Problem      string
}

// serveReturn is where idv sends the person back (the demo's registered
// return URL): it fetches the verification through the API, shows its
// status and steps, the webhook events received for it and its checked
// receipt. Until the verification ended and its final event arrived the
// page refreshes itself (a meta refresh: no script).
func (a *App) serveReturn(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("verification_id")
	if !verificationIDPattern.MatchString(id) {
		a.render(w, http.StatusBadRequest, "return.html", page{Title: "Back at the demo service",
			Data: returnData{Problem: "This page needs a verification_id from idv."}})
		return
	}
	d := returnData{ID: id}
	v, err := a.api.get(r.Context(), id)
	if err != nil {
		d.Problem = err.Error()
		a.render(w, http.StatusBadGateway, "return.html", page{Title: "Back at the demo service", Data: d})
		return
	}
	d.Verification, d.Events = v, a.events.of(id)
	if v.Final() && v.Receipt != "" {
		rc := a.receipts.check(r.Context(), v.Receipt, id)
		d.Receipt = &rc
	}
	finalEvent := slices.ContainsFunc(d.Events, func(e event) bool { return e.Status == v.Status })
	d.Waiting = !v.Final() || !finalEvent
	p := page{Title: "Back at the demo service", Data: d}
	if d.Waiting {
		p.Refresh = 2
	}
	a.render(w, http.StatusOK, "return.html", p)
}
