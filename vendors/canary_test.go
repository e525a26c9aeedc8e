package vendors_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/vendors/sim"
)

// canaries are distinctive PII values; none may come back in a result, a
// log line or a proxied request line.
var canaries = []string{
	"Canaryfirstname", "Canarylastname", "1951-07-13", "19510713",
	"900-12-3456", "900123456", "555-12-3456", "555123456",
	"Canarystreet", "Canarysuite", "Canarycity", "97531", "CANARYID42", "2061-08-09",
	"2025550147",
}

// canaryApplicant carries a canary in every field.
func canaryApplicant() idv.Applicant {
	return idv.Applicant{
		FirstName:           "Canaryfirstname",
		LastName:            "Canarylastname",
		DOB:                 "1951-07-13",
		SSN:                 "900-12-3456",
		Address1:            "77 Canarystreet",
		Address2:            "Canarysuite 5",
		City:                "Canarycity",
		State:               "VA",
		ZIPCode:             "97531",
		StateIDNumber:       "CANARYID42",
		StateIDJurisdiction: "VA",
		StateIDExpiration:   "2061-08-09",
		Phone:               "2025550147",
	}
}

// echoVendor is a careless vendor: it reflects every request value into
// every string of its answer, or into its error page.
func echoVendor(status int, exception bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]string
		_ = json.NewDecoder(r.Body).Decode(&req)
		var all []string
		resp := map[string]any{"success": false}
		errs := map[string][]string{}
		for k, v := range req {
			all = append(all, v)
			errs[k] = []string{v, "unverified " + v}
			errs[v] = []string{v}
		}
		resp["errors"] = errs
		resp["transaction_id"] = req["first_name"]
		resp["reference"] = strings.ReplaceAll(req["ssn"], "-", "")
		resp["verified_attributes"] = all
		if exception {
			resp["exception"] = req["last_name"]
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(resp)
	})
}

// TestNoPIIInResults runs canary PII through every trigger, through the
// forward proxy, and against vendors that echo their input, and checks that
// no canary appears in any result, server log or proxied request line.
func TestNoPIIInResults(t *testing.T) {
	t.Parallel()
	simSrv, simLogs := startSim(t, sim.Options{})
	proxy, proxyURL, proxyLogs := startProxy(t)
	var logs = []*testenv.Log{simLogs, proxyLogs}
	base := func(url string, timeout time.Duration) *vendors.Clients {
		return clients(t, vendors.Config{BaseURL: url, ProxyURL: proxyURL, Timeout: timeout})
	}
	viaSim := base(simSrv.URL, 5*time.Second)
	viaSimShort := base(simSrv.URL, shortTimeout)
	direct := clients(t, vendors.Config{BaseURL: simSrv.URL, Timeout: 5 * time.Second})
	echoers := map[string]*vendors.Clients{}
	for name, h := range map[string]http.Handler{
		"echo verdict":   echoVendor(http.StatusOK, false),
		"echo exception": echoVendor(http.StatusOK, true),
		"echo error":     echoVendor(http.StatusInternalServerError, false),
	} {
		srv, l := serve(t, h)
		logs = append(logs, l)
		echoers[name] = base(srv.URL, 5*time.Second)
	}
	unreachable := clients(t, vendors.Config{BaseURL: closedURL(t), Timeout: 5 * time.Second})

	type call struct {
		name  string
		c     *vendors.Clients
		stage string
		edit  func(*idv.Applicant)
	}
	calls := []call{
		{"resolution success", viaSim, "resolution", nil},
		{"resolution ssn failure", viaSim, "resolution", func(a *idv.Applicant) { a.SSN = "555-12-3456" }},
		{"resolution Bad", viaSim, "resolution", func(a *idv.Applicant) { a.FirstName += "Bad" }},
		{"resolution Fail", viaSim, "resolution", func(a *idv.Applicant) { a.FirstName += "Fail" }},
		{"resolution Parse", viaSim, "resolution", func(a *idv.Applicant) { a.FirstName += "Parse" }},
		{"resolution Time", viaSimShort, "resolution", func(a *idv.Applicant) { a.FirstName += "Time" }},
		{"resolution unreachable via proxy", viaSim, "resolution", func(a *idv.Applicant) { a.SSN = "000-00-0000" }},
		{"resolution unreachable direct", direct, "resolution", func(a *idv.Applicant) { a.SSN = "000-00-0000" }},
		{"resolution ZIP", viaSim, "resolution", func(a *idv.Applicant) { a.ZIPCode = "00000" }},
		{"state ID success", viaSim, "state_id", nil},
		{"state ID mvatimeout", viaSim, "state_id", func(a *idv.Applicant) { a.StateIDNumber = "mvatimeout" }},
		{"state ID zeros", viaSim, "state_id", func(a *idv.Applicant) { a.StateIDNumber = "000000" }},
		{"state ID jurisdiction", viaSim, "state_id", func(a *idv.Applicant) { a.StateIDJurisdiction = "ZZ" }},
		{"phone success", viaSim, "phone", nil},
		{"phone unverifiable", viaSim, "phone", func(a *idv.Applicant) { a.Phone = "7035555555" }},
		{"phone timeout", viaSimShort, "phone", func(a *idv.Applicant) { a.Phone = "7035555888" }},
		{"phone exception", viaSim, "phone", func(a *idv.Applicant) { a.Phone = "7035555999" }},
	}
	for _, stage := range []string{"resolution", "state_id", "phone"} {
		for name, c := range echoers {
			calls = append(calls, call{name + " " + stage, c, stage, nil})
		}
		calls = append(calls, call{"connection refused " + stage, unreachable, stage, nil})
	}

	results := make(chan []byte, len(calls))
	t.Run("calls", func(t *testing.T) {
		for _, tc := range calls {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				a := canaryApplicant()
				if tc.edit != nil {
					tc.edit(&a)
				}
				r := proof(t, tc.c, t.Context(), tc.stage, a)
				b, err := json.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				if leaked := findCanaries(string(b), canaries); leaked != nil {
					t.Errorf("result carries %q: %s", leaked, b)
				}
				results <- b
			})
		}
	})
	close(results)
	if len(results) != len(calls) {
		t.Fatalf("%d results for %d calls", len(results), len(calls))
	}
	if seen := proxy.requests(); len(seen) == 0 {
		t.Error("no request went through the proxy")
	} else if leaked := findCanaries(strings.Join(seen, "\n"), canaries); leaked != nil {
		t.Errorf("proxied request lines carry %q", leaked)
	}
	for i, l := range logs {
		if leaked := findCanaries(l.String(), canaries); leaked != nil {
			t.Errorf("server log %d carries %q:\n%s", i, leaked, l.String())
		}
	}
}

// findCanaries returns those of canaries found in s, case-insensitively.
func findCanaries(s string, canaries []string) []string {
	var found []string
	ls := strings.ToLower(s)
	for _, c := range canaries {
		if strings.Contains(ls, strings.ToLower(c)) {
			found = append(found, c)
		}
	}
	return found
}
