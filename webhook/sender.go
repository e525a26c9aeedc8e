package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/idv-dev/idv"
)

// DefaultTimeout bounds one attempt when Sender.Timeout is zero. RPs are
// asked to answer at once and work later; a slow one is retried.
const DefaultTimeout = 15 * time.Second

// maxResponseBytes is how much of an answer is read (and thrown away) so
// the connection can be reused; the rest is dropped with the connection.
const maxResponseBytes = 64 << 10

// userAgent identifies idv's requests in the RP's logs.
const userAgent = "idv-webhooks/1"

// Attempt codes: what stopped an attempt, for the attempt's record and for
// metrics labels. Empty for a delivered event.
const (
	CodeInvalid     = "invalid"     // the event or the secret is unusable (our side)
	CodeDestination = "destination" // the URL or the address it reached is refused by policy
	CodeDNS         = "dns"         // the host does not resolve
	CodeTimeout     = "timeout"     // no answer within the timeout
	CodeCanceled    = "canceled"    // the caller's context ended first
	CodeTLS         = "tls"         // TLS handshake or certificate failure
	CodeConnection  = "connection"  // could not connect, or the connection broke
	CodeHTTPStatus  = "http_status" // an answer that is not 2xx (redirects included)
)

// Attempt is the record of one delivery attempt. It never holds the body
// sent or received.
type Attempt struct {
	StatusCode int           // the answer's status; 0 when none came
	Latency    time.Duration // from sending the request to the end of the (bounded) answer
	Error      string        // one of the Code constants; "" when delivered
}

// Sender makes delivery attempts. The zero value needs only Client.
type Sender struct {
	// Client sends the requests: NewHTTPClient's, or another (such as the
	// vendors' egress client); redirects are never followed whatever its
	// CheckRedirect says. Without a proxy, only NewHTTPClient's refuses
	// non-public addresses at connect time.
	Client *http.Client
	// AllowInsecure lets events go to http and non-public destinations
	// (tests, `idv dev`).
	AllowInsecure bool
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for webhook-timestamp; default time.Now.
	Now func() time.Time

	resolver resolver // tests; default net.DefaultResolver
}

// Permanent reports whether an error of Deliver will recur on every retry
// (a bad event or secret, a refused destination), so the caller can stop
// instead of retrying for days. Every other error is worth a retry.
func Permanent(err error) bool { return idv.ErrorCode(err) == idv.EINVALID }

// Deliver makes one attempt to POST ev to dest and returns its record. The
// event is delivered when the error is nil (a 2xx answer). Errors are
// EINVALID when Permanent and EUNAVAILABLE otherwise; their text holds
// codes, hosts and statuses, never the secret, the body or the URL's query.
func (s *Sender) Deliver(ctx context.Context, dest Destination, ev Event) (Attempt, error) {
	if s.Client == nil {
		return Attempt{Error: CodeInvalid}, idv.Errorf(idv.EINVALID, "webhook sender needs an HTTP client")
	}
	payload, err := ev.Body()
	if err != nil {
		return Attempt{Error: CodeInvalid}, err
	}
	wh, err := parseSecret(dest.Secret)
	if err != nil {
		return Attempt{Error: CodeInvalid}, err
	}
	if err := checkURL(ctx, cmp.Or[resolver](s.resolver, net.DefaultResolver), dest.URL, s.AllowInsecure); err != nil {
		code := CodeDestination
		if !Permanent(err) {
			code = CodeDNS
		}
		return Attempt{Error: code}, err
	}

	ctx, cancel := context.WithTimeout(ctx, cmp.Or(s.Timeout, DefaultTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest.URL, bytes.NewReader(payload))
	if err != nil {
		return Attempt{Error: CodeInvalid}, idv.Errorf(idv.EINVALID, "webhook request cannot be made")
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ts := now()
	sig, err := wh.Sign(ev.ID, ts, payload)
	if err != nil {
		return Attempt{Error: CodeInvalid}, idv.Errorf(idv.EINVALID, "webhook signature cannot be made")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(standardwebhooks.HeaderWebhookID, ev.ID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)

	client := *s.Client
	client.CheckRedirect = noRedirects
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		a := Attempt{Latency: time.Since(start), Error: transportCode(ctx, err)}
		if a.Error == CodeDestination {
			return a, idv.Errorf(idv.EINVALID, "webhook to %s not delivered: %s", req.URL.Host, a.Error)
		}
		return a, idv.WrapError(idv.EUNAVAILABLE, "webhook to "+req.URL.Host+" not delivered: "+a.Error, unwrapURLError(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close()
	a := Attempt{StatusCode: resp.StatusCode, Latency: time.Since(start)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.Error = CodeHTTPStatus
		return a, idv.Errorf(idv.EUNAVAILABLE, "webhook to %s not delivered: HTTP %d", req.URL.Host, resp.StatusCode)
	}
	return a, nil
}

// transportCode names what went wrong before an answer came.
func transportCode(ctx context.Context, err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, errNotPublic):
		return CodeDestination
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	case ctx.Err() != nil:
		return CodeCanceled
	case errors.As(err, &dnsErr):
		return CodeDNS
	case errors.As(err, &certErr) || errors.As(err, &recordErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr):
		return CodeTLS
	default:
		return CodeConnection
	}
}

// unwrapURLError drops the *url.Error layer, which quotes the whole URL
// (an RP may put a token in its query string).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
