package vendors_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/vendors/sim"
)

// shortTimeout is the client timeout of the timeout triggers: long enough
// for loopback, short enough to keep the tests fast.
const shortTimeout = 100 * time.Millisecond

// TestTriggers drives every simulator trigger through the real clients over
// HTTP and checks the VendorResult each one maps to.
func TestTriggers(t *testing.T) {
	t.Parallel()
	srv, _ := startSim(t, sim.Options{
		AllowedSSNs:   []string{"555-55-5555"},
		Jurisdictions: []string{"VA", "MD"},
	})
	normal := clients(t, vendors.Config{BaseURL: srv.URL, Timeout: 5 * time.Second})
	short := clients(t, vendors.Config{BaseURL: srv.URL, Timeout: shortTimeout})

	tests := []struct {
		name     string
		stage    string
		edit     func(*idv.Applicant)
		short    bool // use the short client timeout
		outcome  idv.Outcome
		errs     map[string][]string
		exc      string
		verified []string
	}{
		// Identity resolution.
		{name: "resolution success", stage: "resolution", outcome: idv.OutcomeSuccess,
			verified: []string{"first_name", "last_name", "dob", "ssn", "address"}},
		{name: "resolution SSN 666", stage: "resolution", edit: func(a *idv.Applicant) { a.SSN = "666-12-3456" },
			outcome: idv.OutcomeSuccess, verified: []string{"first_name", "last_name", "dob", "ssn", "address"}},
		{name: "resolution SSN without dashes", stage: "resolution", edit: func(a *idv.Applicant) { a.SSN = "900123456" },
			outcome: idv.OutcomeSuccess, verified: []string{"first_name", "last_name", "dob", "ssn", "address"}},
		{name: "resolution SSN allow-listed", stage: "resolution", edit: func(a *idv.Applicant) { a.SSN = "555555555" },
			outcome: idv.OutcomeSuccess, verified: []string{"first_name", "last_name", "dob", "ssn", "address"}},
		{name: "resolution SSN not 900 or 666", stage: "resolution", edit: func(a *idv.Applicant) { a.SSN = "123-45-6789" },
			outcome: idv.OutcomeFailure, errs: map[string][]string{"ssn": {"ssn_not_found"}}},
		{name: "resolution SSN unreachable", stage: "resolution", edit: func(a *idv.Applicant) { a.SSN = "000-00-0000" },
			outcome: idv.OutcomeException, exc: "connection failed"},
		{name: "resolution SSN unreachable without dashes", stage: "resolution", edit: func(a *idv.Applicant) { a.SSN = "000000000" },
			outcome: idv.OutcomeException, exc: "connection failed"},
		{name: "resolution first name Fail", stage: "resolution", edit: func(a *idv.Applicant) { a.FirstName = "Fail" },
			outcome: idv.OutcomeException, exc: "vendor returned HTTP 500"},
		{name: "resolution first name containing fail", stage: "resolution", edit: func(a *idv.Applicant) { a.FirstName = "Mofailo" },
			outcome: idv.OutcomeException, exc: "vendor returned HTTP 500"},
		{name: "resolution first name Time", stage: "resolution", edit: func(a *idv.Applicant) { a.FirstName = "Time" },
			short: true, outcome: idv.OutcomeTimedOut, exc: "request timed out"},
		{name: "resolution first name Parse", stage: "resolution", edit: func(a *idv.Applicant) { a.FirstName = "PARSE" },
			outcome: idv.OutcomeException, exc: "unparseable response"},
		{name: "resolution first name Bad", stage: "resolution", edit: func(a *idv.Applicant) { a.FirstName = "Bad" },
			outcome: idv.OutcomeFailure, errs: map[string][]string{"first_name": {"first_name_mismatch"}}},
		{name: "resolution ZIP 00000", stage: "resolution", edit: func(a *idv.Applicant) { a.ZIPCode = "00000" },
			outcome: idv.OutcomeFailure, errs: map[string][]string{"zipcode": {"zipcode_unverified"}}},

		// State ID.
		{name: "state ID success", stage: "state_id", outcome: idv.OutcomeSuccess,
			verified: []string{"address", "dob", "state_id_number"}},
		{name: "state ID mvatimeout", stage: "state_id", edit: func(a *idv.Applicant) { a.StateIDNumber = "mvatimeout" },
			outcome: idv.OutcomeTimedOut, exc: "vendor reported a timeout"},
		{name: "state ID MVATIMEOUT", stage: "state_id", edit: func(a *idv.Applicant) { a.StateIDNumber = "MVATimeout" },
			outcome: idv.OutcomeTimedOut, exc: "vendor reported a timeout"},
		{name: "state ID all zeros", stage: "state_id", edit: func(a *idv.Applicant) { a.StateIDNumber = "0000000" },
			outcome: idv.OutcomeFailure, errs: map[string][]string{"state_id_number": {"state_id_number_invalid"}}},
		{name: "state ID one zero", stage: "state_id", edit: func(a *idv.Applicant) { a.StateIDNumber = "0" },
			outcome: idv.OutcomeFailure, errs: map[string][]string{"state_id_number": {"state_id_number_invalid"}}},
		{name: "state ID jurisdiction unsupported", stage: "state_id", edit: func(a *idv.Applicant) { a.StateIDJurisdiction = "TX" },
			outcome: idv.OutcomeFailure, errs: map[string][]string{"state_id_jurisdiction": {"jurisdiction_unsupported"}}},

		// Phone.
		{name: "phone success", stage: "phone", outcome: idv.OutcomeSuccess, verified: []string{"phone"}},
		{name: "phone unverifiable", stage: "phone", edit: func(a *idv.Applicant) { a.Phone = "7035555555" },
			outcome: idv.OutcomeFailure, errs: map[string][]string{"phone": {"phone_unverifiable"}}},
		{name: "phone unverifiable with country code", stage: "phone", edit: func(a *idv.Applicant) { a.Phone = "+1 (703) 555-5555" },
			outcome: idv.OutcomeFailure, errs: map[string][]string{"phone": {"phone_unverifiable"}}},
		{name: "phone timeout", stage: "phone", edit: func(a *idv.Applicant) { a.Phone = "7035555888" },
			short: true, outcome: idv.OutcomeTimedOut, exc: "request timed out"},
		{name: "phone exception", stage: "phone", edit: func(a *idv.Applicant) { a.Phone = "7035555999" },
			outcome: idv.OutcomeException, exc: "vendor returned HTTP 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := applicant()
			if tt.edit != nil {
				tt.edit(&a)
			}
			c := normal
			if tt.short {
				c = short
			}
			r := proof(t, c, t.Context(), tt.stage, a)

			if got := r.Outcome(); got != tt.outcome {
				t.Fatalf("outcome = %s, want %s (result %+v)", got, tt.outcome, r)
			}
			if !reflect.DeepEqual(r.Errors, tt.errs) {
				t.Errorf("errors = %v, want %v", r.Errors, tt.errs)
			}
			if r.Exception != tt.exc {
				t.Errorf("exception = %q, want %q", r.Exception, tt.exc)
			}
			if !slices.Equal(r.VerifiedAttributes, tt.verified) {
				t.Errorf("verified attributes = %v, want %v", r.VerifiedAttributes, tt.verified)
			}
			if want := map[string]string{"resolution": vendors.NameResolution, "state_id": vendors.NameStateID, "phone": vendors.NamePhone}[tt.stage]; r.Vendor != want {
				t.Errorf("vendor = %q, want %q", r.Vendor, want)
			}
			// A verdict carries the vendor's ids; a fault has none to carry.
			if tt.outcome == idv.OutcomeSuccess || tt.outcome == idv.OutcomeFailure {
				if r.TransactionID == "" || r.Reference == "" {
					t.Errorf("transaction id %q, reference %q: want both", r.TransactionID, r.Reference)
				}
			}
			if tt.short && r.DurationMS < shortTimeout.Milliseconds() {
				t.Errorf("duration %d ms, want at least the %v timeout", r.DurationMS, shortTimeout)
			}
		})
	}
}

