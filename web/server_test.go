package web

import (
	"io"
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

// Every answer carries the Permissions-Policy (only the camera, for our
// own pages), COOP and CORP; HSTS only when the session cookie is Secure,
// that is when idv is served over HTTPS.
func TestHardeningHeaders(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		h := newHarnessOpts(t, func(o *Options) { o.Sessions.Cookie.Secure = secure })
		for _, path := range []string{"/", "/static/idv.css", "/api/health"} {
			res, err := h.srv.Client().Get(h.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			want := map[string]string{
				"Cross-Origin-Opener-Policy":   "same-origin",
				"Cross-Origin-Resource-Policy": "same-origin",
				"Strict-Transport-Security":    "",
			}
			if secure {
				want["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
			}
			for name, v := range want {
				if got := res.Header.Get(name); got != v {
					t.Errorf("secure=%v GET %s: %s %q, want %q", secure, path, name, got, v)
				}
			}
			pp := res.Header.Get("Permissions-Policy")
			for _, want := range []string{"camera=(self)", "geolocation=()", "microphone=()", "payment=()"} {
				if !strings.Contains(pp, want) {
					t.Errorf("secure=%v GET %s: Permissions-Policy %q lacks %s", secure, path, pp, want)
				}
			}
		}
	}
}

// /static/ serves its files and lists none: a directory is 404.
func TestStaticServesFilesOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for path, want := range map[string]int{
		"/static/idv.css":    http.StatusOK,
		"/static/wait.js":    http.StatusOK,
		"/static/":           http.StatusNotFound,
		"/static/./":         http.StatusNotFound,
		"/static/nothing.js": http.StatusNotFound,
		"/static/../static/": http.StatusNotFound,
	} {
		res, err := h.srv.Client().Get(h.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
		if strings.Contains(string(body), "wait.js") && path != "/static/wait.js" {
			t.Errorf("GET %s lists the files: %.200s", path, body)
		}
	}
}
