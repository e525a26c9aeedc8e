package local_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/objects/local"
	"github.com/idv-dev/idv/objects/objectstest"
)

var secret = bytes.Repeat([]byte("k"), local.MinSecretLen)

// served is a Store behind a real HTTP server, mounted at /uploads/ as the
// web server mounts it.
type served struct {
	store *local.Store
	clock *testenv.Clock
	dir   string
	url   string
}

func serve(t *testing.T) served {
	t.Helper()
	var mu sync.Mutex
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hh := h
		mu.Unlock()
		hh.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	clock := testenv.NewClock()
	dir := t.TempDir()
	s, err := local.New(local.Config{Dir: dir, Secret: secret, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(local.UploadPath, s.Handler())
	mu.Lock()
	h = mux
	mu.Unlock()
	return served{store: s, clock: clock, dir: dir, url: srv.URL}
}

// abs is the URL a browser on the test server's page would use for the
// path-only URL u.
func (s served) abs(u string) string { return s.url + u }

// absolute is a Store as seen by the conformance suite, which PUTs to the
// URLs it is given: PresignPut's path-only URLs resolved against the test
// server, as the browser resolves them against the page's origin.
// KeyFromURL takes exactly those back to the store's path-only form; the
// store's own KeyFromURL, which refuses every absolute URL, has its table in
// TestKeyFromURL.
type absolute struct {
	*local.Store
	base string
}

func (a absolute) PresignPut(ctx context.Context, key string, size int64, expires time.Duration) (string, error) {
	u, err := a.Store.PresignPut(ctx, key, size, expires)
	return a.base + u, err
}

func (a absolute) KeyFromURL(raw string) (string, error) {
	if rest, ok := strings.CutPrefix(raw, a.base); ok && strings.HasPrefix(rest, "/") {
		return a.Store.KeyFromURL(rest)
	}
	return "", idv.Errorf(idv.EINVALID, "not on the test server")
}

func TestConformance(t *testing.T) {
	t.Parallel()
	objectstest.Run(t, func(t *testing.T) objectstest.Harness {
		s := serve(t)
		return objectstest.Harness{
			Store:          absolute{s.store, s.url},
			SignatureParam: "sig",
			Backdate: func(d time.Duration) func() {
				s.clock.Advance(-d)
				return func() { s.clock.Advance(d) }
			},
			ForeignURLs: map[string]string{
				"other mount":  s.url + "/upload/" + objectstest.NewKey(idv.SideFront),
				"nested mount": s.url + "/x/uploads/" + objectstest.NewKey(idv.SideFront),
			},
		}
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, cfg := range map[string]local.Config{
		"no dir":       {Secret: secret},
		"short secret": {Dir: dir, Secret: secret[:31]},
		"no secret":    {Dir: dir},
	} {
		if _, err := local.New(cfg); idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("%s: New: %v, want EINVALID", name, err)
		}
	}
	if _, err := local.New(local.Config{Dir: dir, Secret: secret}); err != nil {
		t.Errorf("good config: %v", err)
	}
}

func TestPresignedURLShape(t *testing.T) {
	t.Parallel()
	s := serve(t)
	key := objectstest.NewKey(idv.SideFront)
	raw, err := s.store.PresignPut(t.Context(), key, 1234, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	// Path-only: the browser resolves it against the page's origin, so
	// the upload is same-origin at localhost and 127.0.0.1 alike.
	if u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(raw, "/uploads/") || strings.HasPrefix(raw, "//") {
		t.Errorf("URL %q is not path-only", raw)
	}
	if u.Path != "/uploads/"+key {
		t.Errorf("URL path = %s, want /uploads/%s", u.Path, key)
	}
	q := u.Query()
	if want := s.clock.Now().Add(10 * time.Minute).Unix(); q.Get("expires") != strconv.FormatInt(want, 10) {
		t.Errorf("expires = %s, want %d", q.Get("expires"), want)
	}
	if len(q.Get("sig")) != 43 || strings.ContainsAny(q.Get("sig"), "+/=") {
		t.Errorf("sig = %q, want 43 characters of unpadded base64url", q.Get("sig"))
	}
	if q.Get("size") != "1234" {
		t.Errorf("size = %q, want 1234 (the one length the URL takes)", q.Get("size"))
	}
	if len(q) != 3 {
		t.Errorf("query has %d parameters, want expires, size and sig", len(q))
	}
}

// TestKeyFromURL: the store takes back exactly the path-only URLs it
// issues, with or without their query, and refuses everything else without
// quoting it: absolute URLs to any host (this server's included: a page
// never holds one), other paths and mounts, other stores' URLs, relative and
// scheme-relative forms a browser would send elsewhere, and path mischief.
func TestKeyFromURL(t *testing.T) {
	t.Parallel()
	st, err := local.New(local.Config{Dir: t.TempDir(), Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	key := objectstest.NewKey(idv.SideFront)
	issued, err := st.PresignPut(t.Context(), key, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	bare, q, _ := strings.Cut(issued, "?")
	q = "?" + q
	capture, front := strings.TrimSuffix(key, "/front"), "front"
	for name, u := range map[string]string{
		"issued":             issued,
		"without query":      bare,
		"with another query": bare + "?a=b",
	} {
		if got, err := st.KeyFromURL(u); err != nil || got != key {
			t.Errorf("%s: KeyFromURL(%q) = %q, %v; want %q", name, u, got, err, key)
		}
	}
	for name, u := range map[string]string{
		"empty":               "",
		"absolute 127.0.0.1":  "http://127.0.0.1:8080" + issued,
		"absolute localhost":  "http://localhost:8080" + issued,
		"absolute other host": "https://evil.example" + issued,
		"scheme-relative":     "//evil.example" + issued,
		"triple slash":        "/" + "//evil.example" + issued,
		"backslash host":      "/\\evil.example" + issued,
		"relative":            strings.TrimPrefix(issued, "/"),
		"dot relative":        "." + issued,
		"other mount":         "/upload/" + key + q,
		"nested mount":        "/x/uploads/" + key + q,
		"double slash prefix": "//uploads/" + key + q,
		"S3 URL":              "https://s3.example/bucket/" + key + q,
		"fake store URL":      "https://objects.test/bucket/" + key,
		"javascript":          "javascript:alert(1)",
		"opaque":              "http:/uploads/" + key,
		"user info":           "http://u:p@127.0.0.1:8080" + issued,
		"no key":              "/uploads/" + q,
		"prefix only":         "/uploads",
		"fragment":            bare + "#x",
		"empty fragment":      bare + "#",
		"dot-dot":             "/uploads/" + capture + "/../other/" + front + q,
		"dot-dot out":         "/uploads/../" + key + q,
		"dot segment":         "/uploads/" + capture + "/./" + front + q,
		"double slash":        "/uploads/" + capture + "//" + front + q,
		"trailing slash":      bare + "/" + q,
		"encoded slash":       "/uploads/" + capture + "%2F" + front + q,
		"encoded dot-dot":     "/uploads/" + capture + "/%2E%2E/x/" + front + q,
		"encoded letter":      "/uploads/" + strings.Replace(key, "d", "%64", 1) + q,
		"backslash in key":    "/uploads/" + capture + "\\" + front + q,
		"space":               bare + " x" + q,
		"tab":                 bare + "\tx" + q,
		"newline":             bare + "\n" + q,
		"non-ASCII":           bare + "é" + q,
		"very long":           bare + strings.Repeat("a", 10000) + q,
		"very long query":     bare + "?" + strings.Repeat("a", 10000),
	} {
		got, err := st.KeyFromURL(u)
		if idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("%s: KeyFromURL(%q) = %q, %v; want EINVALID", name, u, got, err)
			continue
		}
		if len(u) >= 16 && strings.Contains(err.Error(), u) {
			t.Errorf("%s: the error quotes the URL: %v", name, err)
		}
	}
}

// TestUploadAnswers drives the handler through each refusal: status, a body
// that says why, and nothing written.
func TestUploadAnswers(t *testing.T) {
	t.Parallel()
	s := serve(t)
	key := objectstest.NewKey(idv.SideFront)
	good, err := s.store.PresignPut(t.Context(), key, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	good = s.abs(good)
	bare, _, _ := strings.Cut(good, "?")
	for _, tc := range []struct {
		name, method, url, contentType string
		body                           []byte
		status                         int
		says                           string
	}{
		{"wrong type", http.MethodPut, good, "image/jpeg", []byte("x"), http.StatusUnsupportedMediaType, "application/octet-stream"},
		{"no type", http.MethodPut, good, "", []byte("x"), http.StatusUnsupportedMediaType, "application/octet-stream"},
		{"no signature", http.MethodPut, bare, "application/octet-stream", []byte("x"), http.StatusForbidden, "signature"},
		{"signature twice", http.MethodPut, good + "&sig=x", "application/octet-stream", []byte("x"), http.StatusForbidden, "signature"},
		{"too large", http.MethodPut, good, "application/octet-stream", make([]byte, idv.MaxImageBytes+1), http.StatusRequestEntityTooLarge, "over"},
		{"one byte over the URL's", http.MethodPut, good, "application/octet-stream", []byte("xy"), http.StatusRequestEntityTooLarge, "over the 1 bytes"},
		{"shorter than the URL's", http.MethodPut, good, "application/octet-stream", []byte{}, http.StatusForbidden, "exactly 1 bytes"},
		{"size changed", http.MethodPut, strings.Replace(good, "size=1", "size=2", 1), "application/octet-stream", []byte("xy"), http.StatusForbidden, "signature"},
		{"size dropped", http.MethodPut, strings.Replace(good, "&size=1", "", 1), "application/octet-stream", []byte("x"), http.StatusForbidden, "signature"},
		{"GET", http.MethodGet, good, "", nil, http.StatusMethodNotAllowed, "PUT"},
		{"POST", http.MethodPost, good, "application/octet-stream", []byte("x"), http.StatusMethodNotAllowed, "PUT"},
		{"bad key", http.MethodPut, s.url + "/uploads/a%2Fb?sig=x&expires=1", "application/octet-stream", []byte("x"), http.StatusNotFound, "not an upload URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, tc.url, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(b.String(), tc.says) {
				t.Errorf("%s: %d %q, want %d saying %q", tc.name, resp.StatusCode, b.String(), tc.status, tc.says)
			}
		})
	}
	// A body without a Content-Length (chunked) is refused before it is
	// read: the URL is for one announced length.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, good, struct{ *bytes.Reader }{bytes.NewReader(make([]byte, idv.MaxImageBytes+10))})
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusLengthRequired {
			t.Errorf("chunked body: %d, want 411", resp.StatusCode)
		}
	}
	if _, err := s.store.Get(t.Context(), key); idv.ErrorCode(err) != idv.ENOTFOUND {
		t.Errorf("after refusals, Get: %v, want ENOTFOUND", err)
	}
	assertNoFiles(t, s.dir)

	// The expiry message differs from the signature message.
	s.clock.Advance(2 * time.Minute)
	code, body := objectstest.PlainPut(t, good, "application/octet-stream", []byte("x"))
	if code != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Errorf("expired URL: %d %q, want 403 saying expired", code, body)
	}
	// A content type with parameters is still octet-stream.
	fresh, _ := s.store.PresignPut(t.Context(), key, 1, time.Minute)
	if code, body := objectstest.PlainPut(t, s.abs(fresh), "application/octet-stream; charset=binary", []byte("x")); code != http.StatusNoContent {
		t.Errorf("octet-stream with a parameter: %d %q, want 204", code, body)
	}
}

// assertNoFiles fails if any regular file is under dir.
func assertNoFiles(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("file left behind: %s", p)
		}
		return nil
	})
}

