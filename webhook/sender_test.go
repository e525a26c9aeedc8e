package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/webhook"
)

// A delivered event carries a Standard Webhooks signature the library
// verifies, the documented body, and the same id and body on a retry.
func TestDeliverSigned(t *testing.T) {
	t.Parallel()
	secret := webhook.GenerateSecret()
	srv, got := receiver(t, secret, http.StatusNoContent)
	s := insecureSender(t)
	ev := newEvent()
	dest := webhook.Destination{URL: srv.URL + "/hooks/idv?token=abc", Secret: secret}

	var bodies [][]byte
	for i := range 2 {
		a, err := s.Deliver(t.Context(), dest, ev)
		if err != nil || a.StatusCode != http.StatusNoContent || a.Error != "" || a.Latency <= 0 {
			t.Fatalf("attempt %d: %+v, %v", i+1, a, err)
		}
		d := receive(t, got, "delivery")
		if d.verifyErr != nil {
			t.Errorf("attempt %d: signature does not verify: %v", i+1, d.verifyErr)
		}
		if id := d.header.Get("webhook-id"); id != ev.ID {
			t.Errorf("webhook-id = %q, want %q", id, ev.ID)
		}
		if ct := d.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		ts, _ := strconv.ParseInt(d.header.Get("webhook-timestamp"), 10, 64)
		if age := time.Since(time.Unix(ts, 0)); age < -time.Minute || age > time.Minute {
			t.Errorf("webhook-timestamp %d is not the attempt's time", ts)
		}
		bodies = append(bodies, d.body)
	}
	want := `{"type":"verification.verified","timestamp":"2025-01-02T03:04:05.123456Z","data":{"verification_id":"` +
		ev.VerificationID + `","status":"verified"}}`
	if string(bodies[0]) != want {
		t.Errorf("body\n got %s\nwant %s", bodies[0], want)
	}
	if !bytes.Equal(bodies[0], bodies[1]) {
		t.Errorf("a retry sent another body:\n%s\n%s", bodies[0], bodies[1])
	}

	// Signed under another secret, the library refuses it.
	other, _ := standardwebhooks.NewWebhook(webhook.GenerateSecret())
	srv2, got2 := receiver(t, secret, http.StatusOK)
	if _, err := s.Deliver(t.Context(), webhook.Destination{URL: srv2.URL, Secret: webhook.GenerateSecret()}, ev); err != nil {
		t.Fatal(err)
	}
	d := receive(t, got2, "delivery")
	if d.verifyErr == nil {
		t.Error("a signature under the wrong secret verifies")
	}
	if other.Verify(d.body, d.header) == nil {
		t.Error("a signature verifies under an unrelated secret")
	}
}

// Any answer but 2xx is a failed attempt worth a retry; a redirect is not
// followed, whatever the client's own redirect policy.
func TestNon2xxIsRetryable(t *testing.T) {
	t.Parallel()
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Add(1) }))
	t.Cleanup(target.Close)
	for _, status := range []int{100, 199, 300, 301, 302, 303, 307, 308, 400, 401, 404, 410, 429, 500, 502, 503} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			secret := webhook.GenerateSecret()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if status >= 300 && status < 400 {
					w.Header().Set("Location", target.URL+"/elsewhere")
				}
				w.WriteHeader(status)
			}))
			t.Cleanup(srv.Close)
			// A client that would follow redirects if let.
			s := &webhook.Sender{Client: &http.Client{}, AllowInsecure: true}
			a, err := s.Deliver(t.Context(), webhook.Destination{URL: srv.URL, Secret: secret}, newEvent())
			if status < 200 {
				// Informational answers never end a request: the
				// server sends its 200 afterwards.
				if err != nil {
					t.Errorf("%d then 200: %+v, %v", status, a, err)
				}
				return
			}
			if err == nil || webhook.Permanent(err) || idv.ErrorCode(err) != idv.EUNAVAILABLE {
				t.Errorf("err = %v, want a retryable error", err)
			}
			if a.StatusCode != status || a.Error != webhook.CodeHTTPStatus {
				t.Errorf("attempt = %+v", a)
			}
		})
	}
	t.Cleanup(func() {
		if n := followed.Load(); n != 0 {
			t.Errorf("a redirect was followed %d times", n)
		}
	})
}

