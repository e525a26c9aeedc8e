package api

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/idv-dev/idv"
)

// outputsView is what a verified verification says of the person, limited
// to the outputs the relying party may read (the Outputs schema of
// openapi.yaml). It is PII: written to the relying party only, never
// logged, and gone once the verification is redacted.
type outputsView struct {
	Name       *nameView       `json:"name,omitempty"`
	DOB        string          `json:"dob,omitempty"`
	Address    *addressView    `json:"address,omitempty"`
	IDDocument *idDocumentView `json:"id_document,omitempty"`
	Phone      string          `json:"phone,omitempty"`
}

type nameView struct {
	Given  string `json:"given_name"`
	Family string `json:"family_name"`
}

type addressView struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postal_code"`
}

type idDocumentView struct {
	Number       string `json:"number"`
	Jurisdiction string `json:"jurisdiction"`
	Expiration   string `json:"expiration,omitempty"`
}

// outputs opens a verified verification's identity and keeps what rp may
// read; nil when it may read nothing, the verification is not verified, or
// its identity was redacted.
func (h *Handler) outputs(ctx context.Context, rp idv.RelyingParty, v idv.Verification) (*outputsView, error) {
	if v.Status != idv.VerificationVerified || v.Identity == nil || len(rp.Outputs) == 0 {
		return nil, nil
	}
	plain, err := h.o.Sealer.Open(ctx, v.Identity, idv.VerificationAAD(v.ID))
	if err != nil {
		return nil, err
	}
	var a idv.Applicant
	if err := json.Unmarshal(plain, &a); err != nil {
		return nil, idv.Errorf(idv.EINTERNAL, "stored identity does not decode")
	}
	out := &outputsView{}
	allowed := func(o string) bool { return slices.Contains(rp.Outputs, o) }
	if allowed("name") {
		out.Name = &nameView{Given: a.FirstName, Family: a.LastName}
	}
	if allowed("dob") {
		out.DOB = a.DOB
	}
	if allowed("address") {
		out.Address = &addressView{Line1: a.Address1, Line2: a.Address2, City: a.City, State: a.State, PostalCode: a.ZIPCode}
	}
	if allowed("id_document") && a.StateIDNumber != "" {
		out.IDDocument = &idDocumentView{Number: a.StateIDNumber, Jurisdiction: a.StateIDJurisdiction, Expiration: a.StateIDExpiration}
	}
	if allowed("phone") {
		out.Phone = a.Phone
	}
	return out, nil
}
