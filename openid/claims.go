package openid

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/idv-dev/idv"
)

// What a relying party may ask for: the OpenID Connect for Identity
// Assurance 1.0 verified_claims, whose claims element holds standard
// claims, each allowed by one of the relying party's outputs (the same
// outputs that decide what the REST API shows, idv.KnownOutputs).
var claimOutput = map[string]string{
	"given_name":   "name",
	"family_name":  "name",
	"birthdate":    "dob",
	"address":      "address",
	"phone_number": "phone",
}

// scopeClaims are the claims a standard scope asks for inside
// verified_claims (delivered at the userinfo endpoint, as OpenID Connect
// delivers scope claims when an access token is issued).
var scopeClaims = map[string][]string{
	"profile": {"given_name", "family_name", "birthdate"},
	"address": {"address"},
	"phone":   {"phone_number"},
}

// SupportedClaims are announced in the discovery document.
var SupportedClaims = []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "azp", "c_hash", "at_hash",
	"verified_claims", "given_name", "family_name", "birthdate", "address", "phone_number"}

// wanted is what one place (the ID token or userinfo) should carry of
// verified_claims: nil when nothing was asked.
type wanted struct {
	Claims []string `json:"claims"`
}

// claimsRequest is the parsed claims request parameter (OpenID Connect
// Core 5.5): only verified_claims is read; other members are ignored.
type claimsRequest struct {
	IDToken  *wanted `json:"id_token,omitempty"`
	Userinfo *wanted `json:"userinfo,omitempty"`
}

// parseClaims reads the claims parameter. Each of id_token and userinfo
// may ask for verified_claims, an object or an array of objects, each with
// a claims element naming the claims wanted. A claim not known to idv is
// ignored (the specification lets a provider omit what it does not offer).
func parseClaims(raw string) (claimsRequest, error) {
	var cr claimsRequest
	if strings.TrimSpace(raw) == "" {
		return cr, nil
	}
	var top map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &top); err != nil {
		return cr, idv.Errorf(idv.EINVALID, "the claims parameter is not a JSON object of id_token and userinfo members")
	}
	for member, dst := range map[string]**wanted{"id_token": &cr.IDToken, "userinfo": &cr.Userinfo} {
		vc, ok := top[member]["verified_claims"]
		if !ok {
			continue
		}
		var list []json.RawMessage
		if err := json.Unmarshal(vc, &list); err != nil {
			list = []json.RawMessage{vc}
		}
		w := &wanted{Claims: []string{}}
		for _, one := range list {
			var el struct {
				Claims map[string]json.RawMessage `json:"claims"`
			}
			if err := json.Unmarshal(one, &el); err != nil || el.Claims == nil {
				return cr, idv.Errorf(idv.EINVALID, "verified_claims in the claims parameter needs a claims object")
			}
			for name := range el.Claims {
				if _, known := claimOutput[name]; known && !slices.Contains(w.Claims, name) {
					w.Claims = append(w.Claims, name)
				}
			}
		}
		sort.Strings(w.Claims)
		*dst = w
	}
	return cr, nil
}

