package main

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idv-dev/idv/internal/testenv/flow"
)

// person is one browser (the shared flow.Person) whose transport errors
// and unexpected answers fail the test.
type person struct {
	*flow.Person
	t *testing.T
	// verification is the id of the verification a relying party sent
	// the person for (relyingParty.person).
	verification string
}

// newPerson is a browser that has not been sent by anyone yet: its step
// pages send it to the start page. relyingParty.person and devPerson give
// one a verification.
func newPerson(t *testing.T, base string) *person {
	return &person{Person: flow.New(base, nil), t: t}
}

// relyingParty is the service that sends people to one deployment: created
// once with `idv rp create`, as an operator does, it creates a verification
// per person through the API (POST /v1/verifications with its key) and
// sends the person to its link.
type relyingParty struct {
	*flow.RP
	steps []string // asked of every verification; nil is the API's default (all)
	next  atomic.Int64
}

// Steps of a verification on a deployment without the document step.
var stepsWithoutDocument = []string{"identity", "phone"}

var apiKeyRE = regexp.MustCompile(`(?m)^api_key: (\S+)$`)

// newRP creates a relying party with `idv rp create` on the deployment env
// configures, whose web tier is at base.
func newRP(t *testing.T, env []string, base string, steps []string) *relyingParty {
	t.Helper()
	out := run1(t, env, "rp", "create", "--name", "Test Service", "--return-url", "https://rp.test/done")
	m := apiKeyRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("idv rp create printed no api_key:\n%s", out)
	}
	return &relyingParty{RP: flow.NewRP(base, m[1], nil), steps: steps}
}

// person creates a verification for a new person (their own
// client_reference_id, so per-person limits start fresh) and sends the
// person through its link: the person is then at the verification's first
// step.
func (rp *relyingParty) person(t *testing.T) *person {
	t.Helper()
	p, err := rp.tryPerson(t)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tryPerson is person for goroutines and outages: errors are returned.
func (rp *relyingParty) tryPerson(t *testing.T) (*person, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := rp.Create(ctx, flow.NewVerification{ClientReferenceID: fmt.Sprintf("person-%d", rp.next.Add(1)), Steps: rp.steps})
	if err != nil {
		return nil, err
	}
	p := newPerson(t, rp.Base)
	p.verification = v.ID
	if _, err := p.Start(ctx, v.URL); err != nil {
		return nil, err
	}
	return p, nil
}

// devPerson starts a verification on `idv dev` with its self-serve start,
// as a person who opens the development server does.
func devPerson(t *testing.T, base string) *person {
	t.Helper()
	p := newPerson(t, base)
	if _, err := p.SelfServe(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
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

// canaryIDNumber is an ID number of person i of a test (a canary too): the
// ID number attempt limit counts per number, across verifications.
func canaryIDNumber(test, i int) string { return fmt.Sprintf("CANARYID77-%02d-%04d", test, i) }

var canaries = []string{"Quuxcanarylast", "Zyzzyvacanary", "Plughcanaryville", "Xylocanary", "Timecanary", "Failcanary", "Badcanary",
	"900-41-7723", "900417723", "1971-03-17", "CANARYID77", "mvatimeout", "7035550199"}
