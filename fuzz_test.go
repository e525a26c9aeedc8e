package idv_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/idv-dev/idv"
)

// The form parsers take whatever a browser (or anyone else) posts. These
// fuzz targets check that they never panic and keep their promises on any
// input: normalizing twice changes nothing, validation is a pure function
// naming only known fields, an accepted value has the documented shape, and
// an Applicant never prints a value. The seed corpus is in
// testdata/fuzz/<target>; CI runs each target briefly (.ci/run).

// fuzzNow is a fixed clock, so date-of-birth checks are deterministic.
var fuzzNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

var identityFields = []string{"first_name", "last_name", "dob", "ssn", "address1", "address2", "city", "state",
	"zipcode", "state_id_number", "state_id_jurisdiction"}

var (
	reNormalSSN  = regexp.MustCompile(`^\d{3}-\d{2}-\d{4}$`)
	reTwoLetters = regexp.MustCompile(`^[A-Z]{2}$`)
	reTenDigits  = regexp.MustCompile(`^\d{10}$`)
	reOnlyDigits = regexp.MustCompile(`^\d*$`)
	reLooseSSN   = regexp.MustCompile(`^\d{3}-?\d{2}-?\d{4}$`)
	reTypedSSN   = regexp.MustCompile(`^\d{3}[ -]*\d{2}[ -]*\d{4}$`)
	reLetter     = regexp.MustCompile(`\p{L}`)
)

// readable reports whether s is UTF-8 without control characters: what
// every accepted field must be.
func readable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// asciiDigits keeps the ASCII digits of s.
func asciiDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// identityMessages is every message ValidateIdentity can give, collected
// from inputs that trip each check: a message outside it would be one built
// from the input, which could echo PII.
func identityMessages() map[string]bool {
	m := map[string]bool{}
	for _, a := range []idv.Applicant{
		{},
		{DOB: "2030-01-01", Address2: strings.Repeat("x", 201)},
		{DOB: fuzzNow.AddDate(-5, 0, 0).Format(time.DateOnly)},
		{FirstName: "\x00"},
	} {
		for _, msg := range a.ValidateIdentity(fuzzNow) {
			m[msg] = true
		}
	}
	return m
}

func fuzzApplicant(first, last, dob, ssn, addr1, addr2, city, state, zip, idNumber, idState, expiry, phone string) idv.Applicant {
	return idv.Applicant{FirstName: first, LastName: last, DOB: dob, SSN: ssn, Address1: addr1, Address2: addr2,
		City: city, State: state, ZIPCode: zip, StateIDNumber: idNumber, StateIDJurisdiction: idState,
		StateIDExpiration: expiry, Phone: phone}
}

// fields lists every string field of a, for checks that apply to all.
func fields(a idv.Applicant) []string {
	return []string{a.FirstName, a.LastName, a.DOB, a.SSN, a.Address1, a.Address2, a.City, a.State, a.ZIPCode,
		a.StateIDNumber, a.StateIDJurisdiction, a.StateIDExpiration, a.Phone}
}