// refused returns the claims of cr that rp may not receive.
func (cr claimsRequest) refused(rp idv.RelyingParty) []string {
	var out []string
	for _, w := range []*wanted{cr.IDToken, cr.Userinfo} {
		if w == nil {
			continue
		}
		for _, c := range w.Claims {
			if !slices.Contains(rp.Outputs, claimOutput[c]) && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	sort.Strings(out)
	return out
}

// withScopes adds to the userinfo request the claims the scopes ask for
// that rp may receive (a scope asking for more is narrowed, as scopes are).
func (cr claimsRequest) withScopes(scopes []string, rp idv.RelyingParty) claimsRequest {
	var add []string
	for _, s := range scopes {
		for _, c := range scopeClaims[s] {
			if slices.Contains(rp.Outputs, claimOutput[c]) {
				add = append(add, c)
			}
		}
	}
	if len(add) == 0 {
		return cr
	}
	w := &wanted{}
	if cr.Userinfo != nil {
		w.Claims = slices.Clone(cr.Userinfo.Claims)
	}
	for _, c := range add {
		if !slices.Contains(w.Claims, c) {
			w.Claims = append(w.Claims, c)
		}
	}
	sort.Strings(w.Claims)
	cr.Userinfo = w
	return cr
}

// Evidence and verification, in the representation of OpenID Connect for
// Identity Assurance 1.0.
type verification struct {
	TrustFramework      string     `json:"trust_framework"`
	Time                string     `json:"time"`
	VerificationProcess string     `json:"verification_process"`
	Evidence            []evidence `json:"evidence"`
}

type evidence struct {
	Type            string           `json:"type"`
	CheckDetails    []checkDetail    `json:"check_details"`
	Time            string           `json:"time,omitempty"`
	DocumentDetails *documentDetails `json:"document_details,omitempty"`
	Record          *record          `json:"record,omitempty"`
}

type checkDetail struct {
	CheckMethod string `json:"check_method"`
}

type documentDetails struct {
	Type           string `json:"type"`
	DocumentNumber string `json:"document_number,omitempty"`
	DateOfExpiry   string `json:"date_of_expiry,omitempty"`
	Issuer         issuer `json:"issuer"`
}

type issuer struct {
	CountryCode  string `json:"country_code"`
	Jurisdiction string `json:"jurisdiction,omitempty"`
}

type record struct {
	Type   string        `json:"type"`
	Source *recordSource `json:"source,omitempty"`
}

type recordSource struct {
	Name string `json:"name"`
}

type address struct {
	StreetAddress string `json:"street_address"`
	Locality      string `json:"locality"`
	Region        string `json:"region"`
	PostalCode    string `json:"postal_code"`
	Country       string `json:"country"`
}

// DocumentType is the document_details type idv reports: a U.S. driver's
// license or state ID card (the document check accepts either and does not
// say which).
const DocumentType = "us_state_id"

// verifiedClaims is the verified_claims element for v (verified) and the
// person a: the verification, and the claims names of a allowed to rp.
// It is PII: built per answer, never stored or logged.
func verifiedClaims(trustFramework string, rp idv.RelyingParty, v idv.Verification, a idv.Applicant, names []string) map[string]any {
	when := v.FinishedAt.UTC().Format(time.RFC3339)
	ver := verification{TrustFramework: trustFramework, Time: when, VerificationProcess: v.ID, Evidence: []evidence{}}
	allowed := func(o string) bool { return slices.Contains(rp.Outputs, o) }
	if v.Passed(idv.StepDocument) {
		if _, ok := v.Step(idv.StepDocument); ok {
			d := &documentDetails{Type: DocumentType, Issuer: issuer{CountryCode: "USA"}}
			if allowed("id_document") {
				d.DocumentNumber, d.DateOfExpiry, d.Issuer.Jurisdiction = a.StateIDNumber, a.StateIDExpiration, a.StateIDJurisdiction
			}
			ver.Evidence = append(ver.Evidence, evidence{Type: "document", CheckDetails: []checkDetail{{CheckMethod: "vri"}},
				DocumentDetails: d})
		}
	}
	if _, ok := v.Step(idv.StepIdentity); ok && v.Passed(idv.StepIdentity) {
		ver.Evidence = append(ver.Evidence, evidence{Type: "electronic_record", CheckDetails: []checkDetail{{CheckMethod: "data"}},
			Record: &record{Type: "identity_resolution", Source: &recordSource{Name: "identity resolution records"}}})
		if _, doc := v.Step(idv.StepDocument); doc {
			ver.Evidence = append(ver.Evidence, evidence{Type: "electronic_record", CheckDetails: []checkDetail{{CheckMethod: "data"}},
				Record: &record{Type: "state_id_record", Source: &recordSource{Name: "issuing jurisdiction's ID records"}}})
		}
	}
	if _, ok := v.Step(idv.StepPhone); ok && v.Passed(idv.StepPhone) {
		ver.Evidence = append(ver.Evidence, evidence{Type: "electronic_record", CheckDetails: []checkDetail{{CheckMethod: "data"}},
			Record: &record{Type: "mobile_operator", Source: &recordSource{Name: "phone carrier records"}}})
	}
	claims := map[string]any{}
	for _, n := range names {
		if !allowed(claimOutput[n]) {
			continue
		}
		switch n {
		case "given_name":
			claims[n] = a.FirstName
		case "family_name":
			claims[n] = a.LastName
		case "birthdate":
			claims[n] = a.DOB
		case "address":
			claims[n] = address{StreetAddress: strings.TrimSpace(a.Address1 + "\n" + a.Address2), Locality: a.City,
				Region: a.State, PostalCode: a.ZIPCode, Country: "US"}
		case "phone_number":
			if a.Phone != "" {
				claims[n] = e164(a.Phone)
			}
		}
	}
	return map[string]any{"verification": ver, "claims": claims}
}

// e164 writes a U.S. phone number as +1NNNNNNNNNN.
func e164(p string) string {
	var d []byte
	for i := range len(p) {
		if p[i] >= '0' && p[i] <= '9' {
			d = append(d, p[i])
		}
	}
	switch {
	case len(d) == 10:
		return "+1" + string(d)
	case len(d) == 11 && d[0] == '1':
		return "+" + string(d)
	}
	return p
}
