package sim

import (
	"strings"

	"github.com/idv-dev/idv/vendors"
)

// resolution decides an identity-resolution request, in the trigger order
// of the identity provider behind the seeds: the name triggers first, then
// the SSN, then the ZIP code.
func (s *Simulator) resolution(req vendors.ResolutionRequest) answer {
	name := strings.ToLower(req.FirstName)
	ssn := digits(req.SSN)
	switch {
	case strings.Contains(name, "fail"):
		return answer{kind: answerError}
	case ssn == "000000000":
		return answer{kind: answerUnreachable}
	case strings.Contains(name, "bad"):
		return verdict("res", map[string]string{"first_name": vendors.CodeFirstNameMismatch})
	case strings.Contains(name, "time"):
		return answer{kind: answerHang}
	case strings.Contains(name, "parse"):
		return answer{kind: answerGarbage}
	case !s.ssnAllowed(ssn):
		return verdict("res", map[string]string{"ssn": vendors.CodeSSNNotFound})
	case strings.HasPrefix(digits(req.ZIPCode), "00000"):
		return verdict("res", map[string]string{"zipcode": vendors.CodeZIPCodeUnverified})
	}
	return verdict("res", nil, "first_name", "last_name", "dob", "ssn", "address")
}

// ssnAllowed accepts only SSNs that cannot be a real person's (900 and 666
// are never issued) or that are allow-listed, which limits the chance that
// real PII is used in testing.
func (s *Simulator) ssnAllowed(ssn string) bool {
	return strings.HasPrefix(ssn, "900") || strings.HasPrefix(ssn, "666") || s.allowedSSNs[ssn]
}
