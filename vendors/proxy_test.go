package vendors_test

import (
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/vendors/sim"
)

// forwardProxy is a minimal HTTP forward proxy: it accepts only
// absolute-URI requests (what a client sends to a proxy), records each
// request line and forwards it directly.
type forwardProxy struct {
	rp   *httputil.ReverseProxy
	mu   sync.Mutex
	seen []string
}

func newForwardProxy(errorLog *log.Logger) *forwardProxy {
	return &forwardProxy{rp: &httputil.ReverseProxy{
		// The request URL already names the target; Host follows it.
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.Out.Host = "" },
		Transport: &http.Transport{Proxy: nil},
		ErrorLog:  errorLog,
	}}
}

func (p *forwardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.seen = append(p.seen, r.Method+" "+r.URL.String())
	p.mu.Unlock()
	p.rp.ServeHTTP(w, r)
}

func (p *forwardProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// startProxy serves a forward proxy on loopback.
func startProxy(t *testing.T) (*forwardProxy, string, *testenv.Log) {
	t.Helper()
	logs := &testenv.Log{}
	p := newForwardProxy(log.New(logs, "", 0))
	srv, _ := serve(t, p)
	return p, srv.URL, logs
}

// counting counts the requests that reach h.
func counting(h http.Handler, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	})
}

// TestProxy proves that vendor traffic goes through ProxyURL even to a
// loopback vendor, which Go's environment proxy settings would bypass.
func TestProxy(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	vendor, _ := serve(t, counting(sim.New(sim.Options{}), &reached))
	if !strings.HasPrefix(vendor.URL, "http://127.0.0.1:") {
		t.Fatalf("vendor at %s, want a 127.0.0.1 target", vendor.URL)
	}
	proxy, proxyURL, _ := startProxy(t)
	c := clients(t, vendors.Config{BaseURL: vendor.URL, ProxyURL: proxyURL, Timeout: 5 * time.Second})

	a := applicant()
	for _, r := range []idv.VendorResult{
		c.Resolution.ProofResolution(t.Context(), a),
		c.StateID.ProofStateID(t.Context(), a),
		c.Phone.ProofPhone(t.Context(), a),
	} {
		if !r.Success {
			t.Errorf("%s through the proxy: %+v, want success", r.Vendor, r)
		}
	}
	if err := vendors.CheckOutbound(t.Context(), c.HTTP, vendors.HealthURL(vendor.URL)); err != nil {
		t.Errorf("CheckOutbound through the proxy: %v", err)
	}

	want := []string{
		"POST " + vendor.URL + vendors.PathResolution,
		"POST " + vendor.URL + vendors.PathStateID,
		"POST " + vendor.URL + vendors.PathPhone,
		"GET " + vendor.URL + vendors.PathHealth,
	}
	got := proxy.requests()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("proxy saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := reached.Load(); n != int64(len(want)) {
		t.Errorf("vendor reached %d times, want %d", n, len(want))
	}
}

// TestProxyDown checks that a dead proxy is reported as such and that no
// request goes around it.
func TestProxyDown(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	vendor, _ := serve(t, counting(sim.New(sim.Options{}), &reached))
	c := clients(t, vendors.Config{BaseURL: vendor.URL, ProxyURL: closedURL(t), Timeout: 5 * time.Second})

	r := c.Resolution.ProofResolution(t.Context(), applicant())
	if r.Outcome() != idv.OutcomeException || r.Exception != "proxy connection failed" {
		t.Errorf("got %+v, want exception %q", r, "proxy connection failed")
	}
	if err := vendors.CheckOutbound(t.Context(), c.HTTP, vendors.HealthURL(vendor.URL)); err == nil {
		t.Error("CheckOutbound with the proxy down: nil error")
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("vendor reached %d times around a dead proxy", n)
	}
}

// TestNoProxy checks that without ProxyURL requests go straight to the
// vendor.
func TestNoProxy(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	vendor, _ := serve(t, counting(sim.New(sim.Options{}), &reached))
	c := clients(t, vendors.Config{BaseURL: vendor.URL, Timeout: 5 * time.Second})
	if r := c.Phone.ProofPhone(t.Context(), applicant()); !r.Success {
		t.Fatalf("got %+v, want success", r)
	}
	if n := reached.Load(); n != 1 {
		t.Errorf("vendor reached %d times, want 1", n)
	}
	u, _ := url.Parse(vendor.URL)
	if u.Hostname() != "127.0.0.1" {
		t.Errorf("vendor host %s", u.Hostname())
	}
}
