package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/internal/testenv/flow"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/seal"
)

// The benchmarks' people belong to verifications, as in production: a
// relying party created by the operators' code (app.Admin, as `idv rp
// create` does: API key hashed, webhook secret sealed) made them, and each
// person enters through their verification's single-use link. Setup never
// falls inside a measured window: the verifications are created before it,
// through the store in bulk (the API's per-relying-party request limit is
// for relying parties, not for filling a benchmark; B5 measures the API).

// benchReturnURL is the relying party's registered return URL; nobody
// follows it.
const benchReturnURL = "http://127.0.0.1/bench-return"

// newRelyingParty creates a relying party on q, with a webhook to
// webhookURL when it is not empty (plain http on loopback is allowed, as
// with verifications.webhooks_allow_insecure), and returns its secrets.
func newRelyingParty(ctx context.Context, cfg config.Config, q *queue.Queue, sealer *seal.Envelope, webhookURL string) (app.CreatedRelyingParty, error) {
	a := &app.Admin{Config: cfg, Queue: q, Sealer: sealer} // not closed: q is the caller's
	return a.CreateRelyingParty(ctx, app.NewRelyingParty{Name: "idv bench", ReturnURLs: []string{benchReturnURL},
		WebhookURL: webhookURL, Insecure: true})
}

// stepAttempts is each step's attempts, as the API gives them by default.
var stepAttempts = map[idv.StepName]int{
	idv.StepDocument: ratelimit.IDVDocAuth.Max,
	idv.StepIdentity: ratelimit.IDVResolution.Max,
	idv.StepPhone:    ratelimit.ProofAddress.Max,
}

// newVerification is verification i of rp with steps, unfinished, as the
// API would create it (a client_reference_id of its own, so the per-end-user
// limit never trips).
func newVerification(rpID, tag string, i int, steps []idv.StepName) idv.Verification {
	now := time.Now().UTC()
	v := idv.Verification{ID: "vrf_" + idv.NewID(), RelyingPartyID: rpID, ClientReferenceID: fmt.Sprintf("bench-%s-%d", tag, i),
		ReturnURL: benchReturnURL, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	for _, s := range steps {
		v.Steps = append(v.Steps, idv.StepRecord{Step: s, MaxAttempts: stepAttempts[s]})
	}
	return v
}

// benchLink is a verification and the token of its link.
type benchLink struct {
	verificationID, token string
}

// newLinks creates n verifications of rpID with steps, each with its link,
// through the store from several goroutines, and returns the links.
func newLinks(ctx context.Context, q *queue.Queue, rpID, tag string, steps []idv.StepName, n int) ([]benchLink, error) {
	links := make([]benchLink, n)
	err := parallel(ctx, n, 8, func(i int) error {
		token, hash := idv.NewToken(idv.LinkTokenPrefix)
		v := newVerification(rpID, tag, i, steps)
		v, _, _, err := q.CreateVerificationWithLink(ctx, queue.NewVerification{Verification: v},
			queue.NewLink{TokenHash: hash, ExpiresAt: v.ExpiresAt})
		links[i] = benchLink{verificationID: v.ID, token: token}
		return err
	})
	return links, err
}

// followLink is the person opening their link: it binds a new session to
// the verification and sends them to the start page.
func followLink(ctx context.Context, p *flow.Person, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Base+"/start/"+token, nil)
	if err != nil {
		return err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		return fmt.Errorf("link: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return nil
}

// boundPeople makes n people with their own cookie jars, each bound to a
// verification of rpID with steps through its link; tag keeps their
// client_reference_ids apart from other groups'.
func boundPeople(ctx context.Context, st *stack, rpID, tag string, steps []idv.StepName, n int, tr http.RoundTripper) ([]*flow.Person, error) {
	links, err := newLinks(ctx, st.queue, rpID, tag, steps, n)
	if err != nil {
		return nil, fmt.Errorf("creating verifications: %w", err)
	}
	people := make([]*flow.Person, n)
	err = parallel(ctx, n, 16, func(i int) error {
		people[i] = flow.New(st.base, tr)
		return followLink(ctx, people[i], links[i].token)
	})
	if err != nil {
		return nil, fmt.Errorf("following links: %w", err)
	}
	return people, nil
}

// parallel runs f(0..n-1) on at most workers goroutines and returns the
// first error (the rest stop taking work).
func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