// FuzzApplicantNormalize: Normalize is idempotent, leaves no surrounding
// space, puts readable names and addresses in NFC, upper-cases state codes,
// and puts an SSN typed with spaces, dashes or neither between its groups in
// ddd-dd-dddd form.
// The Applicant masks itself under every verb whatever it holds.
func FuzzApplicantNormalize(f *testing.F) {
	f.Add("Fakey", "McFakerson", "1980-01-02", "900123456", "1 Fake St", "", "Fakeville", "va", "22201", "B123", " va ", "2030-01-01", "+1 (703) 555-0100")
	f.Add(" Ünïcödé ", "O'Neil-Smith", "1980-1-2", "900-12-3456", "  ", "Apt\t2", "", "Va", "22201-1234", "mvatimeout", "xx", "", "1-703-555-5555")
	f.Add("", "", "", "", "", "", "", "", "", "", "", "", "")
	f.Add("\xff\xfe", "\u00a0", "\u2028", "9001234567", "\x00", "a", "b", "ǆ", "00000", "0000", "ͅ", "x", "11111111111")
	f.Add("Zoe\u0308", "\u212bberg", "1980-01-02", " 900 - 12 - 3456 ", "1 Rue de l'E\u0301glise", "Be\u0301t\t2", "Sa\u0303o Paulo", "SP", "22201", "X1", "SP", "", "")
	f.Add(".", "-", "", "900 12 3456", "1 Main\nSt", "\u0085", "Spring\x7ffield", "V\x00", "222\r01", "D\x1b[31m1", "VA", "", "")
	f.Fuzz(func(t *testing.T, first, last, dob, ssn, addr1, addr2, city, state, zip, idNumber, idState, expiry, phone string) {
		a := fuzzApplicant(first, last, dob, ssn, addr1, addr2, city, state, zip, idNumber, idState, expiry, phone)
		a.Normalize()
		once := a
		a.Normalize()
		if a != once {
			t.Fatalf("Normalize is not idempotent")
		}
		for i, v := range fields(a) {
			if v != strings.TrimSpace(v) {
				t.Fatalf("field %d keeps surrounding space after Normalize", i)
			}
		}
		if a.State != strings.ToUpper(a.State) || a.StateIDJurisdiction != strings.ToUpper(a.StateIDJurisdiction) {
			t.Fatalf("state codes not upper-cased")
		}
		if reLooseSSN.MatchString(a.SSN) && !reNormalSSN.MatchString(a.SSN) {
			t.Fatalf("a valid SSN is not in ddd-dd-dddd form")
		}
		if typed := strings.TrimSpace(ssn); reTypedSSN.MatchString(typed) {
			d := asciiDigits(typed)
			if a.SSN != d[:3]+"-"+d[3:5]+"-"+d[5:] {
				t.Fatalf("an SSN typed with spaces or dashes between its groups is not in ddd-dd-dddd form")
			}
		}
		for i, v := range []string{a.FirstName, a.LastName, a.Address1, a.Address2, a.City} {
			if utf8.ValidString(v) && !norm.NFC.IsNormalString(v) {
				t.Fatalf("name or address field %d is not NFC after Normalize", i)
			}
		}
		// The Applicant never prints a value, under any verb.
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			if got := fmt.Sprintf(verb, a); got != "idv.Applicant[REDACTED]" {
				t.Fatalf("Sprintf(%s) = %q, want the mask", verb, got)
			}
		}
		if a.String() != "idv.Applicant[REDACTED]" || a.LogValue().String() != "[REDACTED]" {
			t.Fatalf("String or LogValue does not mask")
		}
	})
}

