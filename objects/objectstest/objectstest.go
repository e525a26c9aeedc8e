// Package objectstest is the conformance suite of idv.ObjectStore. Every
// adapter's tests call Run against a real backend (a folder served over HTTP,
// versitygw), so the web tier and the worker can rely on one contract: URLs
// a browser can PUT to with nothing but Content-Type, coded errors, a size
// cap, and a KeyFromURL that accepts its own URLs and nothing else.
package objectstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/objects"
)

// Harness is one store under test, fresh for each subtest.
type Harness struct {
	Store idv.ObjectStore
	// SignatureParam is the query parameter of a pre-signed URL that
	// carries its signature ("X-Amz-Signature", "sig").
	SignatureParam string
	// Backdate makes the store sign URLs as if it were d earlier, until
	// the returned function is called. It gives an already expired URL
	// without waiting. Nil: the suite pre-signs for 1 s and polls until
	// the store refuses the URL.
	Backdate func(d time.Duration) (restore func())
	// ForeignURLs are extra URLs KeyFromURL must refuse, specific to the
	// adapter (another bucket, another prefix).
	ForeignURLs map[string]string
}

// Run runs the suite. newHarness is called once per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("PresignedPutThenGet", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		key := newKey(idv.SideFront)
		data := randomBytes(64 << 10)
		u := presign(t, h, key, len(data), time.Hour)
		if code, body := put(t, u, "application/octet-stream", data); code/100 != 2 {
			t.Fatalf("PUT to the pre-signed URL: %d %s", code, body)
		}
		got, err := h.Store.Get(ctx(t), key)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("Get returned %d bytes that differ from the %d uploaded", len(got), len(data))
		}
		// A second PUT replaces the object (the person retakes a photo,
		// and the page asks for a URL for its length).
		again := randomBytes(1000)
		u = presign(t, h, key, len(again), time.Hour)
		if code, body := put(t, u, "application/octet-stream", again); code/100 != 2 {
			t.Fatalf("second PUT: %d %s", code, body)
		}
		if got, err := h.Store.Get(ctx(t), key); err != nil || !bytes.Equal(got, again) {
			t.Fatalf("Get after the second PUT: %d bytes, %v; want the new %d bytes", len(got), err, len(again))
		}
	})

	t.Run("PutGetReplace", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		key := newKey(idv.SideBack)
		for _, data := range [][]byte{randomBytes(1), randomBytes(300 << 10), {}} {
			if err := h.Store.Put(ctx(t), key, data); err != nil {
				t.Fatalf("Put %d bytes: %v", len(data), err)
			}
			got, err := h.Store.Get(ctx(t), key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("Get returned %d bytes, want the %d put", len(got), len(data))
			}
		}
	})

	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		_, err := h.Store.Get(ctx(t), newKey(idv.SideFront))
		if idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("Get of a missing key: %v (code %q), want ENOTFOUND", err, idv.ErrorCode(err))
		}
	})

	t.Run("DeleteIsIdempotent", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		key := newKey(idv.SideFront)
		other := strings.TrimSuffix(key, string(idv.SideFront)) + string(idv.SideBack)
		for _, k := range []string{key, other} {
			if err := h.Store.Put(ctx(t), k, []byte("ciphertext")); err != nil {
				t.Fatalf("Put: %v", err)
			}
		}
		for i := range 2 {
			if err := h.Store.Delete(ctx(t), key); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if _, err := h.Store.Get(ctx(t), key); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("Get after Delete: %v, want ENOTFOUND", err)
		}
		if _, err := h.Store.Get(ctx(t), other); err != nil {
			t.Fatalf("Delete removed another key of the same capture: %v", err)
		}
		if err := h.Store.Delete(ctx(t), newKey(idv.SideBack)); err != nil {
			t.Fatalf("Delete of a key never written: %v", err)
		}
	})

	t.Run("Oversized", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		big := randomBytes(idv.MaxImageBytes + 1)
		if err := h.Store.Put(ctx(t), newKey(idv.SideFront), big); idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("Put of %d bytes: %v, want EINVALID", len(big), err)
		}
		// Exactly the limit is fine.
		key := newKey(idv.SideFront)
		if err := h.Store.Put(ctx(t), key, big[:idv.MaxImageBytes]); err != nil {
			t.Fatalf("Put of exactly MaxImageBytes: %v", err)
		}
		if got, err := h.Store.Get(ctx(t), key); err != nil || len(got) != idv.MaxImageBytes {
			t.Fatalf("Get of exactly MaxImageBytes: %d bytes, %v", len(got), err)
		}
		// No URL is issued for more than the limit (or for nothing), and
		// the URL for exactly the limit takes no more.
		key = newKey(idv.SideBack)
		for _, n := range []int64{idv.MaxImageBytes + 1, 1 << 40, 0, -1} {
			if u, err := h.Store.PresignPut(ctx(t), key, n, time.Hour); idv.ErrorCode(err) != idv.EINVALID {
				t.Errorf("PresignPut for %d bytes: %q, %v; want EINVALID", n, u, err)
			}
		}
		u := presign(t, h, key, idv.MaxImageBytes, time.Hour)
		if code, body, err := tryPut(t, u, big); err == nil && code/100 == 2 {
			t.Errorf("PUT of %d bytes to a URL for %d answered %d %s, want a refusal", len(big), idv.MaxImageBytes, code, body)
		}
		if _, err := h.Store.Get(ctx(t), key); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("Get after a refused oversized PUT: %v, want ENOTFOUND (nothing stored)", err)
		}
	})

	t.Run("TamperedURLIsRefused", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		key := newKey(idv.SideFront)
		issued := presign(t, h, key, 1, time.Hour)
		u, err := url.Parse(issued)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		sig := q.Get(h.SignatureParam)
		if sig == "" {
			t.Fatalf("pre-signed URL has no %s parameter", h.SignatureParam)
		}
		cases := map[string]func(url.Values){
			"flipped signature": func(q url.Values) { q.Set(h.SignatureParam, flip(sig)) },
			"no signature":      func(q url.Values) { q.Del(h.SignatureParam) },
			"longer validity": func(q url.Values) {
				for k := range q {
					if strings.EqualFold(k, "X-Amz-Expires") || k == "expires" {
						q.Set(k, q.Get(k)+"0")
					}
				}
			},
			// Content-Length is a signed header on S3 (not in the
			// query); the local store carries it as size=.
			"other length": func(q url.Values) {
				for k := range q {
					if strings.EqualFold(k, "X-Amz-SignedHeaders") {
						q.Set(k, strings.Replace(q.Get(k), "content-length;", "", 1))
					}
					if k == "size" {
						q.Set(k, "2")
					}
				}
			},
		}
		for name, tamper := range cases {
			q := u.Query()
			tamper(q)
			v := *u
			v.RawQuery = q.Encode()
			// S3 answers 400 to a URL without its signature.
			if code, body := put(t, v.String(), "application/octet-stream", []byte("x")); code != http.StatusForbidden &&
				(name != "no signature" || code != http.StatusBadRequest) {
				t.Errorf("%s: PUT answered %d %s, want 403", name, code, body)
			}
		}
		// The signed URL used for another key of the same capture.
		otherKey := strings.TrimSuffix(key, string(idv.SideFront)) + string(idv.SideBack)
		other := strings.Replace(issued, "/"+key+"?", "/"+otherKey+"?", 1)
		if code, body := put(t, other, "application/octet-stream", []byte("x")); code != http.StatusForbidden {
			t.Errorf("URL moved to another key: PUT answered %d %s, want 403", code, body)
		}
		for _, k := range []string{key, otherKey} {
			if _, err := h.Store.Get(ctx(t), k); idv.ErrorCode(err) != idv.ENOTFOUND {
				t.Errorf("after refused PUTs, Get: %v, want ENOTFOUND (nothing stored)", err)
			}
		}
	})

	t.Run("ExpiredURLIsRefused", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		key := newKey(idv.SideFront)
		if h.Backdate != nil {
			restore := h.Backdate(time.Hour)
			u := presign(t, h, key, len("late"), time.Minute)
			restore()
			if code, body := put(t, u, "application/octet-stream", []byte("late")); code != http.StatusForbidden {
				t.Fatalf("PUT to a URL that expired 59 minutes ago: %d %s, want 403", code, body)
			}
		} else {
			u := presign(t, h, key, len("late"), time.Second)
			deadline := time.Now().Add(30 * time.Second)
			for {
				code, body := put(t, u, "application/octet-stream", []byte("late"))
				if code == http.StatusForbidden {
					break
				}
				if code/100 != 2 {
					t.Fatalf("PUT before expiry: %d %s", code, body)
				}
				if time.Now().After(deadline) {
					t.Fatalf("a URL pre-signed for 1 s still works after 30 s")
				}
				time.Sleep(100 * time.Millisecond) // polling for the URL to expire
			}
			// What was written before expiry is not our concern here.
			if err := h.Store.Delete(ctx(t), key); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.Store.Get(ctx(t), key); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("Get after a refused PUT: %v, want ENOTFOUND", err)
		}
	})

	t.Run("LengthBound", func(t *testing.T) {
		// A URL is for one body length: the page asks for it with the
		// ciphertext's size just before the PUT. Anything longer, shorter
		// or of unannounced length (chunked) is refused, and nothing is
		// stored; then the exact length goes through.
		t.Parallel()
		h := newHarness(t)
		key := newKey(idv.SideFront)
		const n = 1000
		u := presign(t, h, key, n, time.Hour)
		data := randomBytes(12 << 20) // a 12 MiB attempt, over MaxImageBytes too
		for name, body := range map[string][]byte{
			"one byte more": data[:n+1],
			"one byte less": data[:n-1],
			"12 MiB":        data,
			"empty":         {},
		} {
			// A store may answer before reading a large body and close
			// the connection: the client sees an error, also a refusal.
			if code, resp, err := tryPut(t, u, body); err == nil && code/100 == 2 {
				t.Errorf("%s: PUT of %d bytes to a URL for %d answered %d %s, want a refusal", name, len(body), n, code, resp)
			}
		}
		if code, resp := chunkedPut(t, u, data[:n]); code/100 == 2 {
			t.Errorf("chunked PUT (no Content-Length) of %d bytes answered %d %s, want a refusal", n, code, resp)
		}
		if _, err := h.Store.Get(ctx(t), key); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("Get after refused PUTs: %v, want ENOTFOUND (nothing stored)", err)
		}
		if code, resp := put(t, u, "application/octet-stream", data[:n]); code/100 != 2 {
			t.Fatalf("PUT of exactly %d bytes: %d %s", n, code, resp)
		}
		if got, err := h.Store.Get(ctx(t), key); err != nil || !bytes.Equal(got, data[:n]) {
			t.Fatalf("Get: %d bytes, %v; want the %d uploaded", len(got), err, n)
		}
	})

	t.Run("KeyFromURL", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		key := newKey(idv.SideFront)
		issued := presign(t, h, key, 1000, time.Hour)
		bare, _, _ := strings.Cut(issued, "?")
		for name, u := range map[string]string{
			"issued":             issued,
			"without query":      bare,
			"with another query": bare + "?a=b",
		} {
			got, err := h.Store.KeyFromURL(u)
			if err != nil || got != key {
				t.Errorf("%s: KeyFromURL = %q, %v; want the issued key", name, got, err)
			}
		}
		for name, u := range foreignURLs(t, issued, key, h.ForeignURLs) {
			if got, err := h.Store.KeyFromURL(u); idv.ErrorCode(err) != idv.EINVALID {
				t.Errorf("%s: KeyFromURL(%q) = %q, %v; want EINVALID", name, u, got, err)
			}
		}
	})

	t.Run("PresignRefusesBadKeys", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		for _, key := range []string{"", "/a", "a/", "a//b", "a/../b", "..", "a/./b", "a b", "a%2Fb", "ä", "a\\b", "a?b", "a#b"} {
			if _, err := h.Store.PresignPut(ctx(t), key, 1, time.Minute); idv.ErrorCode(err) != idv.EINVALID {
				t.Errorf("PresignPut(%q): %v, want EINVALID", key, err)
			}
			if err := h.Store.Put(ctx(t), key, []byte("x")); idv.ErrorCode(err) != idv.EINVALID {
				t.Errorf("Put(%q): %v, want EINVALID", key, err)
			}
		}
	})
}

