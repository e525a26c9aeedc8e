package vendors

import (
	"context"
	"net/http"

	"github.com/idv-dev/idv"
)

// StateID asks an AAMVA-like service whether the applicant's state-issued ID
// matches the issuing state's records.
type StateID struct{ c caller }

var _ idv.StateIDProofer = (*StateID)(nil)

// NewStateID returns a client for the vendor at e.URL. A zero e.Timeout
// means DefaultStateIDTimeout and an empty e.Name NameStateID.
func NewStateID(client *http.Client, e Endpoint) (*StateID, error) {
	c, err := newCaller(client, e, PathStateID, NameStateID, DefaultStateIDTimeout)
	if err != nil {
		return nil, err
	}
	return &StateID{c: c}, nil
}

// ProofStateID implements idv.StateIDProofer.
func (s *StateID) ProofStateID(ctx context.Context, a idv.Applicant) idv.VendorResult {
	return s.c.call(ctx, StateIDRequest{
		StateIDNumber:       a.StateIDNumber,
		StateIDJurisdiction: a.StateIDJurisdiction,
		StateIDExpiration:   a.StateIDExpiration,
		FirstName:           a.FirstName,
		LastName:            a.LastName,
		DOB:                 a.DOB,
		Address1:            a.Address1,
		Address2:            a.Address2,
		City:                a.City,
		State:               a.State,
		ZIPCode:             a.ZIPCode,
	}, a)
}
