package vendors_test

import (
	"context"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/vendors/sim"
)

// serve starts h on loopback with its error log captured, so tests can
// assert that nothing sensitive was logged.
func serve(t *testing.T, h http.Handler) (*httptest.Server, *testenv.Log) {
	t.Helper()
	logs := &testenv.Log{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(logs, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, logs
}

// startSim serves a simulator. Its hang limit is short so that a broken
// test cannot hold the server for long; clients give up well before it.
func startSim(t *testing.T, o sim.Options) (*httptest.Server, *testenv.Log) {
	t.Helper()
	if o.Hang == 0 {
		o.Hang = 10 * time.Second
	}
	return serve(t, sim.New(o))
}

// clients builds the vendor clients for cfg, failing the test on error.
func clients(t *testing.T, cfg vendors.Config) *vendors.Clients {
	t.Helper()
	c, err := vendors.New(cfg)
	if err != nil {
		t.Fatalf("vendors.New: %v", err)
	}
	t.Cleanup(c.HTTP.CloseIdleConnections)
	return c
}

// closedURL returns an http URL on loopback where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	return "http://" + testenv.ClosedAddr(t)
}

// applicant is a person whose every check passes.
func applicant() idv.Applicant {
	return idv.Applicant{
		FirstName:           "Jane",
		LastName:            "Doe",
		DOB:                 "1980-01-02",
		SSN:                 "900-12-3456",
		Address1:            "1 Main St",
		City:                "Springfield",
		State:               "VA",
		ZIPCode:             "22030",
		StateIDNumber:       "D1234567",
		StateIDJurisdiction: "VA",
		StateIDExpiration:   "2030-01-01",
		Phone:               "2025550123",
	}
}

// proof runs the check named stage ("resolution", "state_id", "phone").
func proof(t *testing.T, c *vendors.Clients, ctx context.Context, stage string, a idv.Applicant) idv.VendorResult {
	t.Helper()
	switch stage {
	case "resolution":
		return c.Resolution.ProofResolution(ctx, a)
	case "state_id":
		return c.StateID.ProofStateID(ctx, a)
	case "phone":
		return c.Phone.ProofPhone(ctx, a)
	}
	t.Fatalf("unknown stage %q", stage)
	return idv.VendorResult{}
}
