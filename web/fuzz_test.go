package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// Fuzz targets for the verify_info and phone forms: whatever body is
// posted, parsing never panics, keeps what the form does not carry, names
// only the form's fields, accepts only well-shaped values (readable UTF-8,
// names with a letter, names and addresses in NFC, an SSN however its
// groups are separated), and the page
// that lists the errors renders without echoing the SSN. The seed corpus is
// in testdata/fuzz/<target>; CI runs each target briefly (.ci/run).

var (
	fuzzFormNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	fuzzPrev    = idv.Applicant{StateIDExpiration: "2030-01-01", Phone: "7035550100", FirstName: "Old"}
	reFuzzSSN   = regexp.MustCompile(`^\d{3}-\d{2}-\d{4}$`)
	reFuzzTwo   = regexp.MustCompile(`^[A-Z]{2}$`)
	reFuzzTen   = regexp.MustCompile(`^\d{10}$`)
	// reFuzzTypedSSN is an SSN as people type it: spaces or dashes, or
	// none, between the groups.
	reFuzzTypedSSN = regexp.MustCompile(`^\d{3}[ -]*\d{2}[ -]*\d{4}$`)
	reFuzzLetter   = regexp.MustCompile(`\p{L}`)
	verifyFields   = []string{"first_name", "last_name", "dob", "ssn", "address1", "address2", "city", "state", "zipcode", "state_id_number", "state_id_jurisdiction"}
	fuzzFormSeeds  = []string{
		"first_name=Fakey&last_name=McFakerson&dob=1980-01-02&ssn=900-12-3456&address1=1+Fake+St&city=Fakeville&state=va&zipcode=22201&state_id_number=B123&state_id_jurisdiction=VA",
		"first_name=+Fa%C3%AFkey+&last_name=O%27Neil&dob=1980-01-02&ssn=900123456&address1=1+Fake+St&address2=Apt+2&city=X&state=VA&zipcode=22201-1234&state_id_number=mvatimeout&state_id_jurisdiction=va",
		"first_name=A&first_name=B&ssn=900-12-3456&ssn=666-00-0000",
		"ssn=%zz&dob=%",
		"a=1;b=2",
		"",
		"phone=(703)+555-0100",
		"phone=%2B1+703+555+5555",
		"phone=abc&phone=7035550100",
		"dob=2020-01-01&ssn=12345&state=Virginia&zipcode=00000",
		"first_name=Zoe%CC%88&last_name=.&dob=1980-01-02&ssn=900+12+3456&address1=1+Main%0ASt&address2=Apt%092&city=Spring%FFfield&state=VA&zipcode=22201&state_id_number=D%00&state_id_jurisdiction=VA",
		"first_name=J.&last_name=O%27Neil&dob=1980-01-02&ssn=+900+-+12+-+3456+&address1=1+Rue+de+l%27E%CC%81glise&city=Sa%CC%83o+Paulo&state=VA&zipcode=22201&state_id_number=D1&state_id_jurisdiction=VA",
	}
)

// fuzzServer is just enough of a Server to render pages.
func fuzzServer(f *testing.F) *Server {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	if err := s.parseTemplates(); err != nil {
		f.Fatal(err)
	}
	return s
}

// postForm parses body as the handlers do (r.ParseForm on a form post).
func postForm(path, body string) (*http.Request, error) {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r, r.ParseForm()
}

