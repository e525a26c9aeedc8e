package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

// Both limits are decided by the limiter's atomic answer to the increment,
// never by a check before it: the increment is counted against Max+1, so
// the request that would be the (Max+1)th finds the target limited, and so
// does every later one until the window ends. Two concurrent requests can
// therefore never both be the Max-th.

// allow counts one use of l for target and reports whether it fits.
func (h *Handler) allow(ctx context.Context, l ratelimit.Limit, target string) (ratelimit.Attempts, bool, error) {
	l.Max++
	a, err := h.o.Limiter.Increment(ctx, l, target)
	if err != nil {
		return a, false, err
	}
	return a, !a.Limited, nil
}

// allowRequest applies the per-RP request limit in fixed windows: the
// window's number is part of the target, so steady traffic under the limit
// is never refused (the limiter's windows slide with every attempt).
func (h *Handler) allowRequest(ctx context.Context, rp idv.RelyingParty) error {
	l := h.o.RequestLimit
	now := h.o.Now()
	n := now.UnixNano() / int64(l.Window)
	_, ok, err := h.allow(ctx, l, rp.ID+"@"+strconv.FormatInt(n, 10))
	switch {
	case err != nil:
		return err
	case !ok:
		end := time.Unix(0, (n+1)*int64(l.Window))
		return &Problem{Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: end.Sub(now),
			Detail: "more than " + strconv.Itoa(l.Max) + " requests in " + l.Window.String() + "; slow down"}
	}
	return nil
}

// allowCreate applies the per-end-user limit on new verifications. The
// window's end comes from the limiter's clock (Redis's), hence time.Until.
func (h *Handler) allowCreate(ctx context.Context, rp idv.RelyingParty, ref string) error {
	l := h.o.ReferenceLimit
	a, ok, err := h.allow(ctx, l, rp.ID+"@"+ref)
	switch {
	case err != nil:
		return err
	case !ok:
		return &Problem{Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: max(time.Until(a.ResetAt), time.Second),
			Detail: "too many verifications for this client_reference_id; try again later"}
	}
	return nil
}
