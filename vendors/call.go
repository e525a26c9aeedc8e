package vendors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/idv-dev/idv"
)

// maxResponse bounds a vendor's answer: the answers are small, and a
// runaway body must not exhaust a worker's memory.
const maxResponse = 1 << 20

// Exception descriptions. They are fixed phrases on purpose: an error's own
// text can quote the request (a URL, a body fragment), so none is ever
// copied into a result.
const (
	excTimedOut       = "request timed out"
	excCanceled       = "request canceled"
	excConnection     = "connection failed"
	excProxy          = "proxy connection failed"
	excDNS            = "vendor address lookup failed"
	excUnparseable    = "unparseable response"
	excEncoding       = "request encoding failed"
	excVendorTimedOut = "vendor reported a timeout"
	excVendorPrefix   = "vendor reported "
)

// caller makes one kind of vendor request: it owns the endpoint and turns
// whatever happens on the wire into a VendorResult.
type caller struct {
	client  *http.Client
	url     string
	timeout time.Duration
	vendor  string
	guard   Guard
}

// newCaller fills e's empty fields with the given defaults and checks its URL.
func newCaller(client *http.Client, e Endpoint, path, name string, timeout time.Duration) (caller, error) {
	if client == nil {
		return caller{}, errors.New("vendors: nil http client")
	}
	e = e.orDefaults(name, timeout)
	if err := checkBaseURL(e.URL); err != nil {
		return caller{}, fmt.Errorf("vendors: %s endpoint url: %w", e.Name, err)
	}
	return caller{client: client, url: join(e.URL, path), timeout: e.Timeout, vendor: e.Name, guard: e.Guard}, nil
}

// call POSTs body as JSON and maps the outcome. a is the applicant the body
// was built from: strings in the answer that contain its values are dropped.
func (c caller) call(ctx context.Context, body any, a idv.Applicant) idv.VendorResult {
	start := time.Now()
	done, shed := c.admit(ctx)
	if shed != nil {
		shed.Vendor = c.vendor
		return *shed
	}
	r := c.exchange(ctx, body, a)
	done(Fault(r))
	r.Vendor = c.vendor
	r.DurationMS = time.Since(start).Milliseconds()
	return r
}

func (c caller) exchange(ctx context.Context, body any, a idv.Applicant) idv.VendorResult {
	payload, err := json.Marshal(body)
	if err != nil {
		return idv.VendorResult{Exception: excEncoding}
	}
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, c.url, bytes.NewReader(payload))
	if err != nil {
		return idv.VendorResult{Exception: excEncoding}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return faultResult(callCtx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return idv.VendorResult{Exception: fmt.Sprintf("vendor returned HTTP %d", resp.StatusCode)}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return faultResult(callCtx, err)
	}
	var wr VerifyResponse
	if len(raw) > maxResponse || json.Unmarshal(raw, &wr) != nil || wr.Success == nil {
		return idv.VendorResult{Exception: excUnparseable}
	}
	return fromWire(wr, newScrubber(a))
}

// faultResult maps a transport error to a result.
func faultResult(ctx context.Context, err error) idv.VendorResult {
	desc, timedOut := transportFault(ctx, err)
	return idv.VendorResult{Exception: desc, TimedOut: timedOut}
}

// transportFault describes err without quoting it and says whether it is a
// timeout. The request context decides first: when it is done, the error is
// whatever the transport made of the cancellation. A deadline (ours or the
// caller's) is a timeout; a cancellation by the caller, such as a worker
// shutting down, is an exception.
func transportFault(ctx context.Context, err error) (string, bool) {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return excTimedOut, true
	case ctx.Err() != nil, errors.Is(err, context.Canceled):
		return excCanceled, false
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return excTimedOut, true
	}
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Op == "proxyconnect" {
		return excProxy, false
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return excDNS, false
	}
	return excConnection, false
}

// fromWire maps a decoded answer, keeping only strings that pass s.
func fromWire(wr VerifyResponse, s scrubber) idv.VendorResult {
	r := idv.VendorResult{
		Success:       *wr.Success,
		TransactionID: s.token(wr.TransactionID),
		Reference:     s.token(wr.Reference),
	}
	for name, codes := range wr.Errors {
		attr := s.attribute(name)
		if r.Errors == nil {
			r.Errors = map[string][]string{}
		}
		for _, code := range codes {
			r.Errors[attr] = appendUnique(r.Errors[attr], s.code(code))
		}
		if len(r.Errors[attr]) == 0 {
			r.Errors[attr] = []string{codeUnverified}
		}
	}
	for _, name := range wr.VerifiedAttributes {
		if attr := s.attribute(name); attr != attrOther {
			r.VerifiedAttributes = appendUnique(r.VerifiedAttributes, attr)
		}
	}
	if wr.TimedOut {
		r.Success, r.TimedOut, r.Exception = false, true, excVendorTimedOut
	} else if wr.Exception != "" {
		r.Success, r.Exception = false, excVendorPrefix+s.code(wr.Exception)
	}
	return r
}

func appendUnique(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}
