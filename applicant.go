package idv

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
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
	reSSN = regexp.MustCompile(`^\d{3}-?\d{2}-?\d{4}$`)
	// reTypedSSN is an SSN as people type it: spaces or dashes, or none,
	// between the groups.
	reTypedSSN = regexp.MustCompile(`^(\d{3})[ -]*(\d{2})[ -]*(\d{4})$`)
	reZIP      = regexp.MustCompile(`^\d{5}(-?\d{4})?$`)
	reState    = regexp.MustCompile(`^[A-Z]{2}$`)
	reName     = regexp.MustCompile(`^[\p{L}\p{M}' .-]{1,100}$`)
	reLetter   = regexp.MustCompile(`\p{L}`)
	rePhone    = regexp.MustCompile(`^\d{10}$`)
)

// Normalize trims spaces, puts names and addresses in Unicode NFC (so the
// same name typed on two keyboards compares equal, to vendors and to the
// SSN and ID number limits), upper-cases state codes and writes an SSN
// typed with spaces, dashes or neither as ddd-dd-dddd. It changes no
// character it cannot read: invalid UTF-8 stays, for ValidateIdentity to
// refuse.
func (a *Applicant) Normalize() {
	for _, p := range []*string{&a.FirstName, &a.LastName, &a.Address1, &a.Address2, &a.City} {
		if utf8.ValidString(*p) {
			*p = norm.NFC.String(*p)
		}
	}
	for _, p := range []*string{&a.FirstName, &a.LastName, &a.DOB, &a.SSN, &a.Address1, &a.Address2, &a.City, &a.State, &a.ZIPCode, &a.StateIDNumber, &a.StateIDJurisdiction, &a.StateIDExpiration, &a.Phone} {
		*p = strings.TrimSpace(*p)
	}
	a.State = strings.ToUpper(a.State)
	a.StateIDJurisdiction = strings.ToUpper(a.StateIDJurisdiction)
	if m := reTypedSSN.FindStringSubmatch(a.SSN); m != nil {
		a.SSN = m[1] + "-" + m[2] + "-" + m[3]
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

// msgCharacters is the error of a field holding a control character (a
// tab, a line break, a NUL) or bytes that are not UTF-8: nothing a person
// types, and nothing a vendor or a log should be handed.
const msgCharacters = "Use only letters, numbers, spaces and punctuation."

// ValidateIdentity checks the fields of the "verify your information" step.
// A field with a control character or invalid UTF-8 gets that error before
// any other.
func (a Applicant) ValidateIdentity(now time.Time) FieldErrors {
	fe := FieldErrors{}
	for name, v := range map[string]string{
		"first_name": a.FirstName, "last_name": a.LastName, "dob": a.DOB, "ssn": a.SSN,
		"address1": a.Address1, "address2": a.Address2, "city": a.City, "state": a.State, "zipcode": a.ZIPCode,
		"state_id_number": a.StateIDNumber, "state_id_jurisdiction": a.StateIDJurisdiction,
	} {
		if !readable(v) {
			fe[name] = msgCharacters
		}
	}
	// set records a field's first error only.
	set := func(name, msg string) {
		if _, ok := fe[name]; !ok {
			fe[name] = msg
		}
	}
	if !validName(a.FirstName) {
		set("first_name", "Enter your first name as it appears on your ID.")
	}
	if !validName(a.LastName) {
		set("last_name", "Enter your last name as it appears on your ID.")
	}
	if dob, err := time.Parse(time.DateOnly, a.DOB); err != nil {
		set("dob", "Enter your date of birth as YYYY-MM-DD.")
	} else if dob.After(now) || dob.Before(now.AddDate(-130, 0, 0)) {
		set("dob", "Enter a real date of birth.")
	} else if dob.After(now.AddDate(-13, 0, 0)) {
		set("dob", "You must be at least 13 years old to verify your identity.")
	}
	if !reSSN.MatchString(a.SSN) {
		set("ssn", "Enter a nine-digit Social Security number.")
	}
	if l := len(a.Address1); l == 0 || l > 200 {
		set("address1", "Enter your street address.")
	}
	if len(a.Address2) > 200 {
		set("address2", "Address line 2 is too long.")
	}
	if l := len(a.City); l == 0 || l > 100 {
		set("city", "Enter your city.")
	}
	if !reState.MatchString(a.State) {
		set("state", "Choose a two-letter state code.")
	}
	if !reZIP.MatchString(a.ZIPCode) {
		set("zipcode", "Enter a five-digit ZIP code.")
	}
	if l := len(a.StateIDNumber); l == 0 || l > 40 {
		set("state_id_number", "Enter the ID number printed on your state ID.")
	}
	if !reState.MatchString(a.StateIDJurisdiction) {
		set("state_id_jurisdiction", "Choose the state that issued your ID.")
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// validName: letters, marks, apostrophes, spaces, dots and hyphens, and at
// least one letter ("." or "-" alone is no name).
func validName(s string) bool { return reName.MatchString(s) && reLetter.MatchString(s) }

// readable reports whether s is UTF-8 without control characters.
func readable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

// ValidatePhone checks the field of the phone step.
func (a Applicant) ValidatePhone() FieldErrors {
	if !rePhone.MatchString(a.Phone) {
		return FieldErrors{"phone": "Enter a ten-digit US phone number."}
	}
	return nil
}
