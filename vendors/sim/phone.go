package sim

import (
	"strings"

	"github.com/idv-dev/idv/vendors"
)

// Phone numbers with a fixed behaviour, the test numbers of the identity
// provider behind the seeds.
const (
	phoneUnverifiable = "7035555555"
	phoneTimeout      = "7035555888"
	phoneException    = "7035555999"
)

// phone decides a PhoneFinder-like request. The number is compared as ten
// digits, without punctuation or a leading country code 1.
func (s *Simulator) phone(req vendors.PhoneRequest) answer {
	p := digits(req.Phone)
	if len(p) == 11 {
		p = strings.TrimPrefix(p, "1")
	}
	switch p {
	case phoneUnverifiable:
		return verdict("phn", map[string]string{"phone": vendors.CodePhoneUnverifiable})
	case phoneTimeout:
		return answer{kind: answerHang}
	case phoneException:
		return answer{kind: answerError}
	}
	return verdict("phn", nil, "phone")
}
