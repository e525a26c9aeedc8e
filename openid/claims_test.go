package openid

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

func TestParseClaims(t *testing.T) {
	t.Parallel()
	rp := idv.RelyingParty{Outputs: []string{"name", "address"}}
	cases := []struct {
		name     string
		raw      string
		scopes   []string
		idToken  []string // nil: not asked
		userinfo []string
		refused  []string
		bad      bool
	}{
		{name: "nothing"},
		{name: "object form", raw: `{"id_token":{"verified_claims":{"verification":{"trust_framework":null},"claims":{"given_name":null,"family_name":{"essential":true}}}}}`,
			idToken: []string{"family_name", "given_name"}},
		{name: "array form, merged", raw: `{"userinfo":{"verified_claims":[{"verification":{},"claims":{"address":null}},{"verification":{},"claims":{"given_name":null}}]}}`,
			userinfo: []string{"address", "given_name"}},
		{name: "unknown claims are ignored", raw: `{"id_token":{"verified_claims":{"verification":{},"claims":{"email":null,"given_name":null}},"email":null}}`,
			idToken: []string{"given_name"}},
		{name: "a claim the client may not have", raw: `{"userinfo":{"verified_claims":{"verification":{},"claims":{"birthdate":null,"phone_number":null}}}}`,
			userinfo: []string{"birthdate", "phone_number"}, refused: []string{"birthdate", "phone_number"}},
		{name: "scopes add what the client may have to userinfo", scopes: []string{"openid", "profile", "phone"},
			userinfo: []string{"family_name", "given_name"}},
		{name: "scopes and claims together", raw: `{"userinfo":{"verified_claims":{"verification":{},"claims":{"address":null}}}}`, scopes: []string{"profile"},
			userinfo: []string{"address", "family_name", "given_name"}},
		{name: "not JSON", raw: `{"id_token":`, bad: true},
		{name: "verified_claims without claims", raw: `{"id_token":{"verified_claims":{"verification":{}}}}`, bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cr, err := parseClaims(tc.raw)
			if tc.bad {
				if idv.ErrorCode(err) != idv.EINVALID {
					t.Fatalf("error %v, want EINVALID", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cr.refused(rp); !slices.Equal(got, tc.refused) {
				t.Errorf("refused %v, want %v", got, tc.refused)
			}
			cr = cr.withScopes(tc.scopes, rp)
			for name, c := range map[string]struct {
				w    *wanted
				want []string
			}{"id_token": {cr.IDToken, tc.idToken}, "userinfo": {cr.Userinfo, tc.userinfo}} {
				switch {
				case c.want == nil && c.w != nil:
					t.Errorf("%s asks for %v, want nothing", name, c.w.Claims)
				case c.want != nil && (c.w == nil || !slices.Equal(c.w.Claims, c.want)):
					t.Errorf("%s asks for %v, want %v", name, c.w, c.want)
				}
			}
		})
	}
}

func TestVerifiedClaims(t *testing.T) {
	t.Parallel()
	finished := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	passed := func(s idv.StepName) idv.StepRecord {
		return idv.StepRecord{Step: s, Status: idv.StepPassed, LastOutcome: idv.OutcomeSuccess}
	}
	v := idv.Verification{ID: "vrf_1", Status: idv.VerificationVerified, FinishedAt: finished,
		Steps: []idv.StepRecord{passed(idv.StepDocument), passed(idv.StepIdentity), passed(idv.StepPhone)}}
	a := idv.Applicant{FirstName: "Ann", LastName: "Lee", DOB: "1980-01-02", Address1: "1 Main St", City: "Arlington", State: "VA", ZIPCode: "22201",
		StateIDNumber: "T1234", StateIDJurisdiction: "VA", StateIDExpiration: "2030-01-01", Phone: "(703) 555-0100"}
	all := []string{"given_name", "family_name", "birthdate", "address", "phone_number"}
	cases := []struct {
		name    string
		outputs []string
		want    []string
		docNum  bool
	}{
		{"every output", idv.KnownOutputs, all, true},
		{"name only: nothing else, and no document number or jurisdiction", []string{"name"}, []string{"family_name", "given_name"}, false},
		{"no outputs: the verification alone", nil, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := verifiedClaims("nist_800_63A", idv.RelyingParty{Outputs: tc.outputs}, v, a, all)
			b, _ := json.Marshal(got)
			var vc struct {
				Verification struct {
					TrustFramework string `json:"trust_framework"`
					Evidence       []struct {
						Type            string
						DocumentDetails *struct {
							Type           string
							DocumentNumber string `json:"document_number"`
							Issuer         struct {
								CountryCode  string `json:"country_code"`
								Jurisdiction string
							}
						} `json:"document_details"`
						Record *struct{ Type string }
					}
				}
				Claims map[string]any
			}
			if err := json.Unmarshal(b, &vc); err != nil {
				t.Fatal(err)
			}
			var names []string
			for k := range vc.Claims {
				names = append(names, k)
			}
			slices.Sort(names)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(names, want) {
				t.Errorf("claims %v, want %v", names, want)
			}
			if vc.Verification.TrustFramework != "nist_800_63A" {
				t.Errorf("trust_framework %q", vc.Verification.TrustFramework)
			}
			ev := vc.Verification.Evidence
			if len(ev) != 4 || ev[0].Type != "document" || ev[0].DocumentDetails == nil || ev[0].DocumentDetails.Type != DocumentType ||
				ev[0].DocumentDetails.Issuer.CountryCode != "USA" {
				t.Fatalf("evidence %s", b)
			}
			var records []string
			for _, e := range ev[1:] {
				records = append(records, e.Record.Type)
			}
			if !slices.Equal(records, []string{"identity_resolution", "state_id_record", "mobile_operator"}) {
				t.Errorf("records %v", records)
			}
			if d := ev[0].DocumentDetails; (d.DocumentNumber == "T1234" && d.Issuer.Jurisdiction == "VA") != tc.docNum {
				t.Errorf("document details %+v, document number shown: want %v", d, tc.docNum)
			}
			if tc.docNum && (vc.Claims["phone_number"] != "+17035550100" || !strings.Contains(string(b), `"time":"2026-12-03T07:00:00Z"`)) {
				t.Errorf("claims %s", b)
			}
		})
	}
}
