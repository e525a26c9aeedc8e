package idv

import (
	"errors"
	"fmt"
)

// Error codes. They are mapped once to HTTP status codes at the edge (web), so
// handlers stay short and the messages a person sees stay safe.
const (
	EINVALID     = "invalid"      // bad input from a person or a client
	ENOTFOUND    = "not_found"    // the thing asked for does not exist (or expired)
	ECONFLICT    = "conflict"     // the request clashes with state (e.g. a job already pending)
	ERATELIMITED = "rate_limited" // too many attempts
	ETAMPERED    = "tampered"     // a ciphertext failed authentication or is malformed
	EUNAVAILABLE = "unavailable"  // a dependency (database, Redis, KMS) cannot be reached
	EINTERNAL    = "internal"     // anything else
)

// Error is an application error. Message is safe to show to a person and to
// log: it must never contain PII. The wrapped Err (if any) is for operators and
// must obey the same rule, so wrap only errors that are known to be PII-free.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("idv %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("idv %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with the given code and message that wraps err.
func WrapError(code, message string, err error) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the person-safe message of the first *Error in err's
// chain, or a generic message for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrNotFound is returned by stores for a key that does not exist or expired.
var ErrNotFound = &Error{Code: ENOTFOUND, Message: "not found"}

// ErrDiscardJob marks a job error as final: the queue records it and never
// retries the job (a stale job, arguments that do not open). Wrap it:
// fmt.Errorf("%w: stale job", idv.ErrDiscardJob). Job errors are stored by
// the queue, so their text must be PII-free like every other error.
var ErrDiscardJob = &Error{Code: EINVALID, Message: "job discarded"}
