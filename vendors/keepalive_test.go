package vendors_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
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

// connCountingServer serves h and counts the connections it accepted.
func connCountingServer(t testing.TB, h http.Handler, tls bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes cut short when a benchmark ends
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &conns
}

// callMany makes n resolution calls, par at a time, and fails the test on
// any answer other than success.
func callMany(t testing.TB, c *vendors.Clients, n, par int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := applicant()
	var wg sync.WaitGroup
	var failed atomic.Int64
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range par {
		wg.Go(func() {
			for range next {
				if r := c.Resolution.ProofResolution(ctx, a); !r.Success {
					if failed.Add(1) == 1 {
						t.Errorf("a call failed: %+v", r)
					}
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Errorf("%d of %d calls failed", f, n)
	}
}

// Through a real tinyproxy, an HTTPS vendor's CONNECT tunnels are kept
// alive: many calls, a few at a time, open about as many tunnels as calls
// run at once, and every call succeeds. The proxy logs each tunnel's
// CONNECT (with the vendor it allowed); plain-HTTP vendors' requests are
// each logged (TestThroughTinyproxy, TestTinyproxySeesEveryKeptAliveCall).
func TestKeepAliveTunnelsThroughTinyproxy(t *testing.T) {
	t.Parallel()
	vendor, conns := connCountingServer(t, sim.New(sim.Options{}), true)
	proxy := testenv.Tinyproxy(t, "127.0.0.1")
	roots := x509.NewCertPool()
	roots.AddCert(vendor.Certificate())
	c := clients(t, vendors.Config{BaseURL: vendor.URL, ProxyURL: proxy.URL, RootCAs: roots, Timeout: 10 * time.Second})

	const calls, par = 200, 4
	callMany(t, c, calls, par)
	// Go may dial a spare connection when all are busy, so the count is
	// above par, but far below one per call.
	if n := conns.Load(); n > calls/5 {
		t.Errorf("%d calls opened %d tunnels to the vendor, want at most %d (kept alive)", calls, n, calls/5)
	}
	// A spare dial still under way when the calls end is logged by the
	// proxy before the vendor accepts it: poll until both have seen it.
	for deadline := time.Now().Add(10 * time.Second); ; {
		got, accepted := strings.Count(proxy.Log(t), "CONNECT 127.0.0.1:"), conns.Load()
		if got >= 1 && int64(got) == accepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy logged %d CONNECTs, vendor accepted %d tunnels", got, accepted)
		}
		time.Sleep(20 * time.Millisecond) // polling the proxy's log
	}
}

// Plain-HTTP vendor requests each pass through tinyproxy (it logs every
// one) and all succeed: tinyproxy serves one such request per connection
// without saying so, so the client asks for a close on each rather than
// reuse a connection the proxy is closing.
func TestTinyproxySeesEveryKeptAliveCall(t *testing.T) {
	t.Parallel()
	vendor, _ := connCountingServer(t, sim.New(sim.Options{}), false)
	proxy := testenv.Tinyproxy(t, "127.0.0.1")
	c := clients(t, vendors.Config{BaseURL: vendor.URL, ProxyURL: proxy.URL, Timeout: 10 * time.Second})
	const calls = 150
	callMany(t, c, calls, 3)
	want := "POST " + vendor.URL + vendors.PathResolution
	if got := strings.Count(proxy.Log(t), want); got != calls {
		t.Errorf("proxy logged %d of %d calls", got, calls)
	}
}

// flakyKeepAlive is an HTTP/1.1 server on a raw listener. On its first
// connection it answers the first request and keeps the connection open;
// when the next request arrives there it reads only the request line and
// headers and then resets the connection (drop="headers"), or reads the
// whole request and closes without answering (drop="after"). Later
// connections are answered normally. It counts complete requests read.
type flakyKeepAlive struct {
	drop     string
	ln       net.Listener
	complete atomic.Int64
	conns    atomic.Int64
}

func startFlaky(t *testing.T, drop string) *flakyKeepAlive {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyKeepAlive{drop: drop, ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c, f.conns.Add(1) == 1)
		}
	}()
	return f
}

func (f *flakyKeepAlive) url() string { return "http://" + f.ln.Addr().String() }

func (f *flakyKeepAlive) serve(c net.Conn, first bool) {
	defer c.Close()
	br := bufio.NewReader(c)
	for n := 1; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if first && n == 2 && f.drop == "headers" {
			c.(*net.TCPConn).SetLinger(0) // a reset, mid-body
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		f.complete.Add(1)
		if first && n == 2 && f.drop == "after" {
			return
		}
		body := `{"success":true}`
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
}

// A request on a kept-alive connection that broke before the request was
// fully written is sent once more on a new connection; one that was fully
// written is never sent again, whatever happened after.
func TestRetryOnlyUnsentRequests(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("x"), 16<<20) // larger than socket buffers: the write meets the reset
	for _, c := range []struct {
		drop         string
		wantOK       bool
		wantComplete int64
	}{
		{"headers", true, 2}, // written in part: retried, the vendor read it once
		{"after", false, 2},  // written in full: not retried
	} {
		t.Run(c.drop, func(t *testing.T) {
			t.Parallel()
			f := startFlaky(t, c.drop)
			hc, err := vendors.NewHTTPClient(vendors.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(hc.CloseIdleConnections)
			post := func() error {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.url(), bytes.NewReader(big))
				resp, err := hc.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				_, err = io.Copy(io.Discard, resp.Body)
				return err
			}
			if err := post(); err != nil {
				t.Fatalf("first request: %v", err)
			}
			err = post()
			if (err == nil) != c.wantOK {
				t.Errorf("second request: %v, want ok=%v", err, c.wantOK)
			}
			if got := f.complete.Load(); got != c.wantComplete {
				t.Errorf("server read %d complete requests, want %d", got, c.wantComplete)
			}
		})
	}
}

// BenchmarkConnectionsPerCall makes vendor calls to an HTTPS vendor through
// tinyproxy, 8 at a time, with keep-alive off (the old client) and on, and
// reports the connections (CONNECT tunnels) the vendor accepted per 1,000
// calls. Run: go test ./vendors/ -run '^$' -bench ConnectionsPerCall -benchtime 1000x
func BenchmarkConnectionsPerCall(b *testing.B) {
	for _, keepAlive := range []bool{false, true} {
		b.Run(fmt.Sprintf("keepalive=%v", keepAlive), func(b *testing.B) {
			vendor, conns := connCountingServer(b, sim.New(sim.Options{}), true)
			proxy := testenv.Tinyproxy(b, "127.0.0.1")
			roots := x509.NewCertPool()
			roots.AddCert(vendor.Certificate())
			c, err := vendors.New(vendors.Config{BaseURL: vendor.URL, ProxyURL: proxy.URL, RootCAs: roots,
				Timeout: 10 * time.Second, DisableKeepAlives: !keepAlive})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(c.HTTP.CloseIdleConnections)
			b.ResetTimer()
			callMany(b, c, b.N, 8)
			b.StopTimer()
			b.ReportMetric(float64(conns.Load())*1000/float64(b.N), "conns/1000calls")
		})
	}
}

// Only what says the vendor could not be used counts against its breaker.
func TestFault(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		r    idv.VendorResult
		want bool
	}{
		{idv.VendorResult{Success: true}, false},
		{idv.VendorResult{Errors: map[string][]string{"ssn": {"unverified"}}}, false},
		{idv.VendorResult{Exception: "vendor reported internal_error"}, false},
		{idv.VendorResult{Exception: "vendor reported a timeout", TimedOut: true}, false},
		{idv.VendorResult{Exception: "request canceled"}, false},
		{idv.VendorResult{Exception: "vendor unavailable (circuit open)"}, false},
		{idv.VendorResult{Exception: "request timed out", TimedOut: true}, true},
		{idv.VendorResult{Exception: "connection failed"}, true},
		{idv.VendorResult{Exception: "proxy connection failed"}, true},
		{idv.VendorResult{Exception: "vendor returned HTTP 503"}, true},
		{idv.VendorResult{Exception: "unparseable response"}, true},
	} {
		if got := vendors.Fault(c.r); got != c.want {
			t.Errorf("Fault(%+v) = %v, want %v", c.r, got, c.want)
		}
	}
}