// TestFilesArePrivate checks the modes on disk: objects 0600 in folders 0700.
func TestFilesArePrivate(t *testing.T) {
	t.Parallel()
	s := serve(t)
	key := objectstest.NewKey(idv.SideBack)
	u, _ := s.store.PresignPut(t.Context(), key, int64(len("ciphertext")), time.Minute)
	if code, body := objectstest.PlainPut(t, s.abs(u), "application/octet-stream", []byte("ciphertext")); code != http.StatusNoContent {
		t.Fatalf("PUT: %d %s", code, body)
	}
	err := filepath.WalkDir(s.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == s.dir {
			return err // Dir itself is the caller's
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "objects", filepath.FromSlash(key))); err != nil {
		t.Errorf("object not at objects/<key>: %v", err)
	}
}

// TestCannotEscapeDir plants a symbolic link inside the folder that points
// outside it: writes and reads through it fail instead of following it.
func TestCannotEscapeDir(t *testing.T) {
	t.Parallel()
	s := serve(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "front"), []byte("secret outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "objects", "document-capture"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.dir, "objects", "document-capture", "evil")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.store.Get(t.Context(), "document-capture/evil/front"); err == nil {
		t.Errorf("Get through a link out of Dir returned %q", got)
	}
	if err := s.store.Put(t.Context(), "document-capture/evil/back", []byte("x")); err == nil {
		t.Error("Put through a link out of Dir succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "back")); err == nil {
		t.Error("a file was written outside Dir")
	}
	if err := s.store.Delete(t.Context(), "document-capture/evil/front"); err == nil {
		if _, err := os.Stat(filepath.Join(outside, "front")); err != nil {
			t.Error("Delete removed a file outside Dir")
		}
	}
}
