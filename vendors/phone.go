package vendors

import (
	"context"
	"net/http"

	"github.com/idv-dev/idv"
)

// Phone asks a phone-ownership vendor whether the applicant's phone number
// belongs to them.
type Phone struct{ c caller }

var _ idv.PhoneProofer = (*Phone)(nil)

// NewPhone returns a client for the vendor at e.URL. A zero e.Timeout means
// DefaultPhoneTimeout and an empty e.Name NamePhone.
func NewPhone(client *http.Client, e Endpoint) (*Phone, error) {
	c, err := newCaller(client, e, PathPhone, NamePhone, DefaultPhoneTimeout)
	if err != nil {
		return nil, err
	}
	return &Phone{c: c}, nil
}

// ProofPhone implements idv.PhoneProofer. Only the phone number, name and
// date of birth are sent: the vendor needs no more to answer.
func (p *Phone) ProofPhone(ctx context.Context, a idv.Applicant) idv.VendorResult {
	return p.c.call(ctx, PhoneRequest{
		Phone:     idv.NormalizePhone(a.Phone),
		FirstName: a.FirstName,
		LastName:  a.LastName,
		DOB:       a.DOB,
	}, a)
}
