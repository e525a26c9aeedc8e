package vendors

import (
	"context"
	"net/http"

	"github.com/idv-dev/idv"
)

// Resolution asks an identity-resolution vendor whether the applicant's
// name, date of birth, SSN and address belong to one real person.
type Resolution struct{ c caller }

var _ idv.ResolutionProofer = (*Resolution)(nil)

// NewResolution returns a client for the vendor at e.URL. A zero e.Timeout
// means DefaultResolutionTimeout and an empty e.Name NameResolution.
func NewResolution(client *http.Client, e Endpoint) (*Resolution, error) {
	c, err := newCaller(client, e, PathResolution, NameResolution, DefaultResolutionTimeout)
	if err != nil {
		return nil, err
	}
	return &Resolution{c: c}, nil
}

// ProofResolution implements idv.ResolutionProofer.
func (r *Resolution) ProofResolution(ctx context.Context, a idv.Applicant) idv.VendorResult {
	return r.c.call(ctx, ResolutionRequest{
		FirstName: a.FirstName,
		LastName:  a.LastName,
		DOB:       a.DOB,
		SSN:       a.SSN,
		Address1:  a.Address1,
		Address2:  a.Address2,
		City:      a.City,
		State:     a.State,
		ZIPCode:   a.ZIPCode,
	}, a)
}
