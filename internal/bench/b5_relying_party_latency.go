package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/testenv/flow"
)

// B5, relying-party latency: what a relying party sees, through the real
// API and the real webhooks. With zero-latency vendors:
//
//  1. The relying party creates verifications through the API over HTTP
//     (POST /v1/verifications with its API key), from several clients at
//     once as fast as the API answers: verifications created per second.
//     The API's per-relying-party request limit
//     (verifications.api_requests_per_minute) is raised for the run, so the
//     rate is the API's, not the limit's.
//  2. People arrive at a fixed rate (open loop), each following the link of
//     one of those verifications with their own cookie jar and walking its
//     steps (identity, then phone) through the HTTP flow as B2's do.
//  3. The relying party's webhook receiver, on loopback, checks each
//     delivery's Standard Webhooks signature with the secret `idv rp
//     create` would have printed, and notes when it arrived.
//
// Reported: webhook received - the state change (the event's created_at,
// the time of the transaction that changed the status and wrote the event),
// for every event and for verification.verified alone, and webhook received
// - the person's submit of the last step, for verification.verified. And
// where the time goes: the delivery job's wait for River's fetch of the
// webhooks queue, and the delivery itself.

// b5Receipt is one webhook the receiver accepted.
type b5Receipt struct {
	eventID, typ, verificationID string
	at                           time.Time
}

// b5Receiver is the relying party's webhook endpoint.
type b5Receiver struct {
	wh *standardwebhooks.Webhook
	mu sync.Mutex
	// got is every delivery with a valid signature, in arrival order;
	// seen the event ids among them, to count duplicates.
	got        []b5Receipt
	seen       map[string]bool
	duplicates int
	badSig     atomic.Int64
	// verified hears of each first verification.verified delivery.
	verified chan struct{}
}

