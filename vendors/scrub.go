package vendors

import (
	"regexp"
	"strings"

	"github.com/idv-dev/idv"
)

// A vendor's answer is outside input: a careless or broken vendor could echo
// the request into an error message or a transaction id, and results are
// stored, logged and shown. So every string kept from an answer is either a
// name from a fixed vocabulary or a short token that contains none of the
// applicant's values.

// knownAttributes are the attribute names results may carry. A name outside
// the list becomes attrOther in errors and is dropped from verified
// attributes.
var knownAttributes = map[string]bool{
	"first_name": true, "last_name": true, "name": true, "dob": true, "ssn": true,
	"address": true, "address1": true, "address2": true, "city": true, "state": true, "zipcode": true,
	"state_id_number": true, "state_id_jurisdiction": true, "state_id_expiration": true,
	"state_id_type": true, "phone": true,
}

const (
	attrOther      = "other"      // an attribute name we do not know
	codeUnverified = "unverified" // an error code we cannot keep
)

var (
	reCode   = regexp.MustCompile(`^[a-z0-9][a-z0-9_.]{0,63}$`)
	reToken  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)
	nonDigit = regexp.MustCompile(`\D`)
)

// scrubber knows the applicant's values that an answer must not contain.
type scrubber struct {
	values []string // lower case
}

// newScrubber collects the applicant's values long enough to be telling
// (four characters or more, so that "MD" or "12" do not reject every
// token), with digit-only forms of SSN, date of birth and phone.
func newScrubber(a idv.Applicant) scrubber {
	var s scrubber
	add := func(v string) {
		if v = strings.ToLower(strings.TrimSpace(v)); len(v) >= 4 {
			s.values = append(s.values, v)
		}
	}
	for _, v := range []string{a.FirstName, a.LastName, a.DOB, a.SSN, a.Address1, a.Address2,
		a.City, a.ZIPCode, a.StateIDNumber, a.StateIDExpiration, a.Phone} {
		add(v)
	}
	for _, v := range []string{a.SSN, a.DOB, a.Phone, a.StateIDExpiration} {
		add(nonDigit.ReplaceAllString(v, ""))
	}
	return s
}

// clean reports whether v contains none of the applicant's values.
func (s scrubber) clean(v string) bool {
	lv := strings.ToLower(v)
	for _, p := range s.values {
		if strings.Contains(lv, p) {
			return false
		}
	}
	return true
}

// attribute keeps a known attribute name.
func (s scrubber) attribute(v string) string {
	if knownAttributes[v] {
		return v
	}
	return attrOther
}

// code keeps a short snake_case code that carries no applicant value.
func (s scrubber) code(v string) string {
	if reCode.MatchString(v) && s.clean(v) {
		return v
	}
	return codeUnverified
}

// token keeps an identifier (transaction id, reference) that carries no
// applicant value; anything else is dropped.
func (s scrubber) token(v string) string {
	if reToken.MatchString(v) && s.clean(v) {
		return v
	}
	return ""
}
