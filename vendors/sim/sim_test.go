package sim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/vendors/sim"
)

func start(t *testing.T, o sim.Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(sim.New(o))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, ctx context.Context, url, body string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// TestHTTP covers the parts of the protocol the vendor clients do not
// exercise: routing, malformed requests and the shapes of the answers.
func TestHTTP(t *testing.T) {
	t.Parallel()
	srv := start(t, sim.Options{})
	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"health", http.MethodGet, vendors.PathHealth, "", http.StatusOK, `"ok"`},
		{"verify is POST only", http.MethodGet, vendors.PathResolution, "", http.StatusMethodNotAllowed, ""},
		{"health is GET only", http.MethodPost, vendors.PathHealth, "", http.StatusMethodNotAllowed, ""},
		{"document wants multipart", http.MethodPost, vendors.PathDocument, "{}", http.StatusBadRequest, "bad_request"},
		{"malformed JSON", http.MethodPost, vendors.PathResolution, `{"first_name":"Canaryfirstname",`, http.StatusBadRequest, "bad_request"},
		{"oversized body", http.MethodPost, vendors.PathPhone, `{"phone":"` + strings.Repeat("1", 70<<10) + `"}`, http.StatusBadRequest, "bad_request"},
		{"resolution verdict", http.MethodPost, vendors.PathResolution,
			`{"first_name":"Jane","ssn":"900-11-2222","zipcode":"22030"}`, http.StatusOK, `"success":true`},
		{"state ID verdict", http.MethodPost, vendors.PathStateID,
			`{"state_id_number":"00","state_id_jurisdiction":"va"}`, http.StatusOK, `"state_id_number":["state_id_number_invalid"]`},
		{"phone verdict", http.MethodPost, vendors.PathPhone, `{"phone":"1-703-555-5555"}`, http.StatusOK, `"phone":["phone_unverifiable"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.contains) {
				t.Errorf("%s %s: %d %s, want %d containing %s", tt.method, tt.path, resp.StatusCode, b, tt.status, tt.contains)
			}
			if strings.Contains(string(b), "Canary") {
				t.Errorf("answer echoes the request: %s", b)
			}
		})
	}
}

// TestFreshIDs checks that every verdict has its own transaction id.
func TestFreshIDs(t *testing.T) {
	t.Parallel()
	srv := start(t, sim.Options{})
	seen := map[string]bool{}
	for range 3 {
		_, body, err := post(t, t.Context(), srv.URL+vendors.PathPhone, `{"phone":"2025550123"}`)
		if err != nil {
			t.Fatal(err)
		}
		var r vendors.VerifyResponse
		if err := json.Unmarshal([]byte(body), &r); err != nil || r.Success == nil || !*r.Success {
			t.Fatalf("answer %s: %v", body, err)
		}
		if r.TransactionID == "" || seen[r.TransactionID] {
			t.Fatalf("transaction id %q repeated or empty", r.TransactionID)
		}
		seen[r.TransactionID] = true
	}
}

// TestUnreachable checks that SSN 000-00-0000 drops the connection without
// a response.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	srv := start(t, sim.Options{})
	resp, _, err := post(t, t.Context(), srv.URL+vendors.PathResolution, `{"first_name":"Jane","ssn":"000-00-0000"}`)
	if err == nil {
		t.Fatalf("got HTTP %d, want a transport error", resp.StatusCode)
	}
}

// TestHang checks both ends of a timeout trigger: a client that waits
// longer than the hang limit gets HTTP 504, and a client that gives up
// releases the handler at once (the server then closes without waiting for
// the 30 s limit).
func TestHang(t *testing.T) {
	t.Parallel()
	t.Run("limit", func(t *testing.T) {
		t.Parallel()
		srv := start(t, sim.Options{Hang: 50 * time.Millisecond})
		resp, _, err := post(t, t.Context(), srv.URL+vendors.PathPhone, `{"phone":"7035555888"}`)
		if err != nil || resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("got %v %v, want HTTP 504", resp, err)
		}
	})
	for _, tc := range []struct {
		name string
		o    sim.Options
		body string
	}{
		{"client gives up on a timeout trigger", sim.Options{}, `{"first_name":"Time","ssn":"900-11-2222"}`},
		{"client gives up during latency", sim.Options{Latency: time.Hour}, `{"first_name":"Jane","ssn":"900-11-2222"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(sim.New(tc.o))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			if _, _, err := post(t, ctx, srv.URL+vendors.PathResolution, tc.body); err == nil {
				t.Fatal("got an answer, want the client to time out")
			}
			done := make(chan struct{})
			go func() { srv.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the handler still holds the request after the client left")
			}
		})
	}
}