func (rc *b5Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := rc.wh.Verify(body, r.Header); err != nil {
		rc.badSig.Add(1)
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			VerificationID string `json:"verification_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "body", http.StatusBadRequest)
		return
	}
	id := r.Header.Get(standardwebhooks.HeaderWebhookID)
	rc.mu.Lock()
	first := !rc.seen[id]
	if first {
		rc.seen[id] = true
		rc.got = append(rc.got, b5Receipt{eventID: id, typ: ev.Type, verificationID: ev.Data.VerificationID, at: at})
	} else {
		rc.duplicates++
	}
	rc.mu.Unlock()
	if first && ev.Type == "verification.verified" {
		rc.verified <- struct{}{}
	}
	w.WriteHeader(http.StatusNoContent)
}

// b5Person is one person's walk.
type b5Person struct {
	verificationID string
	lastSubmit     time.Time // when the POST of the last step began
	done           bool      // the result page was reached
	err            error
}

// b5Created is one verification the API created.
type b5Created struct {
	id, token string
}

func benchRelyingPartyLatency(ctx context.Context, env *env, o Settings) (*Result, error) {
	persons := b5People(o)
	steps := []idv.StepName{idv.StepIdentity}
	if o.B5Phone {
		steps = append(steps, idv.StepPhone)
	}
	res := &Result{Params: map[string]any{
		"creates": o.B5Creates, "api_clients": o.B5APIClients, "rate_per_s": o.B5Rate, "duration": o.B5Duration.String(),
		"persons": persons, "steps": steps, "vendor_latency": "0s",
	}}
	if persons < 1 || persons > o.B5Creates {
		return res, fmt.Errorf("--b5-rate x --b5-duration gives %d people: want 1 to --b5-creates (%d)", persons, o.B5Creates)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute+o.B5Duration+idv.ResultTTL)
	defer cancel()

	// The relying party's receiver listens first: its URL is registered
	// with the relying party.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	rc := &b5Receiver{seen: map[string]bool{}, verified: make(chan struct{}, persons+o.B5Creates)}
	receiver := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = receiver.Serve(ln) }()
	defer receiver.Close()

	st, err := startStack(ctx, env, "b5", 0, env.cfg.Jobs.Workers.ResolutionProofing, func(c *config.Config) {
		c.Verifications.WebhooksAllowInsecure = true // the receiver is http on loopback
		c.Verifications.APIRequestsPerMinute = 10_000_000
	})
	if err != nil {
		return res, err
	}
	defer st.close()
	rp, err := newRelyingParty(ctx, st.cfg, st.queue, env.sealer, "http://"+ln.Addr().String()+"/webhooks")
	if err != nil {
		return res, err
	}
	if rc.wh, err = standardwebhooks.NewWebhook(rp.WebhookSecret); err != nil {
		return res, err
	}

	// 1. Creates through the API, after a few to warm up.
	api := transport(o.B5APIClients)
	defer api.CloseIdleConnections()
	client := &http.Client{Transport: api, Timeout: 30 * time.Second}
	create := func(ref string) (b5Created, error) {
		return b5Create(ctx, client, st.base, rp.APIKey, ref, steps)
	}
	for i := range min(o.B5APIClients, 10) {
		if _, err := create(fmt.Sprintf("b5-warm-%d", i)); err != nil {
			return res, fmt.Errorf("API create: %w", err)
		}
	}
	created := make([]b5Created, o.B5Creates)
	lat := make([]time.Duration, o.B5Creates)
	start := time.Now()
	err = parallel(ctx, o.B5Creates, o.B5APIClients, func(i int) error {
		t := time.Now()
		var err error
		created[i], err = create(fmt.Sprintf("b5-%d", i))
		lat[i] = time.Since(t)
		return err
	})
	createSpan := time.Since(start)
	if err != nil {
		return res, fmt.Errorf("API create: %w", err)
	}
	slices.Sort(lat)
	createRate := float64(o.B5Creates) / createSpan.Seconds()
	res.metric("verifications created through the API", createRate, "verifications/s")
	res.metric("API create latency p50", ms(percentile(lat, 50)), "ms")
	res.metric("API create latency p99", ms(percentile(lat, 99)), "ms")

	// 2. People walk their verifications, arriving at a fixed rate.
	tr := transport(0)
	defer tr.CloseIdleConnections()
	walks := make([]b5Person, persons)
	var wg sync.WaitGroup
	openLoop(ctx, &wg, time.Now().Add(50*time.Millisecond), persons, o.B5Rate, func(i int, _ time.Time) {
		walks[i] = b5Walk(ctx, flow.New(st.base, tr), created[i], i, o.B5Phone)
	})
	wg.Wait()

	// 3. Every verified person's webhook, within a bound: deliveries wait
	// for River's fetch of the webhooks queue, and a delivery whose
	// earlier event is still undelivered waits 5 s (in order per
	// verification).
	verified, walkErrs := 0, 0
	var firstErr error
	for _, w := range walks {
		switch {
		case w.err != nil:
			walkErrs++
			firstErr = cmp.Or(firstErr, w.err)
		case w.done:
			verified++
		}
	}
	wait := time.NewTimer(time.Minute)
	defer wait.Stop()
	for n := 0; n < verified; n++ {
		select {
		case <-rc.verified:
		case <-wait.C:
			n = verified
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}

	rc.mu.Lock()
	got := slices.Clone(rc.got)
	dups := rc.duplicates
	rc.mu.Unlock()
	events, err := b5Events(ctx, env, st.schema)
	if err != nil {
		return res, err
	}
	submits := map[string]time.Time{}
	for _, w := range walks {
		if w.done {
			submits[w.verificationID] = w.lastSubmit
		}
	}
	var sinceChange, sinceChangeVerified, sinceSubmit, pickup, delivery, unheld []time.Duration
	receivedVerified, held := 0, 0
	for _, g := range got {
		ev, ok := events[g.eventID]
		if !ok {
			continue
		}
		sinceChange = append(sinceChange, g.at.Sub(ev.created))
		if ev.snoozes > 0 {
			held++
		} else {
			unheld = append(unheld, g.at.Sub(ev.created))
		}
		if !ev.attempted.IsZero() {
			pickup = append(pickup, ev.attempted.Sub(ev.created))
			delivery = append(delivery, g.at.Sub(ev.attempted))
		}
		if g.typ == "verification.verified" {
			sinceChangeVerified = append(sinceChangeVerified, g.at.Sub(ev.created))
			if s, ok := submits[g.verificationID]; ok {
				sinceSubmit = append(sinceSubmit, g.at.Sub(s))
				receivedVerified++
			}
		}
	}
	for _, d := range [][]time.Duration{sinceChange, sinceChangeVerified, sinceSubmit, pickup, delivery, unheld} {
		slices.Sort(d)
	}
	res.metric("people", float64(persons), "people")
	res.metric("verified (result page reached)", float64(verified), "people")
	res.metric("verification.verified webhooks received", float64(receivedVerified), "webhooks")
	res.metric("webhooks received (all events)", float64(len(got)), "webhooks")
	res.metric("webhook received - state change p50", ms(percentile(sinceChange, 50)), "ms")
	res.metric("webhook received - state change p99", ms(percentile(sinceChange, 99)), "ms")
	res.metric("webhook received - state change max", ms(percentile(sinceChange, 100)), "ms")
	res.metric("verified: webhook received - state change p50", ms(percentile(sinceChangeVerified, 50)), "ms")
	res.metric("verified: webhook received - state change p99", ms(percentile(sinceChangeVerified, 99)), "ms")
	res.metric("verified: webhook received - submit p50", ms(percentile(sinceSubmit, 50)), "ms")
	res.metric("verified: webhook received - submit p99", ms(percentile(sinceSubmit, 99)), "ms")
	res.metric("delivery job pickup (state change to job start) p50", ms(percentile(pickup, 50)), "ms")
	res.metric("delivery job pickup (state change to job start) p99", ms(percentile(pickup, 99)), "ms")
	res.metric("delivery (job start to received) p50", ms(percentile(delivery, 50)), "ms")
	res.metric("delivery (job start to received) p99", ms(percentile(delivery, 99)), "ms")
	res.metric("deliveries held behind an earlier undelivered event (snoozed)", float64(held), "webhooks")
	res.metric("not held: webhook received - state change p50", ms(percentile(unheld, 50)), "ms")
	res.metric("not held: webhook received - state change p99", ms(percentile(unheld, 99)), "ms")
	res.metric("duplicate deliveries", float64(dups), "")
	res.metric("bad signatures", float64(rc.badSig.Load()), "")
	p99 := percentile(sinceChange, 99)
	res.Target = &Target{Text: "p99 (webhook received - state change) <= 50 ms, every verified person's webhook received",
		Met: p99 <= 50*time.Millisecond && receivedVerified == persons && walkErrs == 0}
	res.note("creates: %d verifications (steps %v) through POST /v1/verifications over HTTP by %d concurrent clients on keep-alive connections, in %.2f s, "+
		"verifications.api_requests_per_minute raised to 10,000,000 for the run (default 600); each with its own client_reference_id",
		o.B5Creates, steps, o.B5APIClients, createSpan.Seconds())
	res.note("people: %d arrivals at %d/s, each following one created verification's link with their own cookie jar and walking %v through the HTTP flow (zero-latency vendors); "+
		"events per person: processing, then requires_input and processing again between steps, then verified; each is one webhook", persons, o.B5Rate, steps)
	res.note("state change = idv_webhook_events.created_at (the time of the transaction that moved the status and wrote the event); submit = the start of the POST of the last step; " +
		"received = the receiver's handler called, before the Standard Webhooks signature check; delivery job start = river_job.attempted_at of its last attempt (PostgreSQL's clock, same machine): a delivery snoozed behind an earlier undelivered event of its verification counts its wait in the pickup")
	res.note("held: a delivery job that found an earlier event of its verification undelivered and snoozed (River's metadata.snoozes > 0; queue/webhooks.go keeps " +
		"each verification's events in order that way); \"not held\" are the others, shown to tell the in-order wait from the rest of the path, not in place of the headline")
	res.note("the receiver answers 204 to each delivery with a valid signature (the secret as `idv rp create` prints it); webhooks go straight to it (no egress proxy)")
	if walkErrs > 0 {
		res.note("%d people failed; first error: %v", walkErrs, firstErr)
		return res, fmt.Errorf("%d of %d people failed: %v", walkErrs, persons, firstErr)
	}
	if receivedVerified < verified || rc.badSig.Load() > 0 {
		return res, fmt.Errorf("%d of %d verified people's webhooks received, %d bad signatures", receivedVerified, verified, rc.badSig.Load())
	}
	return res, nil
}

// b5Create is one POST /v1/verifications and its link's token.
func b5Create(ctx context.Context, c *http.Client, base, apiKey, ref string, steps []idv.StepName) (b5Created, error) {
	body, _ := json.Marshal(map[string]any{"client_reference_id": ref, "steps": steps})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/verifications", bytes.NewReader(body))
	if err != nil {
		return b5Created{}, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return b5Created{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return b5Created{}, err
	}
	if resp.StatusCode != http.StatusCreated {
		return b5Created{}, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
	}
	var v struct {
		ID  string `json:"id"`
		URL string `json:"url"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return b5Created{}, err
	}
	// The link's origin is verifications.public_url (not set here); the
	// person reaches the stack's listener.
	_, token, ok := strings.Cut(v.URL, "/start/")
	if v.ID == "" || !ok || token == "" {
		return b5Created{}, errors.New("create answered without an id or a link")
	}
	return b5Created{id: v.ID, token: token}, nil
}

