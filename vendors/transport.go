package vendors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if cfg.ProxyURL != "" {
		u, err := parseProxyURL(cfg.ProxyURL)
		if err != nil {
			return nil, err
		}
		t.Proxy = http.ProxyURL(u)
		// tinyproxy closes a kept-alive client connection between two
		// requests, and a POST is never retried on a dead connection, so
		// under load some vendor calls failed as exceptions (seen in the
		// end-to-end test through tinyproxy). One connection per request
		// avoids that; it costs an extra TCP (and, for HTTPS vendors, TLS)
		// handshake per call.
		// TODO: keep tunnels alive and retry once on a connection that died
		// before any response instead.
		t.DisableKeepAlives = true
	}
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
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
