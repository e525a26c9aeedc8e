// Package vendors holds the HTTP clients idv uses to ask outside vendors
// about a person: identity resolution, state-ID (AAMVA-style) checks, phone
// ownership and document authentication. They implement the domain's
// ResolutionProofer, StateIDProofer, PhoneProofer and DocumentProofer.
//
// Every call returns an idv.VendorResult, never a Go error: a vendor that
// says no is a failure, one that does not answer in time is timed out, and
// one we cannot talk to (connection refused, HTTP 5xx, a body we cannot
// read) is an exception. None of those results carries PII: exception texts
// are fixed phrases chosen here, and every string taken from a vendor's
// answer is checked against a strict character set and against the
// applicant's own values before it is kept (see scrub.go).
//
// All requests go through one http.Client whose transport sends them to the
// configured egress proxy (see transport.go). The request and response
// bodies are defined in wire.go; the simulators in vendors/sim speak the
// same protocol.
package vendors
