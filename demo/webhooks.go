package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// maxEvents bounds the events the demo keeps (in memory, this run only).
const maxEvents = 500

// maxWebhookBody bounds a webhook's body: idv's events are small.
const maxWebhookBody = 64 << 10

// event is one webhook the demo received and verified.
type event struct {
	ID             string // webhook-id: the same on every delivery of it
	Type           string
	VerificationID string
	Status         string
	Deliveries     int // how many times it arrived
	ReceivedAt     time.Time
}

// eventLog keeps the newest events, at most max.
type eventLog struct {
	mu     sync.Mutex
	max    int
	events []event // oldest first
}

func newEventLog(max int) *eventLog { return &eventLog{max: max} }

// add records ev, or counts one more delivery of an event already seen.
func (l *eventLog) add(ev event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := slices.IndexFunc(l.events, func(e event) bool { return e.ID == ev.ID }); i >= 0 {
		l.events[i].Deliveries++
		return
	}
	ev.Deliveries = 1
	l.events = append(l.events, ev)
	if len(l.events) > l.max {
		l.events = slices.Delete(l.events, 0, len(l.events)-l.max)
	}
}

// of returns the events of one verification, oldest first.
func (l *eventLog) of(verificationID string) []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []event
	for _, e := range l.events {
		if e.VerificationID == verificationID {
			out = append(out, e)
		}
	}
	return out
}

// webhookBody is the part of idv's event body the demo reads.
type webhookBody struct {
	Type string `json:"type"`
	Data struct {
		VerificationID string `json:"verification_id"`
		Status         string `json:"status"`
	} `json:"data"`
}

// serveWebhook takes one event: it checks the Standard Webhooks signature
// (and the timestamp's freshness) over the exact bytes received before it
// reads them, answers 204 at once, and keeps the event. A bad signature is
// refused with 401 and nothing is kept.
func (a *App) serveWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	if err := a.hook.Verify(body, r.Header); err != nil {
		a.o.Logger.Warn("demo: webhook refused", "error", err)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	var b webhookBody
	if err := json.Unmarshal(body, &b); err != nil || b.Data.VerificationID == "" {
		http.Error(w, "not an idv event", http.StatusBadRequest)
		return
	}
	a.events.add(event{ID: r.Header.Get("webhook-id"), Type: b.Type, VerificationID: b.Data.VerificationID,
		Status: b.Data.Status, ReceivedAt: time.Now().UTC()})
	w.WriteHeader(http.StatusNoContent)
}
