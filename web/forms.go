package web

import (
	"net/url"
	"time"

	"github.com/idv-dev/idv"
)

// The form parsers of the verify_info and phone steps, as pure functions of
// the posted values, so they can be fuzzed (fuzz_test.go) apart from
// sessions and HTTP.

// parseVerifyInfo reads the verify_info form (DESIGN.md 2a) over prev, the
// applicant the session holds: the form does not carry the ID's expiry or
// the phone, so those are kept. The result is normalized; fe is nil when
// every field is valid. Field errors never echo a value.
func parseVerifyInfo(form url.Values, prev idv.Applicant, now time.Time) (a idv.Applicant, fe idv.FieldErrors) {
	a = idv.Applicant{
		FirstName: form.Get("first_name"), LastName: form.Get("last_name"),
		DOB: form.Get("dob"), SSN: form.Get("ssn"),
		Address1: form.Get("address1"), Address2: form.Get("address2"),
		City: form.Get("city"), State: form.Get("state"), ZIPCode: form.Get("zipcode"),
		StateIDNumber: form.Get("state_id_number"), StateIDJurisdiction: form.Get("state_id_jurisdiction"),
		StateIDExpiration: prev.StateIDExpiration, Phone: prev.Phone,
	}
	a.Normalize()
	return a, a.ValidateIdentity(now)
}

// parsePhone reads the phone form over prev: only the phone changes.
func parsePhone(form url.Values, prev idv.Applicant) (idv.Applicant, idv.FieldErrors) {
	prev.Phone = idv.NormalizePhone(form.Get("phone"))
	return prev, prev.ValidatePhone()
}