// foreignURLs derives, from a URL the store issued, URLs it must refuse.
func foreignURLs(t *testing.T, issued, key string, extra map[string]string) map[string]string {
	t.Helper()
	u, err := url.Parse(issued)
	if err != nil {
		t.Fatal(err)
	}
	origin := u.Scheme + "://" + u.Host
	prefix := strings.TrimSuffix(u.Path, key)
	q := "?" + u.RawQuery
	otherScheme := "https"
	if u.Scheme == "https" {
		otherScheme = "http"
	}
	host, port := u.Hostname(), u.Port()
	front := string(idv.SideFront)
	capture := strings.TrimSuffix(key, "/"+front)
	m := map[string]string{
		"empty":                 "",
		"relative":              prefix + key + q,
		"scheme-relative":       "//" + u.Host + prefix + key + q,
		"other scheme":          otherScheme + "://" + u.Host + prefix + key + q,
		"ftp":                   "ftp://" + u.Host + prefix + key,
		"javascript":            "javascript:alert(1)",
		"opaque":                u.Scheme + ":" + u.Host + prefix + key,
		"other host":            u.Scheme + "://evil.example" + portSuffix(port) + prefix + key + q,
		"host suffix":           u.Scheme + "://" + host + ".evil.example" + portSuffix(port) + prefix + key + q,
		"other port":            u.Scheme + "://" + host + ":1" + prefix + key + q,
		"port dropped or set":   u.Scheme + "://" + toggledPort(host, port, u.Scheme) + prefix + key + q,
		"user info":             u.Scheme + "://user:pw@" + u.Host + prefix + key + q,
		"user info @ host":      u.Scheme + "://" + u.Host + "@evil.example" + prefix + key + q,
		"fragment":              origin + prefix + key + "#x",
		"empty fragment":        origin + prefix + key + "#",
		"fragment before query": origin + prefix + key + "#" + q,
		"no key":                origin + prefix + q,
		"no prefix":             origin + "/" + key + q,
		"dot-dot":               origin + prefix + capture + "/../other/" + front + q,
		"dot-dot at start":      origin + prefix + "../" + key + q,
		"dot segment":           origin + prefix + capture + "/./" + front + q,
		"double slash":          origin + prefix + capture + "//" + front + q,
		"double slash prefix":   origin + strings.Replace(prefix, "/", "//", 1) + key + q,
		"trailing slash":        origin + prefix + key + "/" + q,
		"encoded slash":         origin + prefix + capture + "%2F" + front + q,
		"encoded slash lower":   origin + prefix + capture + "%2f" + front + q,
		"encoded dot-dot":       origin + prefix + capture + "/%2E%2E/x/" + front + q,
		"encoded dot":           origin + prefix + capture + "/%2e/" + front + q,
		"encoded letter":        origin + prefix + strings.Replace(key, "d", "%64", 1) + q,
		"backslash":             origin + prefix + capture + "\\" + front + q,
		"space":                 origin + prefix + key + " x" + q,
		"non-ASCII":             origin + prefix + key + "é" + q,
		"tilde":                 origin + prefix + key + "~" + q,
		"semicolon":             origin + prefix + key + ";x" + q,
		"newline":               origin + prefix + key + "\n" + q,
		"very long":             origin + prefix + key + strings.Repeat("a", 10000) + q,
	}
	if up := strings.ToUpper(host); up != host {
		m["upper-case host"] = u.Scheme + "://" + up + portSuffix(port) + prefix + key + q
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func portSuffix(port string) string {
	if port == "" {
		return ""
	}
	return ":" + port
}

// toggledPort writes the default port explicitly, or drops an explicit
// one: the same server to a browser, but not the URL the store issued.
func toggledPort(host, port, scheme string) string {
	if port != "" {
		return host
	}
	if scheme == "https" {
		return host + ":443"
	}
	return host + ":80"
}

func presign[N int | int64](t *testing.T, h Harness, key string, size N, expires time.Duration) string {
	t.Helper()
	u, err := h.Store.PresignPut(ctx(t), key, int64(size), expires)
	if err != nil {
		t.Fatalf("PresignPut: %v", err)
	}
	got, err := h.Store.KeyFromURL(u)
	if err != nil || got != key {
		t.Fatalf("KeyFromURL of an issued URL: %q, %v", got, err)
	}
	return u
}

// client is what the suite uploads with: net/http with no proxy, the
// closest Go gets to a browser's fetch() with only Content-Type set.
var client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: nil}}

