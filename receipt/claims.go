package receipt

import (
	"encoding/json"
	"time"

	"github.com/idv-dev/idv"
)

// Status is the final status of a verification, as a receipt states it.
type Status string

// A receipt is only signed for a final status.
const (
	StatusVerified Status = "verified"
	StatusFailed   Status = "failed"
	StatusCanceled Status = "canceled"
	StatusExpired  Status = "expired"
)

// CheckOutcome is what became of one check of a verification.
type CheckOutcome string

// Check outcomes. NotRun covers a step the RP did not ask for as well as
// one the person never reached.
const (
	CheckPassed CheckOutcome = "passed"
	CheckFailed CheckOutcome = "failed"
	CheckNotRun CheckOutcome = "not_run"
)

// Checks is the outcome of each check. An empty field is sent as not_run.
type Checks struct {
	Document   CheckOutcome `json:"document"`
	Resolution CheckOutcome `json:"resolution"`
	StateID    CheckOutcome `json:"state_id"`
	Phone      CheckOutcome `json:"phone"`
}

// Claims is the payload of a receipt. It has no field for anything about
// the person, by design: an RP learns who the person is from the outputs
// of the API (when it may read them), never from a receipt, which it may
// forward or log.
//
// Times travel as JWT NumericDates (seconds since the epoch). Signer.Sign
// fills Issuer and IssuedAt when they are empty.
type Claims struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"` // the RP's id
	Subject  string `json:"sub"` // the verification's id
	// IssuedAt is when the receipt was signed.
	IssuedAt time.Time `json:"iat"`
	Status   Status    `json:"status"`
	Checks   Checks    `json:"checks"`
	// VerifiedAt is when the verification became verified; it is set for
	// StatusVerified only.
	VerifiedAt time.Time `json:"verified_at,omitzero"`
}

// claimsJSON is Claims on the wire.
type claimsJSON struct {
	Issuer     string `json:"iss"`
	Audience   string `json:"aud"`
	Subject    string `json:"sub"`
	IssuedAt   int64  `json:"iat"`
	Status     Status `json:"status"`
	Checks     Checks `json:"checks"`
	VerifiedAt *int64 `json:"verified_at,omitempty"`
}

// MarshalJSON writes the times as NumericDates and empty check outcomes as
// not_run.
func (c Claims) MarshalJSON() ([]byte, error) {
	w := claimsJSON{Issuer: c.Issuer, Audience: c.Audience, Subject: c.Subject,
		IssuedAt: c.IssuedAt.Unix(), Status: c.Status, Checks: c.Checks.withDefaults()}
	if !c.VerifiedAt.IsZero() {
		v := c.VerifiedAt.Unix()
		w.VerifiedAt = &v
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON writes, as an RP written in Go would.
func (c *Claims) UnmarshalJSON(b []byte) error {
	var w claimsJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Claims{Issuer: w.Issuer, Audience: w.Audience, Subject: w.Subject,
		IssuedAt: time.Unix(w.IssuedAt, 0).UTC(), Status: w.Status, Checks: w.Checks}
	if w.VerifiedAt != nil {
		c.VerifiedAt = time.Unix(*w.VerifiedAt, 0).UTC()
	}
	return nil
}

func (c Checks) withDefaults() Checks {
	for _, o := range []*CheckOutcome{&c.Document, &c.Resolution, &c.StateID, &c.Phone} {
		if *o == "" {
			*o = CheckNotRun
		}
	}
	return c
}

// Validate reports a receipt that should not be signed: missing ids, a
// status that is not final, an unknown check outcome, or a verified_at
// that does not go with the status. These are programming errors of the
// caller (EINVALID).
func (c Claims) Validate() error {
	switch {
	case c.Issuer == "" || c.Audience == "" || c.Subject == "":
		return idv.Errorf(idv.EINVALID, "a receipt needs an issuer, an audience and a subject")
	case c.Status != StatusVerified && c.Status != StatusFailed && c.Status != StatusCanceled && c.Status != StatusExpired:
		return idv.Errorf(idv.EINVALID, "a receipt is only signed for a final status, not %q", c.Status)
	case c.Status == StatusVerified && c.VerifiedAt.IsZero():
		return idv.Errorf(idv.EINVALID, "a verified receipt needs verified_at")
	case c.Status != StatusVerified && !c.VerifiedAt.IsZero():
		return idv.Errorf(idv.EINVALID, "verified_at is only for a verified receipt")
	}
	checks := c.Checks.withDefaults()
	for name, o := range map[string]CheckOutcome{"document": checks.Document, "resolution": checks.Resolution,
		"state_id": checks.StateID, "phone": checks.Phone} {
		if o != CheckPassed && o != CheckFailed && o != CheckNotRun {
			return idv.Errorf(idv.EINVALID, "check %s: unknown outcome %q", name, o)
		}
	}
	return nil
}
