package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/internal/testenv/flow"
)

var devCaptureIDRE = regexp.MustCompile(`name="capture_id" value="([^"]+)"`)

// `idv dev` works at localhost as at 127.0.0.1: the capture page opened at
// http://localhost:PORT gets a path-only upload URL, which the browser
// resolves against the page's origin, so the PUT is same-origin (the CSP's
// connect-src 'self' allows it) and the server takes it. Before, the URL
// named http://127.0.0.1:PORT, a cross-origin PUT the CSP blocked.
func TestDevUploadsAtLocalhost(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Web.Addr, cfg.Web.SecureCookies = "127.0.0.1:0", false
	cfg.Keys.File = filepath.Join(dir, "keys.json")
	base := run(t, ctx, func(ctx context.Context) (*app.Role, error) { return app.StartDev(ctx, cfg, quiet(), dir) })
	bu, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://localhost:" + bu.Port()

	p := flow.New(origin, nil)
	first, err := p.SelfServe(ctx)
	if err != nil || first != "/verify/document_capture" {
		t.Fatalf("self-serve start at localhost: %q %v", first, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, origin+first, nil)
	res, err := p.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := devCaptureIDRE.FindSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("capture page at localhost: HTTP %d without a capture id", res.StatusCode)
	}
	// The page asks for an upload URL for the ciphertext's length, from
	// the page's origin, just before the PUT.
	ask, _ := http.NewRequestWithContext(ctx, http.MethodPost, origin+first+"/upload_url", strings.NewReader(url.Values{
		"capture_id": {html.UnescapeString(string(m[1]))}, "side": {"front"}, "size": {"10"}}.Encode()))
	ask.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ask.Header.Set("Origin", origin)
	ask.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err = p.Client.Do(ask)
	if err != nil {
		t.Fatal(err)
	}
	var minted struct{ URL, Error string }
	err = json.NewDecoder(res.Body).Decode(&minted)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("upload URL at localhost: HTTP %d %+v %v", res.StatusCode, minted, err)
	}
	upload := minted.URL
	if !strings.HasPrefix(upload, "/uploads/") || strings.HasPrefix(upload, "//") {
		t.Fatalf("upload URL %q is not path-only", upload)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q does not allow same-origin uploads", csp)
	}

	// What the page's script does: PUT the ciphertext to the URL resolved
	// against the page, which is on localhost.
	ref, err := url.Parse(upload)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := url.Parse(origin + first)
	target := page.ResolveReference(ref)
	if target.Scheme+"://"+target.Host != origin {
		t.Fatalf("upload resolves to %s, not the page's origin %s", target, origin)
	}
	put, _ := http.NewRequestWithContext(ctx, http.MethodPut, target.String(), bytes.NewReader([]byte("ciphertext")))
	put.Header.Set("Content-Type", "application/octet-stream")
	put.Header.Set("Origin", origin)
	res, err = http.DefaultClient.Do(put)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT %s: HTTP %d %s, want 204", target, res.StatusCode, msg)
	}
}
