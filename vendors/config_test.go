package vendors_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/vendors/sim"
)

func TestConfigErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  vendors.Config
		want string
	}{
		{"no URL at all", vendors.Config{}, "vendors.resolution.url"},
		{"phone URL missing", vendors.Config{
			Resolution: vendors.Endpoint{URL: "http://a"}, StateID: vendors.Endpoint{URL: "http://a"},
		}, "vendors.phone.url"},
		{"relative base URL", vendors.Config{BaseURL: "vendors.example"}, "url"},
		{"base URL with a query", vendors.Config{BaseURL: "http://a/?k=v"}, "query"},
		{"bad document URL", vendors.Config{BaseURL: "http://a", Document: vendors.Endpoint{URL: "ftp://b"}}, "vendors.document.url"},
		{"proxy without scheme", vendors.Config{BaseURL: "http://a", ProxyURL: "proxy:3128"}, "vendors.proxy_url"},
		{"proxy with another scheme", vendors.Config{BaseURL: "http://a", ProxyURL: "socks5://proxy:1080"}, "vendors.proxy_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := vendors.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                                 string
		cfg                                  vendors.Config
		resolution, stateID, phone, document time.Duration
	}{
		{"package defaults", vendors.Config{BaseURL: "http://a"}, time.Second, 5 * time.Second, time.Second, 45 * time.Second},
		{"one timeout for all", vendors.Config{BaseURL: "http://a", Timeout: 2 * time.Second},
			2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second},
		{"a vendor's own timeout wins", vendors.Config{BaseURL: "http://a", Timeout: 2 * time.Second,
			StateID: vendors.Endpoint{Timeout: 3 * time.Second}},
			2 * time.Second, 3 * time.Second, 2 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := clients(t, tt.cfg).Config
			for _, c := range []struct {
				name string
				e    vendors.Endpoint
				want time.Duration
			}{
				{vendors.NameResolution, got.Resolution, tt.resolution},
				{vendors.NameStateID, got.StateID, tt.stateID},
				{vendors.NamePhone, got.Phone, tt.phone},
				{vendors.NameDocument, got.Document, tt.document},
			} {
				if c.e.Timeout != c.want || c.e.Name != c.name || c.e.URL != "http://a" {
					t.Errorf("%s: %+v, want timeout %v, url http://a", c.name, c.e, c.want)
				}
			}
			if got.MaxIdleConnsPerHost < 200 {
				t.Errorf("MaxIdleConnsPerHost %d: too few for 200 requests/s", got.MaxIdleConnsPerHost)
			}
		})
	}
}

// TestPerVendorURL checks that a vendor's own URL wins over the base URL.
func TestPerVendorURL(t *testing.T) {
	t.Parallel()
	var own, shared atomic.Int64
	ownSrv, _ := serve(t, counting(sim.New(sim.Options{}), &own))
	sharedSrv, _ := serve(t, counting(sim.New(sim.Options{}), &shared))
	c := clients(t, vendors.Config{BaseURL: sharedSrv.URL + "/", Resolution: vendors.Endpoint{URL: ownSrv.URL, Name: "acme"}})

	if r := c.Resolution.ProofResolution(t.Context(), applicant()); !r.Success || r.Vendor != "acme" {
		t.Errorf("resolution: %+v", r)
	}
	if r := c.Phone.ProofPhone(t.Context(), applicant()); !r.Success {
		t.Errorf("phone: %+v", r)
	}
	if own.Load() != 1 || shared.Load() != 1 {
		t.Errorf("own vendor reached %d times, shared %d; want 1 and 1", own.Load(), shared.Load())
	}
}

func TestTransportProxySetting(t *testing.T) {
	t.Parallel()
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:9/health", nil)
	tests := []struct {
		name, proxy, want string
	}{
		{"explicit proxy used for loopback", "http://proxy.internal:3128", "http://proxy.internal:3128"},
		{"no proxy", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hc, err := vendors.NewHTTPClient(vendors.Config{ProxyURL: tt.proxy})
			if err != nil {
				t.Fatal(err)
			}
			tr, ok := hc.Transport.(*http.Transport)
			if !ok {
				tr = hc.Transport.(interface{ Transport() *http.Transport }).Transport()
			}
			got := ""
			if tr.Proxy != nil {
				u, err := tr.Proxy(req)
				if err != nil {
					t.Fatal(err)
				}
				if u != nil {
					got = u.String()
				}
			}
			if got != tt.want {
				t.Errorf("proxy for a loopback request = %q, want %q", got, tt.want)
			}
			if hc.Timeout != 0 {
				t.Errorf("client timeout %v: each call sets its own", hc.Timeout)
			}
		})
	}
}

func TestCheckOutbound(t *testing.T) {
	t.Parallel()
	srv, _ := startSim(t, sim.Options{})
	hc, err := vendors.NewHTTPClient(vendors.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url string
		ok        bool
	}{
		{"healthy", vendors.HealthURL(srv.URL), true},
		{"not found", srv.URL + "/nothing", false},
		{"connection refused", vendors.HealthURL(closedURL(t)), false},
		{"bad URL", "://", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := vendors.CheckOutbound(t.Context(), hc, tt.url)
			if tt.ok != (err == nil) {
				t.Fatalf("CheckOutbound: %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, vendors.ErrOutbound) {
				t.Errorf("error %v does not wrap ErrOutbound", err)
			}
		})
	}
}

// TestVendorDown checks connection failures against a port with nothing
// listening.
func TestVendorDown(t *testing.T) {
	t.Parallel()
	c := clients(t, vendors.Config{BaseURL: closedURL(t)})
	for _, stage := range []string{"resolution", "state_id", "phone"} {
		r := proof(t, c, t.Context(), stage, applicant())
		if r.Exception != "connection failed" || r.TimedOut || r.Success {
			t.Errorf("%s: %+v, want exception %q", stage, r, "connection failed")
		}
	}
}

// TestDocumentURLOptional checks that a configuration naming each vendor's
// URL, without a base URL, needs no document URL until a document client
// exists.
func TestDocumentURLOptional(t *testing.T) {
	t.Parallel()
	e := vendors.Endpoint{URL: "http://vendor.internal"}
	if _, err := vendors.New(vendors.Config{Resolution: e, StateID: e, Phone: e}); err != nil {
		t.Fatalf("New: %v", err)
	}
}
