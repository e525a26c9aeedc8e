package main

// A relying party's webhook endpoint for the end-to-end tests: an
// httptest server on loopback that idv's workers reach through the egress
// proxy. It checks each request's Standard Webhooks signature with the
// reference library, keeps every request it got, and can be told to fail
// or to hang on a verification's first delivery.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// hookPlan is what the receiver does with a verification's first delivery
// request; later ones are answered 204.
type hookPlan int

const (
	planAccept hookPlan = iota
	planFailFirst
	planHangFirst
)

// delivery is one request the receiver got.
type delivery struct {
	ID        string // webhook-id
	Body      []byte
	SignedOK  bool // the signature verifies with the relying party's secret
	Status    int  // what the receiver answered; 0 for a hung request
	Type      string
	VerifID   string
	EvtStatus string
}

type hookReceiver struct {
	t   *testing.T
	srv *httptest.Server
	URL string

	mu      sync.Mutex
	secret  *standardwebhooks.Webhook
	plans   map[string]hookPlan
	got     []delivery
	changed chan struct{} // closed and replaced on each request
	hung    chan delivery // a hung delivery, once it is hanging
	release chan struct{} // closed when the test ends: hung requests end
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{t: t, plans: map[string]hookPlan{}, changed: make(chan struct{}),
		hung: make(chan delivery, 1), release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	h.URL = h.srv.URL
	// Cleanups run last first: the hung requests end, then the server
	// closes (it waits for its requests).
	t.Cleanup(h.srv.Close)
	t.Cleanup(func() { close(h.release) })
	return h
}

// setSecret is the relying party's webhook secret, printed by idv rp create.
func (h *hookReceiver) setSecret(secret string) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		h.t.Fatalf("webhook secret: %v", err)
	}
	h.mu.Lock()
	h.secret = wh
	h.mu.Unlock()
}

func (h *hookReceiver) plan(verificationID string, p hookPlan) {
	h.mu.Lock()
	h.plans[verificationID] = p
	h.mu.Unlock()
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var ev struct {
		Type string `json:"type"`
		Data struct {
			VerificationID string `json:"verification_id"`
			Status         string `json:"status"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &ev)
	d := delivery{ID: r.Header.Get("webhook-id"), Body: body, Type: ev.Type, VerifID: ev.Data.VerificationID, EvtStatus: ev.Data.Status}

	h.mu.Lock()
	d.SignedOK = h.secret != nil && r.Method == http.MethodPost && h.secret.Verify(body, r.Header) == nil
	first := !slices.ContainsFunc(h.got, func(g delivery) bool { return g.VerifID == d.VerifID })
	plan := h.plans[d.VerifID]
	switch {
	case first && plan == planFailFirst:
		d.Status = http.StatusServiceUnavailable
	case first && plan == planHangFirst:
		d.Status = 0
	default:
		d.Status = http.StatusNoContent
	}
	h.got = append(h.got, d)
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()

	if first && plan == planHangFirst {
		h.hung <- d
		select {
		case <-r.Context().Done():
		case <-h.release:
		}
		panic(http.ErrAbortHandler) // no answer: the connection is dropped
	}
	w.WriteHeader(d.Status)
}

// deliveries returns every request received so far.
func (h *hookReceiver) deliveries() []delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// waitFor waits (at most within) until done says yes of the requests
// received, and returns them.
func (h *hookReceiver) waitFor(within time.Duration, what string, done func([]delivery) bool) []delivery {
	h.t.Helper()
	deadline := time.After(within)
	for {
		h.mu.Lock()
		got, changed := slices.Clone(h.got), h.changed
		h.mu.Unlock()
		if done(got) {
			return got
		}
		select {
		case <-changed:
		case <-deadline:
			h.t.Fatalf("webhook receiver: %s: not within %s; got %d requests: %+v", what, within, len(got), summary(got))
			return nil
		}
	}
}

// accepted returns the requests of one verification the receiver answered
// 2xx, in the order it got them.
func accepted(got []delivery, verificationID string) []delivery {
	return slices.DeleteFunc(slices.Clone(got), func(d delivery) bool {
		return d.VerifID != verificationID || d.Status < 200 || d.Status > 299
	})
}

// summary is what a failure message shows of deliveries: never bodies.
func summary(got []delivery) []string {
	var s []string
	for _, d := range got {
		s = append(s, d.VerifID+" "+d.Type+" "+d.ID+" "+http.StatusText(d.Status))
	}
	return s
}