// b5Walk is person i following the link of v and walking its steps.
func b5Walk(ctx context.Context, p *flow.Person, v b5Created, i int, phone bool) b5Person {
	out := b5Person{verificationID: v.id}
	ctx, cancel := context.WithTimeout(ctx, idv.ResultTTL+20*time.Second)
	defer cancel()
	if out.err = followLink(ctx, p, v.token); out.err != nil {
		return out
	}
	type stepForm struct {
		path string
		form map[string][]string
	}
	walk := []stepForm{{verifyInfoPath, personForm(i)}}
	if phone {
		walk = append(walk, stepForm{phonePath, map[string][]string{"phone": {"2025550147"}}})
	}
	for k, s := range walk {
		last := k == len(walk)-1
		if last {
			out.lastSubmit = time.Now()
		}
		if out.err = p.Submit(ctx, s.path, s.form); out.err != nil {
			return out
		}
		waiting, next, err := p.Page(ctx, s.path)
		if out.err = err; err != nil {
			return out
		}
		if waiting {
			status, err := p.Wait(ctx, s.path)
			if out.err = err; err == nil && status != string(idv.StatusDone) {
				out.err = fmt.Errorf("%s: attempt ended %q", s.path, status)
			}
			if out.err != nil {
				return out
			}
			if next, out.err = nextPage(ctx, p, s.path); out.err != nil {
				return out
			}
		}
		want := resultPath
		if !last {
			want = walk[k+1].path
		}
		if next != want {
			out.err = fmt.Errorf("%s: sent to %q, want %q", s.path, next, want)
			return out
		}
	}
	out.done = true
	return out
}

