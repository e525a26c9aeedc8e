package vendors_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/vendors"
)

// TestVendorAnswerScrubbed checks what is kept from answers of a vendor that
// echoes its input: attribute names only from the known vocabulary, codes
// and ids only when they are short tokens free of the applicant's values.
func TestVendorAnswerScrubbed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    http.Handler
		want idv.VendorResult
	}{
		{
			name: "echoed verdict",
			h:    echoVendor(http.StatusOK, false),
			want: idv.VendorResult{
				Vendor: vendors.NamePhone,
				Errors: map[string][]string{
					// Every echoed value is refused; unknown names fold into "other".
					"phone": {"unverified"}, "first_name": {"unverified"}, "last_name": {"unverified"},
					"dob": {"unverified"}, "other": {"unverified"},
				},
			},
		},
		{
			name: "echoed exception",
			h:    echoVendor(http.StatusOK, true),
			want: idv.VendorResult{
				Vendor:    vendors.NamePhone,
				Exception: "vendor reported unverified",
				Errors: map[string][]string{
					"phone": {"unverified"}, "first_name": {"unverified"}, "last_name": {"unverified"},
					"dob": {"unverified"}, "other": {"unverified"},
				},
			},
		},
		{
			name: "error page",
			h:    echoVendor(http.StatusBadGateway, false),
			want: idv.VendorResult{Vendor: vendors.NamePhone, Exception: "vendor returned HTTP 502"},
		},
		{
			name: "clean answer kept",
			h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(`{"success":false,"errors":{"phone":["phone_unverifiable","phone_unverifiable"]},` +
					`"transaction_id":"tx-ABC.123:9","reference":"ref_1","verified_attributes":["dob","dob","shoe_size"]}`))
			}),
			want: idv.VendorResult{
				Vendor:             vendors.NamePhone,
				Errors:             map[string][]string{"phone": {"phone_unverifiable"}},
				TransactionID:      "tx-ABC.123:9",
				Reference:          "ref_1",
				VerifiedAttributes: []string{"dob"},
			},
		},
		{
			name: "answer without success",
			h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(`{"errors":{}}`))
			}),
			want: idv.VendorResult{Vendor: vendors.NamePhone, Exception: "unparseable response"},
		},
		{
			name: "redirect not followed",
			h:    http.RedirectHandler("http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect),
			want: idv.VendorResult{Vendor: vendors.NamePhone, Exception: "vendor returned HTTP 307"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := serve(t, tt.h)
			c := clients(t, vendors.Config{BaseURL: srv.URL, Timeout: 5 * time.Second})
			got := c.Phone.ProofPhone(t.Context(), canaryApplicant())
			got.DurationMS = 0
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
