package web

import (
	"net/http"
	"strings"
	"testing"
)

func TestCrossOriginPostRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	req, _ := http.NewRequest("POST", h.srv.URL+"/verify/verify_info", strings.NewReader(goodForm().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || len(h.queue.Jobs()) != 0 {
		t.Fatalf("cross-site POST: %d, %d jobs", res.StatusCode, len(h.queue.Jobs()))
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res, err := h.client.Get(h.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
}