// b5Event is a webhook event as stored, and when its delivery job's last
// attempt (the one that delivered it) began.
type b5Event struct {
	created, attempted time.Time
	// snoozes is how often the delivery job waited (River's snooze)
	// because an earlier event of the same verification was undelivered.
	snoozes int
}

// b5Events reads the run's events and their delivery jobs' first start.
func b5Events(ctx context.Context, env *env, schema string) (map[string]b5Event, error) {
	conn, err := env.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	s := pgx.Identifier{schema}.Sanitize() + "."
	rows, err := conn.Query(ctx, `SELECT e.id, e.created_at, max(j.attempted_at), coalesce(max((j.metadata->>'snoozes')::int), 0)
		FROM `+s+`idv_webhook_events e LEFT JOIN `+s+`river_job j
		  ON j.kind = 'idv_webhook_delivery' AND j.args->>'event_id' = e.id
		GROUP BY e.id, e.created_at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]b5Event{}
	for rows.Next() {
		var id string
		var created time.Time
		var attempted *time.Time
		var snoozes int
		if err := rows.Scan(&id, &created, &attempted, &snoozes); err != nil {
			return nil, err
		}
		ev := b5Event{created: created, snoozes: snoozes}
		if attempted != nil {
			ev.attempted = *attempted
		}
		out[id] = ev
	}
	return out, rows.Err()
}
