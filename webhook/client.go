package webhook

import (
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/idv-dev/idv"
)

// NewHTTPClient returns a client for Sender.
//
// With proxyURL set, every request goes through that egress proxy (set
// explicitly: Go's HTTP_PROXY handling never proxies loopback), and the
// proxy does the connecting, so its allow-list decides which addresses are
// reachable; this process only ever connects to the proxy. Keep-alives are
// off, as for the vendors' client: tinyproxy closes kept-alive client
// connections between requests.
//
// Without a proxy the client connects itself and, unless allowInsecure,
// refuses at connect time every address that is not public, whatever the
// name resolved to then: CheckURL's answer cannot be bypassed by DNS
// rebinding.
//
// The client follows no redirects (Sender makes sure of that for any
// client) and ignores the environment's proxy settings.
func NewHTTPClient(proxyURL string, allowInsecure bool) (*http.Client, error) {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 nil,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if proxyURL != "" {
		u, err := url.Parse(proxyURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, idv.Errorf(idv.EINVALID, "webhook proxy URL must be http(s)://host:port")
		}
		t.Proxy = http.ProxyURL(u)
		t.DisableKeepAlives = true
	} else if !allowInsecure {
		dialer.Control = dialPublicOnly
	}
	t.DialContext = dialer.DialContext
	return &http.Client{Transport: t, CheckRedirect: noRedirects}, nil
}

// noRedirects hands a redirect back as the answer: a webhook goes to the
// registered URL and nowhere else.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
