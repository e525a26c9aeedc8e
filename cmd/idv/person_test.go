package main

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/idv-dev/idv/internal/testenv/flow"
)

// person is one browser (the shared flow.Person) whose transport errors
// and unexpected answers fail the test.
type person struct {
	*flow.Person
	t *testing.T
}

func newPerson(t *testing.T, base string) *person {
	return &person{Person: flow.New(base, nil), t: t}
}

// do sends one request and returns the status, Location and body.
func (p *person) do(method, path string, form url.Values) (int, string, string) {
	p.t.Helper()
	r, err := p.Do(context.Background(), method, path, form)
	if err != nil {
		p.t.Fatal(err)
	}
	return r.Code, r.Location, string(r.Body)
}

// verify submits the verify_info form and waits as the page's script does;
// it returns where the step sends the person once the result is read.
func (p *person) verify(form url.Values) string {
	p.t.Helper()
	return p.step("/verify/verify_info", form)
}

// step submits form to a step's path and waits for its result.
func (p *person) step(path string, form url.Values) string {
	p.t.Helper()
	if code, loc, body := p.do("POST", path, form); code != 303 || loc != path {
		p.t.Fatalf("submit: %d %q %.300s", code, loc, body)
	}
	return p.waitStep(path)
}

// waitStep waits (at most 90 s), as the waiting page does, for a submitted
// step's result and returns where the step then sends the person
// (flow.Missing for the "taking longer than usual" form).
func (p *person) waitStep(path string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, _ = p.Wait(ctx, path) // a failed poll shows in the page read next
	got, err := p.Outcome(context.Background(), path)
	if err != nil {
		p.t.Fatal(err)
	}
	return got
}

// Canary PII: distinctive values that must never appear in plaintext in any
// store or log.
func canaryForm(first, ssn, zip, stateID string) url.Values {
	return url.Values{
		"first_name": {first}, "last_name": {"Quuxcanarylast"}, "dob": {"1971-03-17"}, "ssn": {ssn},
		"address1": {"4417 Zyzzyvacanary Lane"}, "city": {"Plughcanaryville"}, "state": {"VA"}, "zipcode": {zip},
		"state_id_number": {stateID}, "state_id_jurisdiction": {"VA"},
	}
}

var canaries = []string{"Quuxcanarylast", "Zyzzyvacanary", "Plughcanaryville", "Xylocanary", "Timecanary", "Failcanary", "Badcanary",
	"900-41-7723", "900417723", "1971-03-17", "CANARYID77", "mvatimeout", "7035550199"}