// A receiver that does not answer costs one timeout, no hang; one that
// answers 2xx and then streams without end is read only so far.
func TestSlowReceivers(t *testing.T) {
	t.Parallel()
	done := make(chan struct{}) // closed before the servers close (cleanups run last first)
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(silent.Close)
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			select {
			case <-done:
				return
			default:
			}
		}
	}))
	t.Cleanup(endless.Close)
	t.Cleanup(func() { close(done) })

	secret := webhook.GenerateSecret()
	s := insecureSender(t)
	s.Timeout = 200 * time.Millisecond
	r := receive(t, deliverAsync(t.Context(), s, webhook.Destination{URL: silent.URL, Secret: secret}, newEvent()), "end of the attempt to a silent receiver")
	if r.err == nil || webhook.Permanent(r.err) || r.attempt.Error != webhook.CodeTimeout || r.attempt.StatusCode != 0 {
		t.Errorf("silent receiver: %+v, %v", r.attempt, r.err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	s.Timeout = time.Hour
	ch := deliverAsync(ctx, s, webhook.Destination{URL: silent.URL, Secret: secret}, newEvent())
	cancel()
	if r := receive(t, ch, "end of a canceled attempt"); r.err == nil || r.attempt.Error != webhook.CodeCanceled {
		t.Errorf("canceled: %+v, %v", r.attempt, r.err)
	}

	r = receive(t, deliverAsync(t.Context(), s, webhook.Destination{URL: endless.URL, Secret: secret}, newEvent()), "end of the attempt to an endless answer")
	if r.err != nil || r.attempt.StatusCode != http.StatusOK {
		t.Errorf("endless 200: %+v, %v", r.attempt, r.err)
	}
}

// Unusable events and secrets fail at once, permanently, and say nothing
// of the secret.
func TestDeliverRefusesBadInput(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	t.Cleanup(srv.Close)
	good := webhook.Destination{URL: srv.URL, Secret: webhook.GenerateSecret()}
	short := "whsec_" + base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	for name, tc := range map[string]struct {
		dest webhook.Destination
		ev   func(*webhook.Event)
		code string
	}{
		"no secret":         {webhook.Destination{URL: srv.URL}, nil, webhook.CodeInvalid},
		"secret unprefixed": {webhook.Destination{URL: srv.URL, Secret: strings.TrimPrefix(good.Secret, "whsec_")}, nil, webhook.CodeInvalid},
		"secret not base64": {webhook.Destination{URL: srv.URL, Secret: "whsec_not base64!"}, nil, webhook.CodeInvalid},
		"secret too short":  {webhook.Destination{URL: srv.URL, Secret: short}, nil, webhook.CodeInvalid},
		"id with a newline": {good, func(e *webhook.Event) { e.ID = "evt\nx-injected: 1" }, webhook.CodeInvalid},
		"no id":             {good, func(e *webhook.Event) { e.ID = "" }, webhook.CodeInvalid},
		"no verification":   {good, func(e *webhook.Event) { e.VerificationID = "" }, webhook.CodeInvalid},
		"no time":           {good, func(e *webhook.Event) { e.CreatedAt = time.Time{} }, webhook.CodeInvalid},
		"ftp URL":           {webhook.Destination{URL: "ftp://127.0.0.1/", Secret: good.Secret}, nil, webhook.CodeDestination},
		"URL with password": {webhook.Destination{URL: "http://u:p@127.0.0.1/", Secret: good.Secret}, nil, webhook.CodeDestination},
	} {
		ev := newEvent()
		if tc.ev != nil {
			tc.ev(&ev)
		}
		a, err := insecureSender(t).Deliver(t.Context(), tc.dest, ev)
		if !webhook.Permanent(err) || a.Error != tc.code {
			t.Errorf("%s: %+v, %v; want a permanent %s", name, a, err, tc.code)
		}
		if err != nil && tc.dest.Secret != "" && strings.Contains(err.Error(), strings.TrimPrefix(tc.dest.Secret, "whsec_")) {
			t.Errorf("%s: the error quotes the secret", name)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("refused deliveries reached the receiver %d times", n)
	}
}

// Without allowInsecure, a loopback URL is refused before any request,
// and the client refuses loopback at connect time even when asked
// directly (what a name rebound to 127.0.0.1 would reach).
func TestDestinationPolicyEnforced(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	t.Cleanup(srv.Close)
	client, err := webhook.NewHTTPClient("", false)
	if err != nil {
		t.Fatal(err)
	}
	s := &webhook.Sender{Client: client}
	a, err := s.Deliver(t.Context(), webhook.Destination{URL: srv.URL, Secret: webhook.GenerateSecret()}, newEvent())
	if !webhook.Permanent(err) || a.Error != webhook.CodeDestination {
		t.Errorf("loopback destination: %+v, %v", a, err)
	}
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s connected", u)
		} else if !strings.Contains(err.Error(), "not public") {
			t.Errorf("GET %s: %v, want a refusal of the address", u, err)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the loopback server was reached %d times", n)
	}
}

// Through a real egress proxy (tinyproxy with an allow-list) the event
// arrives signed; a host off the list is refused by the proxy, and the
// proxy's log holds neither the body nor the secret.
func TestDeliverThroughTinyproxy(t *testing.T) {
	t.Parallel()
	proxy := testenv.Tinyproxy(t, "127.0.0.1")
	secret := webhook.GenerateSecret()
	srv, got := receiver(t, secret, http.StatusOK)
	client, err := webhook.NewHTTPClient(proxy.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	s := &webhook.Sender{Client: client, AllowInsecure: true}
	ev := newEvent()
	a, err := s.Deliver(t.Context(), webhook.Destination{URL: srv.URL + "/hook", Secret: secret}, ev)
	if err != nil || a.StatusCode != http.StatusOK {
		t.Fatalf("through the proxy: %+v, %v", a, err)
	}
	if d := receive(t, got, "delivery"); d.verifyErr != nil || d.header.Get("webhook-id") != ev.ID {
		t.Errorf("delivered through the proxy: id %q, verify %v", d.header.Get("webhook-id"), d.verifyErr)
	}

	denied := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/hook"
	a, err = s.Deliver(t.Context(), webhook.Destination{URL: denied, Secret: secret}, newEvent())
	if err == nil || webhook.Permanent(err) || a.StatusCode != http.StatusForbidden {
		t.Errorf("host off the allow-list: %+v, %v", a, err)
	}
	select {
	case d := <-got:
		t.Errorf("a refused host got a delivery: %s", d.body)
	default:
	}

	log := proxy.Log(t)
	if !strings.Contains(log, "POST "+srv.URL+"/hook") || !strings.Contains(log, `Proxying refused on filtered domain "localhost"`) {
		t.Errorf("proxy log lacks the request or the refusal:\n%s", log)
	}
	if strings.Contains(log, ev.VerificationID) || strings.Contains(log, strings.TrimPrefix(secret, "whsec_")) {
		t.Error("the proxy log holds the body or the secret")
	}
}

func TestGenerateSecret(t *testing.T) {
	t.Parallel()
	a, b := webhook.GenerateSecret(), webhook.GenerateSecret()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if !strings.HasPrefix(a, "whsec_") || err != nil || len(raw) != 32 {
		t.Errorf("secret %q: %d bytes, %v", a, len(raw), err)
	}
	if _, err := standardwebhooks.NewWebhook(a); err != nil {
		t.Errorf("the library refuses the secret: %v", err)
	}
}

// A Destination never prints its secret.
func TestDestinationMasksSecret(t *testing.T) {
	t.Parallel()
	d := webhook.Destination{URL: "https://rp.example/hook", Secret: webhook.GenerateSecret()}
	raw := strings.TrimPrefix(d.Secret, "whsec_")
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "dest", d, "ptr", &d)
	jsonOut, _ := json.Marshal(d.LogValue().Resolve().String())
	for _, out := range []string{fmt.Sprint(d), fmt.Sprintf("%v %+v %#v %s %q %x", d, d, d, d, d, d),
		fmt.Sprintf("%v %+v", &d, &d), logged.String(), string(jsonOut)} {
		if strings.Contains(out, raw) || !strings.Contains(out, "rp.example") {
			t.Errorf("printed: %s", out)
		}
	}
}