// TestLatency checks that the simulated latency delays every answer and
// that a client giving up during it gets a timeout, not a late answer.
func TestLatency(t *testing.T) {
	t.Parallel()
	const latency = 50 * time.Millisecond
	tests := []struct {
		name    string
		latency time.Duration
		timeout time.Duration
		outcome idv.Outcome
	}{
		{"answered after the latency", latency, 5 * time.Second, idv.OutcomeSuccess},
		{"latency beyond the client timeout", time.Hour, shortTimeout, idv.OutcomeTimedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := startSim(t, sim.Options{Latency: tt.latency})
			c := clients(t, vendors.Config{BaseURL: srv.URL, Timeout: tt.timeout})
			for _, stage := range []string{"resolution", "state_id", "phone"} {
				r := proof(t, c, t.Context(), stage, applicant())
				if r.Outcome() != tt.outcome {
					t.Fatalf("%s: outcome %s, want %s (%+v)", stage, r.Outcome(), tt.outcome, r)
				}
				if floor := min(tt.latency, tt.timeout).Milliseconds(); r.DurationMS < floor {
					t.Errorf("%s: duration %d ms, want at least %d", stage, r.DurationMS, floor)
				}
			}
		})
	}
}

// TestCallerContext checks that the caller's own context bounds a call: a
// cancelled context (a worker shutting down) is an exception, an expired
// deadline a timeout, and neither panics or waits for the vendor.
func TestCallerContext(t *testing.T) {
	t.Parallel()
	srv, _ := startSim(t, sim.Options{})
	c := clients(t, vendors.Config{BaseURL: srv.URL, Timeout: 5 * time.Second})
	hang := applicant()
	hang.FirstName = "Time"

	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		r := c.Resolution.ProofResolution(ctx, hang)
		if r.Outcome() != idv.OutcomeException || r.Exception != "request canceled" {
			t.Fatalf("got %+v, want exception %q", r, "request canceled")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), shortTimeout)
		defer cancel()
		r := c.Resolution.ProofResolution(ctx, hang)
		if r.Outcome() != idv.OutcomeTimedOut {
			t.Fatalf("got %+v, want timed out", r)
		}
	})
}