// FuzzValidateIdentity: validation is deterministic, names only fields of
// the verify_info form, never echoes a value in its error text, and what it
// accepts after Normalize has the shape the rest of the system relies on.
func FuzzValidateIdentity(f *testing.F) {
	f.Add("Fakey", "McFakerson", "1980-01-02", "900-12-3456", "1 Fake St", "", "Fakeville", "VA", "22201", "B123", "VA")
	f.Add("Fakey", "McFakerson", "2020-01-02", "900123456", "1 Fake St", "Apt 2", "Fakeville", "va", "22201-1234", "mvatimeout", "va")
	f.Add("Fa1key", "", "1880-01-02", "12345678", "", strings.Repeat("x", 201), strings.Repeat("y", 101), "Virginia", "2220", "", "V")
	f.Add("", "", "2025-06-02", "", "", "", "", "", "", strings.Repeat("9", 41), "")
	f.Add("Zoë", "D'Arcy-Ñ", "2012-06-01", "666-00-0000", "\u00a0", "", "x", "DC", "00000", "0", "PR")
	f.Add("Zoe\u0308", ".", "1980-01-02", "900 12 3456", "1 Main\nSt", "Apt\t2", "Spring\xfffield", "VA", "22201", "D\x00", "VA")
	f.Add("J.", "O'Neil", "1980-01-02", " 900 - 12 - 3456 ", "1 Rue de l'E\u0301glise", "", "Sa\u0303o Paulo", "VA", "22201", "D1", "VA")
	messages := identityMessages()
	f.Fuzz(func(t *testing.T, first, last, dob, ssn, addr1, addr2, city, state, zip, idNumber, idState string) {
		a := fuzzApplicant(first, last, dob, ssn, addr1, addr2, city, state, zip, idNumber, idState, "", "")
		raw := a.ValidateIdentity(fuzzNow)
		if again := a.ValidateIdentity(fuzzNow); fmt.Sprint(map[string]string(raw)) != fmt.Sprint(map[string]string(again)) {
			t.Fatalf("ValidateIdentity is not deterministic")
		}
		a.Normalize()
		fe := a.ValidateIdentity(fuzzNow)
		if fe != nil && len(fe) == 0 {
			t.Fatalf("ValidateIdentity returned empty, non-nil errors")
		}
		for name, msg := range fe {
			if !slices.Contains(identityFields, name) {
				t.Fatalf("error names unknown field %q", name)
			}
			if !messages[msg] || !utf8.ValidString(msg) {
				t.Fatalf("field %s: message %q is not one of the fixed messages", name, msg)
			}
		}
		for name, v := range map[string]string{"first_name": first, "last_name": last, "dob": dob, "ssn": ssn,
			"address1": addr1, "address2": addr2, "city": city, "state": state, "zipcode": zip,
			"state_id_number": idNumber, "state_id_jurisdiction": idState} {
			if !readable(strings.TrimSpace(v)) && fe[name] == "" {
				t.Fatalf("field %s with a control character or invalid UTF-8 was not refused", name)
			}
		}
		if reTypedSSN.MatchString(strings.TrimSpace(ssn)) && fe["ssn"] != "" {
			t.Fatalf("an SSN typed with spaces or dashes between its groups was refused")
		}
		if fe != nil {
			if !strings.HasPrefix(fe.Error(), "invalid fields: ") {
				t.Fatalf("Error() = %q", fe.Error())
			}
			return
		}
		// Accepted: the shapes the vendors and the rest of the flow rely on.
		if !reNormalSSN.MatchString(a.SSN) {
			t.Fatalf("accepted SSN not in ddd-dd-dddd form")
		}
		if !reTwoLetters.MatchString(a.State) || !reTwoLetters.MatchString(a.StateIDJurisdiction) {
			t.Fatalf("accepted state code not two upper-case letters")
		}
		d, err := time.Parse(time.DateOnly, a.DOB)
		if err != nil || d.After(fuzzNow.AddDate(-13, 0, 0)) || d.Before(fuzzNow.AddDate(-130, 0, 0)) {
			t.Fatalf("accepted date of birth out of range")
		}
		zipDigits := strings.ReplaceAll(a.ZIPCode, "-", "")
		if !reOnlyDigits.MatchString(zipDigits) || (len(zipDigits) != 5 && len(zipDigits) != 9) {
			t.Fatalf("accepted ZIP code has the wrong shape")
		}
		if a.Address1 == "" || a.City == "" || a.StateIDNumber == "" {
			t.Fatalf("accepted an empty required field")
		}
		for i, v := range fields(a) {
			if !readable(v) {
				t.Fatalf("accepted field %d with a control character or invalid UTF-8", i)
			}
		}
		if !reLetter.MatchString(a.FirstName) || !reLetter.MatchString(a.LastName) {
			t.Fatalf("accepted a name without a letter")
		}
		for i, v := range []string{a.FirstName, a.LastName, a.Address1, a.Address2, a.City} {
			if !norm.NFC.IsNormalString(v) {
				t.Fatalf("accepted name or address field %d not in NFC", i)
			}
		}
		if digits := asciiDigits(ssn); len(digits) == 9 && reTypedSSN.MatchString(strings.TrimSpace(ssn)) && a.SSN != digits[:3]+"-"+digits[3:5]+"-"+digits[5:] {
			t.Fatalf("accepted SSN is not the one typed")
		}
	})
}

// FuzzPhone: NormalizePhone is idempotent and keeps only ASCII digits when
// there are any; ValidatePhone accepts exactly ten ASCII digits, and every
// way of writing a ten-digit number (punctuation, a leading +1) normalizes
// to one that is accepted.
func FuzzPhone(f *testing.F) {
	for _, s := range []string{"7035550100", "(703) 555-0100", "+1 703 555 0100", "1-703-555-5555", "17035555999",
		"", " ", "abc", "٧٠٣٥٥٥٠١٠٠", "703555010", "70355501001", "111111111111", "+44 20 7946 0958", "\xff7035550100"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := idv.NormalizePhone(s)
		if idv.NormalizePhone(n) != n {
			t.Fatalf("NormalizePhone is not idempotent")
		}
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
		switch {
		case digits == "":
			if n != strings.TrimSpace(s) {
				t.Fatalf("without digits NormalizePhone should only trim")
			}
		case !reOnlyDigits.MatchString(n):
			t.Fatalf("NormalizePhone kept a non-digit")
		case len(digits) == 11 && digits[0] == '1':
			if n != digits[1:] {
				t.Fatalf("leading country code 1 not dropped")
			}
		case n != digits:
			t.Fatalf("NormalizePhone dropped digits")
		}
		a := idv.Applicant{Phone: n}
		accepted := a.ValidatePhone() == nil
		if want := reTenDigits.MatchString(n); accepted != want {
			t.Fatalf("ValidatePhone accepted = %v, want %v (ten ASCII digits)", accepted, want)
		}
		if fe := a.ValidatePhone(); fe != nil && (len(fe) != 1 || fe["phone"] == "") {
			t.Fatalf("ValidatePhone errors name something other than phone")
		}
		if (len(digits) == 10 || (len(digits) == 11 && digits[0] == '1')) && !accepted {
			t.Fatalf("a ten-digit US number was refused after normalizing")
		}
	})
}
