package api

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/idv-dev/idv"
)

// Stable problem codes: a relying party's code branches on these, never on
// the detail text.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeUnauthorized         = "unauthorized"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeConflict             = "conflict"
	CodeIdempotencyConflict  = "idempotency_conflict"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeRateLimited          = "rate_limited"
	CodeInternal             = "internal"
	CodeUnavailable          = "unavailable"
)

var titles = map[string]string{
	CodeInvalidRequest:       "The request is not valid",
	CodeUnauthorized:         "A valid API key is required",
	CodeNotFound:             "Not found",
	CodeMethodNotAllowed:     "Method not allowed",
	CodeConflict:             "The request conflicts with the verification's state",
	CodeIdempotencyConflict:  "The Idempotency-Key was used with another request",
	CodePayloadTooLarge:      "The request body is too large",
	CodeUnsupportedMediaType: "The request body must be JSON",
	CodeRateLimited:          "Too many requests",
	CodeInternal:             "Internal error",
	CodeUnavailable:          "Temporarily unavailable",
}

// Problem is an RFC 9457 problem answer. Detail is safe to show and to log:
// it never quotes the request's values.
type Problem struct {
	Status int
	Code   string
	Detail string
	// Field names the request field at fault, if one is.
	Field string
	// RetryAfter, when positive, is sent as Retry-After (whole seconds).
	RetryAfter time.Duration
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

func invalid(field, detail string) *Problem {
	return &Problem{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Field: field, Detail: detail}
}

// notFound is the one answer for a verification that does not exist and
// for another relying party's: the two must not be told apart.
var notFound = &Problem{Status: http.StatusNotFound, Code: CodeNotFound, Detail: "no verification with this id"}

// problemOf maps an error to its problem: a *Problem as it is, a domain
// error by its code, anything else as internal.
func problemOf(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	switch idv.ErrorCode(err) {
	case idv.EINVALID:
		return &Problem{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Detail: idv.ErrorMessage(err)}
	case idv.ENOTFOUND:
		return notFound
	case idv.ECONFLICT:
		return &Problem{Status: http.StatusConflict, Code: CodeConflict, Detail: idv.ErrorMessage(err)}
	case idv.ERATELIMITED:
		return &Problem{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Detail: idv.ErrorMessage(err)}
	case idv.EUNAVAILABLE:
		return &Problem{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, RetryAfter: time.Second,
			Detail: "a service idv depends on is unavailable; try again shortly"}
	}
	return &Problem{Status: http.StatusInternalServerError, Code: CodeInternal, Detail: "internal error"}
}

// fail answers err as a problem. The error itself goes to the request's log
// line only when it is idv's fault (5xx): domain errors are PII-free by
// contract, and a 4xx detail is already in the answer.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(err)
	info := infoOf(r.Context())
	info.code = p.Code
	if p.Status >= 500 {
		info.err = err.Error()
	}
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(p.RetryAfter.Seconds()))))
	}
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="idv"`)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(problemBody{
		Type: "urn:idv:problem:" + p.Code, Title: titles[p.Code], Status: p.Status, Detail: p.Detail,
		Code: p.Code, Field: p.Field,
	})
}

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
}
