package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// A request refused for its own fault (4xx: no key, a body too large or
// malformed, an unknown verification) is logged at INFO with its problem
// code and no error; only idv's own failures (TestAPIUnavailable) are
// ERROR.
func TestAPIClientErrorsLoggedAtInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.rp()
	for _, tc := range []struct {
		method, path, key, body string
		status                  int
	}{
		{"GET", "/v1/verifications/vrf_nope", "", "", http.StatusUnauthorized},
		{"GET", "/v1/verifications/vrf_nope", key, "", http.StatusNotFound},
		{"POST", "/v1/verifications", key, `{"client_reference_id":`, http.StatusBadRequest},
		{"POST", "/v1/verifications", key, `{"metadata":"` + strings.Repeat("x", 64<<10) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		before := len(e.logs.requestLines(t))
		r := e.do(tc.method, tc.path, tc.key, tc.body)
		if r.status != tc.status {
			t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, r.status, tc.status)
		}
		lines := e.logs.requestLines(t)[before:]
		if len(lines) != 1 || lines[0]["level"] != "INFO" || lines[0]["status"] != float64(tc.status) ||
			lines[0]["code"] == nil || lines[0]["error"] != nil {
			t.Errorf("%s %s (%d): request lines %v, want one at INFO with its code and no error", tc.method, tc.path, tc.status, lines)
		}
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("a 4xx was logged at ERROR:\n%s", e.logs.String())
	}
}