// put sends one PUT with only the Content-Type header set (beside those Go
// always adds: Host, Content-Length, User-Agent, Accept-Encoding) and returns
// the status and (short) body.
func put(t *testing.T, u, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("build PUT: %v", err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// tryPut is put that returns a transport error instead of failing.
func tryPut(t *testing.T, u string, body []byte) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("build PUT: %v", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

// chunkedPut sends body with Transfer-Encoding: chunked, so without a
// Content-Length: what a client that hides the length up front sends.
func chunkedPut(t *testing.T, u string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPut, u, io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatalf("build PUT: %v", err)
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		// A store may drop the connection: also a refusal.
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// PlainPut is the suite's upload for adapter tests: one PUT with only
// Content-Type, as a browser's fetch sends it.
func PlainPut(t *testing.T, u, contentType string, body []byte) (status int, respBody string) {
	t.Helper()
	return put(t, u, contentType, body)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// newKey is a fresh document image key, as the web tier makes them.
func newKey(side idv.Side) string { return idv.DocumentImageKey(idv.NewID(), side) }

// NewKey is newKey for adapter tests.
func NewKey(side idv.Side) string { return newKey(side) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// flip changes the first character of s to another valid one of the same
// alphabet, so the signature still parses but no longer matches.
func flip(s string) string {
	c := s[0]
	r := byte('A')
	if c == 'A' {
		r = 'B'
	}
	if c >= '0' && c <= '9' {
		r = '0' + (c-'0'+1)%10
	} else if c >= 'a' && c <= 'f' {
		r = 'a' + (c-'a'+1)%6
	}
	return string(r) + s[1:]
}

// CheckKeyFromURL is the invariant of FuzzKeyFromURL: a URL the store
// accepts yields a clean key, and the URL the store issues for that key has
// the same scheme, host and path (and yields the same key). It also checks
// that an accepted URL has no user info or fragment. A refusal must be
// EINVALID.
func CheckKeyFromURL(t *testing.T, store idv.ObjectStore, raw string) {
	t.Helper()
	key, err := store.KeyFromURL(raw)
	if err != nil {
		if idv.ErrorCode(err) != idv.EINVALID {
			t.Fatalf("KeyFromURL refused with %v, want EINVALID", err)
		}
		if len(raw) >= 16 && strings.Contains(err.Error(), raw) {
			t.Fatalf("KeyFromURL's error quotes the URL: %v", err)
		}
		return
	}
	if err := objects.ValidKey(key); err != nil {
		t.Fatalf("KeyFromURL(%q) accepted an unclean key %q: %v", raw, key, err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("KeyFromURL accepted %q, which does not parse: %v", raw, err)
	}
	if u.User != nil || strings.Contains(raw, "#") {
		t.Fatalf("KeyFromURL accepted %q with user info or a fragment", raw)
	}
	issued, err := store.PresignPut(context.Background(), key, 1, time.Minute)
	if err != nil {
		t.Fatalf("PresignPut(%q) of an accepted key: %v", key, err)
	}
	v, err := url.Parse(issued)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != v.Scheme || u.Host != v.Host || u.EscapedPath() != v.EscapedPath() {
		t.Fatalf("accepted %q as %q, but the store issues %q for it", raw, key, issued)
	}
	if again, err := store.KeyFromURL(issued); err != nil || again != key {
		t.Fatalf("re-issued URL %q gives %q, %v; want %q", issued, again, err, key)
	}
}
