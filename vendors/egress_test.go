package vendors_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/vendors/sim"
)

// TestThroughTinyproxy sends vendor traffic through a real tinyproxy with an
// allow-list: allowed hosts go through (and the proxy's log shows it), other
// hosts are refused and the refusal is an exception result.
func TestThroughTinyproxy(t *testing.T) {
	t.Parallel()
	vendor := httptest.NewServer(sim.New(sim.Options{}))
	t.Cleanup(vendor.Close)
	proxy := testenv.Tinyproxy(t, "127.0.0.1")
	a := idv.Applicant{FirstName: "Egresscanary", LastName: "Doe", DOB: "1980-01-01", SSN: "900-11-2222",
		Address1: "1 Main St", City: "X", State: "VA", ZIPCode: "22201", StateIDNumber: "D1", StateIDJurisdiction: "VA", Phone: "7035550100"}

	vc, err := vendors.New(vendors.Config{BaseURL: vendor.URL, ProxyURL: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, r := range map[string]idv.VendorResult{
		"resolution": vc.Resolution.ProofResolution(ctx, a),
		"state_id":   vc.StateID.ProofStateID(ctx, a),
		"phone":      vc.Phone.ProofPhone(ctx, a),
	} {
		if !r.Success {
			t.Errorf("%s through the proxy: %+v", name, r)
		}
	}
	if err := vendors.CheckOutbound(ctx, vc.HTTP, vendors.HealthURL(vendor.URL)); err != nil {
		t.Errorf("outbound check through the proxy: %v", err)
	}

	// The same vendor under a host name outside the allow-list.
	denied := strings.Replace(vendor.URL, "127.0.0.1", "localhost", 1)
	vd, err := vendors.New(vendors.Config{BaseURL: denied, ProxyURL: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	if r := vd.Resolution.ProofResolution(ctx, a); r.Exception == "" || r.Success {
		t.Errorf("a host outside the allow-list was reached: %+v", r)
	}
	if err := vendors.CheckOutbound(ctx, vd.HTTP, vendors.HealthURL(denied)); err == nil {
		t.Error("outbound check to a refused host passed")
	}

	log := proxy.Log(t)
	for _, want := range []string{
		"POST " + vendor.URL + "/resolution/verify",
		"POST " + vendor.URL + "/state_id/verify",
		"POST " + vendor.URL + "/phone/verify",
		`Proxying refused on filtered domain "localhost"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("proxy log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "Egresscanary") || strings.Contains(log, "900-11-2222") {
		t.Error("PII in the proxy's log")
	}
}
