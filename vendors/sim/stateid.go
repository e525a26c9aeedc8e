package sim

import (
	"crypto/rand"
	"strings"

	"github.com/idv-dev/idv/vendors"
)

// stateID decides an AAMVA-like request.
//
// On success it verifies address, dob and state_id_number, as the identity
// provider's mock does. It leaves first_name out on purpose: adjudication
// lets attributes the state verified cover a resolution failure, and the
// "Bad" first-name trigger must still fail.
func (s *Simulator) stateID(req vendors.StateIDRequest) answer {
	number := strings.TrimSpace(req.StateIDNumber)
	switch {
	case strings.EqualFold(number, "mvatimeout"):
		// AAMVA answers promptly that the state's agency did not: a
		// timeout behind the vendor, reported in the body.
		no := false
		return answer{kind: answerJSON, body: vendors.VerifyResponse{
			Success:       &no,
			TimedOut:      true,
			Exception:     vendors.CodeMVATimeout,
			TransactionID: "sid-" + rand.Text(),
		}}
	case !s.jurisdictions[strings.ToUpper(strings.TrimSpace(req.StateIDJurisdiction))]:
		return verdict("sid", map[string]string{"state_id_jurisdiction": vendors.CodeJurisdictionUnsupported})
	case strings.Trim(number, "0") == "":
		return verdict("sid", map[string]string{"state_id_number": vendors.CodeStateIDNumberInvalid})
	}
	return verdict("sid", nil, "address", "dob", "state_id_number")
}
