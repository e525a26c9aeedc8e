package vendors

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"
)

// NewHTTPClient returns the client every vendor request goes through.
//
// The proxy is set explicitly from ProxyURL rather than taken from
// HTTP_PROXY: Go's environment handling never proxies loopback addresses,
// and the egress proxy must see every vendor request, including requests
// to simulators on 127.0.0.1 in tests. With an empty ProxyURL the client
// connects directly and ignores the environment, so what runs is what the
// configuration says.
//
// Connections are kept alive, through the proxy too: an HTTPS vendor's
// CONNECT tunnel (and its TLS session) serves request after request, and a
// plain-HTTP vendor's requests reuse the connection to the proxy. Go keys
// its pool by proxy, scheme and vendor address, so each vendor has a pool
// of its own, bounded by MaxIdleConnsPerHost idle connections (and
// MaxConnsPerHost in all, when set). The proxy still sees every request:
// a plain-HTTP request is sent to the proxy as such, and a tunnel's
// CONNECT names the vendor, which is what an allow-list filters on.
//
// A kept-alive connection can be closed by the proxy or vendor just as a
// request goes out on it. The client then sends that request once more on
// a new connection, but only when it provably was not sent: the old
// connection had carried earlier requests and died before the request was
// fully written (httptrace's WroteRequest never reported success), and the
// body can be replayed. A request that was written is never sent again,
// whatever happened after: the vendor may have acted on it.
//
// The client has no overall timeout (each vendor call sets its own) and
// follows no redirects: a redirect would resend a body full of PII to an
// address nobody configured.
func NewHTTPClient(cfg Config) (*http.Client, error) {
	cfg, err := cfg.resolvedTransport()
	if err != nil {
		return nil, err
	}
	t := &http.Transport{
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          cfg.MaxIdleConns,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		MaxConnsPerHost:       cfg.MaxConnsPerHost,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if cfg.RootCAs != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	}
	if cfg.ProxyURL != "" {
		u, err := parseProxyURL(cfg.ProxyURL)
		if err != nil {
			return nil, err
		}
		t.Proxy = http.ProxyURL(u)
	}
	var rt http.RoundTripper = &retryUnsent{base: t, closeProxied: t.Proxy != nil}
	if cfg.DisableKeepAlives {
		t.DisableKeepAlives = true
		rt = t
	}
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// retryUnsent sends a request a second time, once, when the first attempt
// failed on a reused connection before the request was fully written (see
// NewHTTPClient). Go's transport already does this for some such failures;
// this covers the rest (a connection that broke while the request was
// being written) by what the trace saw rather than by error types.
//
// closeProxied asks for a connection per request for plain-HTTP requests
// relayed by the proxy: a forward proxy may serve one such request per
// client connection and close it without saying so (tinyproxy does), and a
// request sent on such a connection as it closes was written, so it cannot
// be sent again. HTTPS vendors, which real vendors are, go through a
// CONNECT tunnel that is end to end and stays alive.
type retryUnsent struct {
	base         *http.Transport
	closeProxied bool
}

// Transport is the pool under the retry, for tests and benchmarks.
func (r *retryUnsent) Transport() *http.Transport { return r.base }

func (r *retryUnsent) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.closeProxied && req.URL.Scheme == "http" && !req.Close {
		req = req.Clone(req.Context())
		req.Close = true
	}
	var wrote, reused atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused.Store(i.Reused) },
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		},
	}
	resp, err := r.base.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err == nil || wrote.Load() || !reused.Load() || req.Context().Err() != nil {
		return resp, err
	}
	retry := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return resp, err
		}
		body, gerr := req.GetBody()
		if gerr != nil {
			return resp, err
		}
		retry.Body = body
	}
	return r.base.RoundTrip(retry)
}

// resolvedTransport applies the pool defaults and checks the proxy URL only:
// a client for a health check needs no vendor URLs.
func (c Config) resolvedTransport() (Config, error) {
	if c.MaxIdleConns <= 0 {
		c.MaxIdleConns = DefaultMaxIdleConns
	}
	if c.MaxIdleConnsPerHost <= 0 {
		c.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if c.IdleConnTimeout <= 0 {
		c.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if c.ProxyURL != "" {
		if _, err := parseProxyURL(c.ProxyURL); err != nil {
			return c, err
		}
	}
	return c, nil
}

// ErrOutbound is wrapped by every error CheckOutbound returns.
var ErrOutbound = errors.New("outbound check failed")

// CheckOutbound GETs url through client (and so through its egress proxy)
// and reports whether a 2xx answer came back before ctx ended. It backs the
// outbound health endpoint; url should be a vendor's health URL, which
// carries no PII. Give ctx a deadline: the client itself has none.
func CheckOutbound(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: bad url", ErrOutbound)
	}
	resp, err := client.Do(req)
	if err != nil {
		desc, _ := transportFault(ctx, err)
		return fmt.Errorf("%w: %s", ErrOutbound, desc)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: HTTP %d", ErrOutbound, resp.StatusCode)
	}
	return nil
}
