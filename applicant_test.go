package idv_test

import (
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

var applicantNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// goodApplicant passes ValidateIdentity.
func goodApplicant() idv.Applicant {
	return idv.Applicant{FirstName: "Jane", LastName: "Doe", DOB: "1980-02-03", SSN: "900-12-3456",
		Address1: "1 Main St", City: "Springfield", State: "VA", ZIPCode: "22201",
		StateIDNumber: "D1234567", StateIDJurisdiction: "VA"}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(a *idv.Applicant, v string)
		get  func(a idv.Applicant) string
		in   string
		want string
	}{
		{"SSN with dashes", setSSN, getSSN, "900-12-3456", "900-12-3456"},
		{"SSN without separators", setSSN, getSSN, "900123456", "900-12-3456"},
		{"SSN with spaces", setSSN, getSSN, "900 12 3456", "900-12-3456"},
		{"SSN with spaced dashes", setSSN, getSSN, " 900 - 12 - 3456 ", "900-12-3456"},
		{"SSN with one separator", setSSN, getSSN, "900-123456", "900-12-3456"},
		{"SSN with dots stays", setSSN, getSSN, "900.12.3456", "900.12.3456"},
		{"SSN with tabs stays", setSSN, getSSN, "900\t12\t3456", "900\t12\t3456"},
		{"SSN too long stays", setSSN, getSSN, "900 12 34567", "900 12 34567"},
		{"SSN of other digits stays", setSSN, getSSN, "٩٠٠١٢٣٤٥٦", "٩٠٠١٢٣٤٥٦"},
		{"first name decomposed", func(a *idv.Applicant, v string) { a.FirstName = v }, func(a idv.Applicant) string { return a.FirstName }, "Zoe\u0308", "Zo\u00eb"},
		{"last name decomposed", func(a *idv.Applicant, v string) { a.LastName = v }, func(a idv.Applicant) string { return a.LastName }, " Mu\u0308ller ", "M\u00fcller"},
		{"address decomposed", func(a *idv.Applicant, v string) { a.Address1 = v }, func(a idv.Applicant) string { return a.Address1 }, "1 Rue de l'E\u0301glise", "1 Rue de l'\u00c9glise"},
		{"address line 2 decomposed", func(a *idv.Applicant, v string) { a.Address2 = v }, func(a idv.Applicant) string { return a.Address2 }, "Be\u0301t 2", "B\u00e9t 2"},
		{"city decomposed", func(a *idv.Applicant, v string) { a.City = v }, func(a idv.Applicant) string { return a.City }, "Sa\u0303o Paulo", "S\u00e3o Paulo"},
		{"Angstrom sign", func(a *idv.Applicant, v string) { a.LastName = v }, func(a idv.Applicant) string { return a.LastName }, "\u212bberg", "\u00c5berg"},
		{"invalid UTF-8 kept for Validate", func(a *idv.Applicant, v string) { a.City = v }, func(a idv.Applicant) string { return a.City }, "Spring\xfffield", "Spring\xfffield"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := goodApplicant()
			tc.set(&a, tc.in)
			a.Normalize()
			if got := tc.get(a); got != tc.want {
				t.Fatalf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func setSSN(a *idv.Applicant, v string) { a.SSN = v }
func getSSN(a idv.Applicant) string     { return a.SSN }

// After Normalize, ValidateIdentity refuses control characters and invalid
// UTF-8 in every field (with the same message, before any other), a name
// without a letter, and takes an SSN typed with spaces.
func TestValidateIdentityInputHygiene(t *testing.T) {
	t.Parallel()
	const (
		chars = "Use only letters, numbers, spaces and punctuation."
		first = "Enter your first name as it appears on your ID."
		last  = "Enter your last name as it appears on your ID."
	)
	for _, tc := range []struct {
		field, value string
		want         string // "" accepted
	}{
		{"first_name", "Jane", ""},
		{"first_name", "Zoe\u0308", ""},
		{"first_name", "J.", ""},
		{"last_name", "O'Neil-Smith", ""},
		{"first_name", ".", first},
		{"first_name", "-", first},
		{"last_name", "' .-", last},
		{"last_name", "\u0301", last}, // a mark alone is no letter
		{"first_name", "Ja\x00ne", chars},
		{"last_name", "Doe\xff", chars},
		{"dob", "1980-02-03\x00", chars},
		{"ssn", "900\x0012\x003456", chars},
		{"ssn", "900 12 3456", ""},
		{"ssn", "900-12 3456", ""},
		{"ssn", "900_12_3456", "Enter a nine-digit Social Security number."},
		{"address1", "1 Main\nSt", chars},
		{"address1", "1 Main\x1b[31mSt", chars},
		{"address1", "\xc3\x28", chars},
		{"address1", "1 Main\u0085St", chars}, // NEL, a C1 control
		{"address2", "Apt\t2", chars},
		{"address2", "Apt 2", ""},
		{"city", "Spring\x7ffield", chars},
		{"city", "Springfield\xed\xa0\x80", chars}, // a UTF-16 surrogate
		{"state", "V\x00", chars},
		{"zipcode", "22201\r", ""}, // trimmed at the edge
		{"zipcode", "222\r01", chars},
		{"state_id_number", "D123\x084567", chars},
		{"state_id_number", "D12345\xfe", chars},
		{"state_id_jurisdiction", "\x00VA", chars},
	} {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			a := goodApplicant()
			setField(&a, tc.field, tc.value)
			a.Normalize()
			fe := a.ValidateIdentity(applicantNow)
			if tc.want == "" {
				if fe != nil {
					t.Fatalf("refused: %v", map[string]string(fe))
				}
				return
			}
			if len(fe) != 1 || fe[tc.field] != tc.want {
				t.Fatalf("errors %v, want only %s: %q", map[string]string(fe), tc.field, tc.want)
			}
		})
	}
}

func setField(a *idv.Applicant, field, v string) {
	p := map[string]*string{
		"first_name": &a.FirstName, "last_name": &a.LastName, "dob": &a.DOB, "ssn": &a.SSN,
		"address1": &a.Address1, "address2": &a.Address2, "city": &a.City, "state": &a.State, "zipcode": &a.ZIPCode,
		"state_id_number": &a.StateIDNumber, "state_id_jurisdiction": &a.StateIDJurisdiction,
	}[field]
	*p = v
}
