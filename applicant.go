package idv

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// Applicant is the personally identifiable information of a person being
// proofed. It never leaves the process in plaintext: it travels sealed in job
// arguments and results, and it masks itself whenever it is printed or logged.
type Applicant struct {
	FirstName           string `json:"first_name" pii:"true"`
	LastName            string `json:"last_name" pii:"true"`
	DOB                 string `json:"dob" pii:"true"` // YYYY-MM-DD
	SSN                 string `json:"ssn,omitempty" pii:"true"`
	Address1            string `json:"address1" pii:"true"`
	Address2            string `json:"address2,omitempty" pii:"true"`
	City                string `json:"city" pii:"true"`
	State               string `json:"state" pii:"true"`
	ZIPCode             string `json:"zipcode" pii:"true"`
	StateIDNumber       string `json:"state_id_number,omitempty" pii:"true"`
	StateIDJurisdiction string `json:"state_id_jurisdiction,omitempty" pii:"true"`
	StateIDExpiration   string `json:"state_id_expiration,omitempty" pii:"true"` // YYYY-MM-DD, from the document
	Phone               string `json:"phone,omitempty" pii:"true"`
}

const masked = "[REDACTED]"

// String masks every value.
func (a Applicant) String() string { return "idv.Applicant" + masked }

// GoString masks every value, including under %#v.
func (a Applicant) GoString() string { return a.String() }

// Format masks every value under every verb (%v, %+v, %#v, %s, %q...).
func (a Applicant) Format(f fmt.State, verb rune) { fmt.Fprint(f, a.String()) }

// LogValue masks every value in slog output.
func (a Applicant) LogValue() slog.Value { return slog.StringValue(masked) }

// FieldErrors maps a form field name to a message a person can act on.
// Messages never echo the submitted value.
type FieldErrors map[string]string

func (fe FieldErrors) Error() string {
	names := make([]string, 0, len(fe))
	for k := range fe {
		names = append(names, k)
	}
	return "invalid fields: " + strings.Join(names, ", ")
}

var (
	reSSN   = regexp.MustCompile(`^\d{3}-?\d{2}-?\d{4}$`)
	reZIP   = regexp.MustCompile(`^\d{5}(-?\d{4})?$`)
	reState = regexp.MustCompile(`^[A-Z]{2}$`)
	reName  = regexp.MustCompile(`^[\p{L}\p{M}' .-]{1,100}$`)
	rePhone = regexp.MustCompile(`^\d{10}$`)
)

// Normalize trims spaces, upper-cases state codes and strips SSN and phone
// punctuation so that equal inputs compare equal.
func (a *Applicant) Normalize() {
	for _, p := range []*string{&a.FirstName, &a.LastName, &a.DOB, &a.SSN, &a.Address1, &a.Address2, &a.City, &a.State, &a.ZIPCode, &a.StateIDNumber, &a.StateIDJurisdiction, &a.StateIDExpiration, &a.Phone} {
		*p = strings.TrimSpace(*p)
	}
	a.State = strings.ToUpper(a.State)
	a.StateIDJurisdiction = strings.ToUpper(a.StateIDJurisdiction)
	if reSSN.MatchString(a.SSN) {
		d := strings.ReplaceAll(a.SSN, "-", "")
		a.SSN = d[:3] + "-" + d[3:5] + "-" + d[5:]
	}
	a.Phone = NormalizePhone(a.Phone)
}

// NormalizePhone keeps the digits of a US phone number, dropping a leading
// country code 1.
func NormalizePhone(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.String()
	if len(d) == 11 && d[0] == '1' {
		d = d[1:]
	}
	if d == "" {
		return strings.TrimSpace(s)
	}
	return d
}

// ValidateIdentity checks the fields of the "verify your information" step.
func (a Applicant) ValidateIdentity(now time.Time) FieldErrors {
	fe := FieldErrors{}
	if !reName.MatchString(a.FirstName) {
		fe["first_name"] = "Enter your first name as it appears on your ID."
	}
	if !reName.MatchString(a.LastName) {
		fe["last_name"] = "Enter your last name as it appears on your ID."
	}
	if dob, err := time.Parse(time.DateOnly, a.DOB); err != nil {
		fe["dob"] = "Enter your date of birth as YYYY-MM-DD."
	} else if dob.After(now) || dob.Before(now.AddDate(-130, 0, 0)) {
		fe["dob"] = "Enter a real date of birth."
	} else if dob.After(now.AddDate(-13, 0, 0)) {
		fe["dob"] = "You must be at least 13 years old to verify your identity."
	}
	if !reSSN.MatchString(a.SSN) {
		fe["ssn"] = "Enter a nine-digit Social Security number."
	}
	if l := len(a.Address1); l == 0 || l > 200 {
		fe["address1"] = "Enter your street address."
	}
	if len(a.Address2) > 200 {
		fe["address2"] = "Address line 2 is too long."
	}
	if l := len(a.City); l == 0 || l > 100 {
		fe["city"] = "Enter your city."
	}
	if !reState.MatchString(a.State) {
		fe["state"] = "Choose a two-letter state code."
	}
	if !reZIP.MatchString(a.ZIPCode) {
		fe["zipcode"] = "Enter a five-digit ZIP code."
	}
	if l := len(a.StateIDNumber); l == 0 || l > 40 {
		fe["state_id_number"] = "Enter the ID number printed on your state ID."
	}
	if !reState.MatchString(a.StateIDJurisdiction) {
		fe["state_id_jurisdiction"] = "Choose the state that issued your ID."
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// ValidatePhone checks the field of the phone step.
func (a Applicant) ValidatePhone() FieldErrors {
	if !rePhone.MatchString(a.Phone) {
		return FieldErrors{"phone": "Enter a ten-digit US phone number."}
	}
	return nil
}
