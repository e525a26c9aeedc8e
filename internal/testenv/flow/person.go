// Package flow is a person's browser walking idv's flow over HTTP: a cookie
// jar, redirects seen one at a time, the link a relying party sent, the form
// posts and the waiting page's long polls; and the relying party that sent
// the person (rp.go), calling the API as a service would. The end-to-end and
// fault tests and `idv bench` drive the web tier with it. It imports no
// testing package, so the benchmarks in the idv binary can use it; tests
// turn its errors into failures.
package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// What the step page shows once the attempt ended, when it is not a
// redirect to an outcome page (Outcome).
const (
	// Missing is the "taking longer than usual" form: no result arrived.
	Missing = "missing"
	// Form is the step's empty form: the attempt is gone, the session is
	// not.
	Form = "form"
	// Lost is a redirect to the start page: the session that held the
	// verification is gone (a new session is bound to none).
	Lost = "lost"
)

// statusInProgress is idv.StatusInProgress as the status endpoint says it.
const statusInProgress = "in_progress"

// Person is one person's browser. Client keeps the cookies; Base is the web
// tier's http://host:port, which a test may point at another web server
// (the cookies go along).
type Person struct {
	Base   string
	Client *http.Client
}

// New returns a person with an empty cookie jar who does not follow
// redirects, so each step's answer is seen. tr nil is
// http.DefaultTransport.
func New(base string, tr http.RoundTripper) *Person {
	jar, _ := cookiejar.New(nil)
	return &Person{Base: base, Client: &http.Client{
		Transport: tr, Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Response is one answer, read whole.
type Response struct {
	Code     int
	Location string
	Body     []byte
}

// Do sends one request, a form POST when form is set, and reads the answer.
// An error is a transport error: HTTP error statuses are answers.
func (p *Person) Do(ctx context.Context, method, path string, form url.Values) (Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, p.Base+path, body)
	if err != nil {
		return Response{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return Response{Code: resp.StatusCode, Location: resp.Header.Get("Location"), Body: b}, err
}

// startButtonRE is the start page's way into the first step not yet
// passed.
var startButtonRE = regexp.MustCompile(`<a class="button" href="(/verify/[^"]+)">`)

// Start follows a relying party's link as the person's browser does: the
// link binds a fresh session to its verification and leads to the start
// page, whose button goes to the first step not yet passed. It returns that
// step's path. The link names idv's public URL; it is followed on Base,
// which is the same server seen from the test (public_url may be a name the
// test's loopback server does not have).
func (p *Person) Start(ctx context.Context, link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(u.Path, "/start/") {
		return "", fmt.Errorf("start: %q is not a person's link", link)
	}
	r, err := p.Do(ctx, http.MethodGet, u.RequestURI(), nil)
	if err != nil {
		return "", err
	}
	if r.Code != http.StatusSeeOther || r.Location != "/" {
		return "", fmt.Errorf("start: the link answered HTTP %d to %q, want a redirect to /", r.Code, r.Location)
	}
	return p.firstStep(ctx)
}

// SelfServe starts a verification without a relying party, as `idv dev`'s
// start page lets a person do, and returns the first step's path.
func (p *Person) SelfServe(ctx context.Context) (string, error) {
	r, err := p.Do(ctx, http.MethodPost, "/start", url.Values{})
	if err != nil {
		return "", err
	}
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/verify/") {
		return "", fmt.Errorf("self-serve start: HTTP %d to %q, want a redirect to a step", r.Code, r.Location)
	}
	return r.Location, nil
}

// firstStep reads the start page of a bound session and returns where its
// button leads.
func (p *Person) firstStep(ctx context.Context) (string, error) {
	r, err := p.Do(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return "", err
	}
	m := startButtonRE.FindSubmatch(r.Body)
	if r.Code != http.StatusOK || m == nil {
		return "", fmt.Errorf("start page: HTTP %d without a button into a step", r.Code)
	}
	return string(m[1]), nil
}

// Submit posts a step's form and expects the redirect back to the step's
// page (the waiting page): the attempt was enqueued.
func (p *Person) Submit(ctx context.Context, path string, form url.Values) error {
	r, err := p.Do(ctx, http.MethodPost, path, form)
	if err != nil {
		return err
	}
	if r.Code != http.StatusSeeOther || r.Location != path {
		return fmt.Errorf("submit %s: HTTP %d to %q", path, r.Code, r.Location)
	}
	return nil
}

// Page loads a step's page after a submit, as the browser does: the waiting
// page (waiting true) or, when the result is already there, the redirect
// onwards (next).
func (p *Person) Page(ctx context.Context, path string) (waiting bool, next string, err error) {
	r, err := p.Do(ctx, http.MethodGet, path, nil)
	switch {
	case err != nil:
		return false, "", err
	case r.Code == http.StatusOK && strings.Contains(string(r.Body), "data-status-url"):
		return true, "", nil
	case r.Code == http.StatusSeeOther:
		return false, r.Location, nil
	}
	return false, "", fmt.Errorf("step page %s: HTTP %d, neither waiting page nor redirect", path, r.Code)
}

// Status asks a step's status endpoint once (a long poll while the attempt
// is in progress) and returns the status.
func (p *Person) Status(ctx context.Context, path string) (string, error) {
	r, err := p.Do(ctx, http.MethodGet, path+"/status", nil)
	if err != nil {
		return "", err
	}
	var s struct{ Status string }
	if err := json.Unmarshal(r.Body, &s); err != nil || r.Code != http.StatusOK {
		return "", fmt.Errorf("status %s: HTTP %d", path, r.Code)
	}
	return s.Status, nil
}

// Wait long-polls a step's status endpoint, as the waiting page's script
// does, until the attempt is no longer in progress, and returns its status.
func (p *Person) Wait(ctx context.Context, path string) (string, error) {
	for {
		s, err := p.Status(ctx, path)
		if err != nil || s != statusInProgress {
			return s, err
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
	}
}

// Outcome reads a step's page once its attempt ended and says where it
// leads: the redirect's Location (an outcome page or the next step),
// Missing, Form or Lost. Any other answer, the waiting page included, is
// an error. Errors never quote a page: pages hold what the person typed.
func (p *Person) Outcome(ctx context.Context, path string) (string, error) {
	r, err := p.Do(ctx, http.MethodGet, path, nil)
	switch {
	case err != nil:
		return "", err
	case r.Code == http.StatusSeeOther && r.Location == "/":
		return Lost, nil
	case r.Code == http.StatusSeeOther:
		return r.Location, nil
	case r.Code == http.StatusOK && strings.Contains(string(r.Body), "taking longer than usual"):
		return Missing, nil
	case r.Code == http.StatusOK && !strings.Contains(string(r.Body), `http-equiv="refresh"`):
		return Form, nil
	}
	return "", fmt.Errorf("step page %s after the result: HTTP %d, neither redirect nor form", path, r.Code)
}
