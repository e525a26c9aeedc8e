package vendors

import (
	"cmp"
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Default per-vendor timeouts. They follow what the vendors need: identity
// resolution and phone checks answer in well under a second, AAMVA waits on
// a state's motor vehicle agency, and document authentication analyses
// images.
const (
	DefaultResolutionTimeout = 1 * time.Second
	DefaultStateIDTimeout    = 5 * time.Second
	DefaultPhoneTimeout      = 1 * time.Second
	DefaultDocumentTimeout   = 45 * time.Second // under the 60 s result window, so a timeout can still be shown
)

// Default connection pool sizes: enough idle connections per vendor that a
// worker process's slots (jobs.workers, 135 document jobs by default) all
// find one kept alive, and a 200 requests/s load test with a second of
// vendor latency reuses connections instead of dialling new ones. Idle
// connections close after DefaultIdleConnTimeout, under the idle timeouts
// of common egress proxies and load balancers (squid 2 min, AWS NLB 350 s),
// so the client, not the proxy, ends an idle connection.
const (
	DefaultMaxIdleConns        = 1024
	DefaultMaxIdleConnsPerHost = 256
	DefaultIdleConnTimeout     = 50 * time.Second
)

// Default vendor names, as they appear in VendorResult.Vendor.
const (
	NameResolution = "resolution_sim"
	NameStateID    = "state_id_sim"
	NamePhone      = "phone_sim"
	NameDocument   = "document_sim"
)

// Config configures the vendor clients. Its zero value is not usable:
// BaseURL must be set, or the resolution, state-ID and phone vendors' URLs.
// Errors name settings as the configuration file does (vendors.phone.url).
type Config struct {
	// BaseURL is the base URL of every vendor whose own URL is empty, such
	// as the simulators, which serve all vendors on one address.
	BaseURL string
	// ProxyURL is the egress proxy (http://host:port) every vendor request
	// goes through, loopback targets included. Empty: direct connections.
	ProxyURL string
	// Timeout, when set, replaces the default timeout of every vendor that
	// does not set its own.
	Timeout time.Duration

	Resolution Endpoint
	StateID    Endpoint
	Phone      Endpoint
	Document   Endpoint

	// MaxIdleConns and MaxIdleConnsPerHost size the connection pool; zero
	// means the defaults above.
	MaxIdleConns        int
	MaxIdleConnsPerHost int
	// MaxConnsPerHost bounds each vendor's connections, idle or busy; a
	// request past it waits for one. Zero: no bound (the vendor
	// concurrency limit, jobs.workers, bounds them instead).
	MaxConnsPerHost int
	// IdleConnTimeout closes a connection idle for this long. Zero means
	// DefaultIdleConnTimeout.
	IdleConnTimeout time.Duration
	// DisableKeepAlives opens a connection per request (the behaviour
	// before keep-alive through the proxy), for comparison benchmarks.
	DisableKeepAlives bool
	// RootCAs, if set, replaces the system roots for vendors' TLS
	// certificates: a private CA, or a test's server.
	RootCAs *x509.CertPool

	// Guard, if set, is asked before every vendor call and told how it
	// went: the fleet-wide concurrency limit and circuit breaker.
	Guard Guard
}

// Endpoint is one vendor. Empty fields fall back to Config's BaseURL and
// Timeout, then to the package defaults.
type Endpoint struct {
	// URL is the vendor's base URL; the client appends its path.
	URL string
	// Timeout bounds one request, from dialling to the last byte of the
	// response.
	Timeout time.Duration
	// Name is the vendor name recorded in results.
	Name string
	// Guard, if set, admits this vendor's calls (Config.Guard when nil).
	Guard Guard
}

// endpoint returns e with its empty fields taken from c, then from the
// package defaults.
func (c Config) endpoint(e Endpoint, name string, timeout time.Duration) Endpoint {
	e.URL = cmp.Or(e.URL, c.BaseURL)
	if e.Timeout <= 0 {
		e.Timeout = c.Timeout
	}
	if e.Guard == nil {
		e.Guard = c.Guard
	}
	return e.orDefaults(name, timeout)
}

// orDefaults fills e's empty timeout and name.
func (e Endpoint) orDefaults(name string, timeout time.Duration) Endpoint {
	if e.Timeout <= 0 {
		e.Timeout = timeout
	}
	e.Name = cmp.Or(e.Name, name)
	return e
}

// resolved returns the configuration with defaults applied and checks it.
// Errors name the setting so a bad configuration is fixed at start-up.
func (c Config) resolved() (Config, error) {
	c.Resolution = c.endpoint(c.Resolution, NameResolution, DefaultResolutionTimeout)
	c.StateID = c.endpoint(c.StateID, NameStateID, DefaultStateIDTimeout)
	c.Phone = c.endpoint(c.Phone, NamePhone, DefaultPhoneTimeout)
	c.Document = c.endpoint(c.Document, NameDocument, DefaultDocumentTimeout)
	c, err := c.resolvedTransport()
	if err != nil {
		return c, err
	}
	for _, v := range []struct {
		setting string
		e       Endpoint
	}{{"resolution", c.Resolution}, {"state_id", c.StateID}, {"phone", c.Phone}, {"document", c.Document}} {
		// A deployment without a document URL has no document step (Clients.Document is nil).
		if v.setting == "document" && v.e.URL == "" {
			continue
		}
		if err := checkBaseURL(v.e.URL); err != nil {
			return c, fmt.Errorf("vendors.%s.url: %w", v.setting, err)
		}
	}
	return c, nil
}

// checkBaseURL accepts an absolute http(s) URL without query or fragment,
// so appending a path yields the intended endpoint.
func checkBaseURL(s string) error {
	if s == "" {
		return fmt.Errorf("not set (set it or the base URL)")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an absolute http or https URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("must not carry a query, fragment or user info")
	}
	return nil
}

// parseProxyURL accepts http://host:port (https:// too, for a TLS proxy).
func parseProxyURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("vendors.proxy_url: want http://host:port")
	}
	return u, nil
}

// join appends path to a checked base URL.
func join(base, path string) string {
	return strings.TrimRight(base, "/") + path
}
