package demo

import (
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

var testSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("demo-webhook-secret-for-tests-32"))

func testApp(t *testing.T) *App {
	t.Helper()
	a, err := New(Options{API: "http://idv.invalid", Issuer: "http://idv.invalid", RelyingPartyID: "rp_demo", APIKey: "idv_sk_x",
		WebhookSecret: testSecret, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// post sends body to the webhook endpoint signed with secret.
func post(t *testing.T, a *App, secret, id, body string) int {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sig, err := wh.Sign(id, now, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", WebhookPath, strings.NewReader(body))
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	req.Header.Set("webhook-signature", sig)
	w := httptest.NewRecorder()
	a.ServeHTTP(w, req)
	return w.Code
}

func eventBody(vid, status string) string {
	return fmt.Sprintf(`{"type":"verification.%s","timestamp":"2026-01-01T00:00:00Z","data":{"verification_id":%q,"status":%q}}`, status, vid, status)
}

func TestWebhookEndpoint(t *testing.T) {
	t.Parallel()
	a := testApp(t)
	for _, tc := range []struct {
		name, secret, id, body string
		want                   int
	}{
		{"signed", testSecret, "evt_1", eventBody("vrf_a", "processing"), http.StatusNoContent},
		{"the same event again", testSecret, "evt_1", eventBody("vrf_a", "processing"), http.StatusNoContent},
		{"another secret", "whsec_" + strings.Repeat("QUJD", 8), "evt_2", eventBody("vrf_a", "verified"), http.StatusUnauthorized},
		{"signed, not an event", testSecret, "evt_3", `{"hello":1}`, http.StatusBadRequest},
	} {
		if got := post(t, a, tc.secret, tc.id, tc.body); got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, got, tc.want)
		}
	}
	got := a.events.of("vrf_a")
	if len(got) != 1 || got[0].ID != "evt_1" || got[0].Deliveries != 2 || got[0].Type != "verification.processing" {
		t.Fatalf("events %+v, want evt_1 delivered twice", got)
	}
	// A body changed after signing is refused.
	wh, _ := standardwebhooks.NewWebhook(testSecret)
	now := time.Now()
	sig, _ := wh.Sign("evt_4", now, []byte(eventBody("vrf_b", "failed")))
	req := httptest.NewRequest("POST", WebhookPath, strings.NewReader(eventBody("vrf_b", "verified")))
	req.Header.Set("webhook-id", "evt_4")
	req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	req.Header.Set("webhook-signature", sig)
	w := httptest.NewRecorder()
	a.ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized || len(a.events.of("vrf_b")) != 0 {
		t.Fatalf("tampered body: HTTP %d, events %v", w.Code, a.events.of("vrf_b"))
	}
}

// The log keeps the newest events only.
func TestEventLogBounded(t *testing.T) {
	t.Parallel()
	l := newEventLog(3)
	for i := range 5 {
		l.add(event{ID: fmt.Sprint("evt_", i), VerificationID: "vrf_a"})
	}
	got := l.of("vrf_a")
	if len(got) != 3 || got[0].ID != "evt_2" || got[2].ID != "evt_4" {
		t.Fatalf("kept %+v, want evt_2..evt_4", got)
	}
}