func FuzzVerifyInfoForm(f *testing.F) {
	for _, s := range fuzzFormSeeds {
		f.Add(s)
	}
	srv := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body string) {
		r, err := postForm("/verify/verify_info", body)
		if err != nil {
			return // the handler answers 400 without parsing further
		}
		a, fe := parseVerifyInfo(r.PostForm, fuzzPrev, fuzzFormNow)
		a2, fe2 := parseVerifyInfo(r.PostForm, fuzzPrev, fuzzFormNow)
		if a != a2 || len(fe) != len(fe2) {
			t.Fatalf("parseVerifyInfo is not deterministic")
		}
		if a.StateIDExpiration != fuzzPrev.StateIDExpiration || a.Phone != fuzzPrev.Phone {
			t.Fatalf("fields the form does not carry were not kept")
		}
		again := a
		again.Normalize()
		if again != a {
			t.Fatalf("the parsed applicant is not normalized")
		}
		for name := range fe {
			if !slices.Contains(verifyFields, name) {
				t.Fatalf("error names %q, not a field of the form", name)
			}
		}
		if reFuzzTypedSSN.MatchString(strings.TrimSpace(r.PostForm.Get("ssn"))) && fe["ssn"] != "" {
			t.Fatalf("an SSN typed with spaces or dashes between its groups was refused")
		}
		if fe == nil {
			if !reFuzzSSN.MatchString(a.SSN) || !reFuzzTwo.MatchString(a.State) || !reFuzzTwo.MatchString(a.StateIDJurisdiction) {
				t.Fatalf("accepted a badly shaped SSN or state code")
			}
			for _, v := range []string{a.FirstName, a.LastName, a.DOB, a.SSN, a.Address1, a.Address2, a.City, a.ZIPCode, a.StateIDNumber} {
				if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
					t.Fatalf("accepted a field with a control character or invalid UTF-8")
				}
			}
			for _, v := range []string{a.FirstName, a.LastName, a.Address1, a.Address2, a.City} {
				if !norm.NFC.IsNormalString(v) {
					t.Fatalf("accepted a name or address not in NFC")
				}
			}
			if !reFuzzLetter.MatchString(a.FirstName) || !reFuzzLetter.MatchString(a.LastName) {
				t.Fatalf("accepted a name without a letter")
			}
			return
		}
		// The handler re-renders the form without the SSN.
		ssn := a.SSN
		a.SSN = ""
		w := httptest.NewRecorder()
		srv.renderVerifyInfo(w, r, http.StatusUnprocessableEntity, verifyInfoForm{Applicant: a, Errors: fe}, "")
		if w.Code != http.StatusUnprocessableEntity {
			t.Fatalf("render: status %d", w.Code)
		}
		if len(ssn) >= 9 && reFuzzSSN.MatchString(ssn) && !otherFieldHas(r.PostForm, "ssn", ssn) && strings.Contains(w.Body.String(), ssn) {
			t.Fatalf("the error page echoes the SSN")
		}
	})
}

// otherFieldHas reports whether a field other than skip holds v (then the
// page may show v legitimately).
func otherFieldHas(form url.Values, skip, v string) bool {
	for k, vs := range form {
		for _, x := range vs {
			if k != skip && strings.Contains(x, v) {
				return true
			}
		}
	}
	return false
}

func FuzzPhoneForm(f *testing.F) {
	for _, s := range fuzzFormSeeds {
		f.Add(s)
	}
	srv := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body string) {
		r, err := postForm("/verify/phone", body)
		if err != nil {
			return
		}
		a, fe := parsePhone(r.PostForm, fuzzPrev)
		rest, prev := a, fuzzPrev
		rest.Phone, prev.Phone = "", ""
		if rest != prev {
			t.Fatalf("parsePhone changed more than the phone")
		}
		if accepted, want := fe == nil, reFuzzTen.MatchString(a.Phone); accepted != want {
			t.Fatalf("accepted = %v, want %v (ten ASCII digits)", accepted, want)
		}
		if fe == nil {
			return
		}
		if len(fe) != 1 || fe["phone"] == "" {
			t.Fatalf("errors name something other than phone")
		}
		w := httptest.NewRecorder()
		srv.renderPhone(w, r, http.StatusUnprocessableEntity, phoneForm{Errors: fe}, "")
		if w.Code != http.StatusUnprocessableEntity {
			t.Fatalf("render: status %d", w.Code)
		}
	})
}
