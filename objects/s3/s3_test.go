package s3_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/objects/objectstest"
	"github.com/idv-dev/idv/objects/s3"
)

// newStore starts versitygw and returns a Store on its bucket whose signing
// clock runs offset behind real time.
func newStore(t *testing.T) (*s3.Store, *testenv.S3Server, *atomic.Int64) {
	t.Helper()
	srv := testenv.S3(t)
	var offset atomic.Int64
	st, err := s3.New(t.Context(), s3.Config{
		Bucket: srv.Bucket, Region: srv.Region, Endpoint: srv.Endpoint,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, PathStyle: true,
		Now: func() time.Time { return time.Now().Add(-time.Duration(offset.Load())) },
	})
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	return st, srv, &offset
}

func TestConformance(t *testing.T) {
	t.Parallel()
	objectstest.Run(t, func(t *testing.T) objectstest.Harness {
		st, srv, offset := newStore(t)
		key := objectstest.NewKey(idv.SideFront)
		return objectstest.Harness{
			Store:          st,
			SignatureParam: "X-Amz-Signature",
			Backdate: func(d time.Duration) func() {
				offset.Add(int64(d))
				return func() { offset.Add(-int64(d)) }
			},
			ForeignURLs: map[string]string{
				"other bucket":           srv.Endpoint + "/other-bucket/" + key,
				"bucket prefix":          srv.Endpoint + "/" + srv.Bucket + "x/" + key,
				"bucket as virtual host": "http://" + srv.Bucket + "." + strings.TrimPrefix(srv.Endpoint, "http://") + "/" + key,
				"bucket only":            srv.Endpoint + "/" + srv.Bucket,
				"bucket dot-dot":         srv.Endpoint + "/" + srv.Bucket + "/../other-bucket/" + key,
			},
		}
	})
}

// TestPresignedURLNeedsOnlyContentType proves the URL is what a browser can
// use: no checksum parameters or headers are signed (s3 v1.114 would add
// them by default), only host, content-type and content-length (the
// length the URL was issued for), and a net/http PUT with just Content-Type
// (Go, like a browser, sets Content-Length from the body) succeeds.
func TestPresignedURLNeedsOnlyContentType(t *testing.T) {
	t.Parallel()
	st, _, _ := newStore(t)
	key := objectstest.NewKey(idv.SideFront)
	raw, err := st.PresignPut(t.Context(), key, int64(len("ciphertext")), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if got := q.Get("X-Amz-SignedHeaders"); got != "content-length;content-type;host" {
		t.Errorf("X-Amz-SignedHeaders = %q, want content-length;content-type;host", got)
	}
	for k := range q {
		if strings.Contains(strings.ToLower(k), "checksum") {
			t.Errorf("pre-signed URL carries %s", k)
		}
	}
	if q.Get("X-Amz-Expires") != "300" {
		t.Errorf("X-Amz-Expires = %q, want 300", q.Get("X-Amz-Expires"))
	}
	if code, body := objectstest.PlainPut(t, raw, "application/octet-stream", []byte("ciphertext")); code != http.StatusOK {
		t.Fatalf("plain PUT: %d %s", code, body)
	}
	if got, err := st.Get(t.Context(), key); err != nil || string(got) != "ciphertext" {
		t.Fatalf("Get: %q, %v", got, err)
	}
	// Another Content-Type is not what was signed.
	if code, body := objectstest.PlainPut(t, raw, "image/jpeg", []byte("ciphertext")); code != http.StatusForbidden {
		t.Errorf("PUT with image/jpeg: %d %s, want 403", code, body)
	}
}

// TestPresignExpiresInRealTime checks expiry with the real clock, as
// versitygw sees it: a URL for 1 s works, then stops working.
func TestPresignExpiresInRealTime(t *testing.T) {
	t.Parallel()
	st, _, _ := newStore(t)
	key := objectstest.NewKey(idv.SideBack)
	u, err := st.PresignPut(t.Context(), key, 1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := objectstest.PlainPut(t, u, "application/octet-stream", []byte("x"))
		if code == http.StatusForbidden {
			if !strings.Contains(body, "xpired") {
				t.Errorf("refusal does not say expired: %s", body)
			}
			return
		}
		if code != http.StatusOK {
			t.Fatalf("PUT: %d %s", code, body)
		}
		if time.Now().After(deadline) {
			t.Fatal("a URL pre-signed for 1 s still works after 30 s")
		}
		time.Sleep(100 * time.Millisecond) // polling for the URL to expire
	}
}

// TestCORS finds out what versitygw does with the rule SetCORS writes:
// the preflight from the allowed origin is answered with the CORS headers,
// one from any other origin (or for another method or header) is refused,
// and the PUT itself carries Access-Control-Allow-Origin only for the
// allowed origin.
func TestCORS(t *testing.T) {
	t.Parallel()
	st, srv, _ := newStore(t)
	const allowed = "http://127.0.0.1:8080"
	if err := st.SetCORS(t.Context(), []string{allowed, "https://idv.example.gov"}, 10*time.Minute); err != nil {
		t.Fatalf("SetCORS: %v", err)
	}
	key := objectstest.NewKey(idv.SideFront)
	raw, err := st.PresignPut(t.Context(), key, 1, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		h      http.Header
	}
	do := func(method, origin string, h map[string]string) answer {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, raw, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		if method == http.MethodOptions {
			req.Body, req.ContentLength = http.NoBody, 0
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return answer{resp.StatusCode, resp.Header}
	}
	preflight := func(origin, method, headers string) answer {
		return do(http.MethodOptions, origin, map[string]string{
			"Access-Control-Request-Method":  method,
			"Access-Control-Request-Headers": headers,
		})
	}

	a := preflight(allowed, "PUT", "content-type")
	if a.status != http.StatusOK || a.h.Get("Access-Control-Allow-Origin") != allowed ||
		!strings.Contains(a.h.Get("Access-Control-Allow-Methods"), "PUT") ||
		!strings.Contains(strings.ToLower(a.h.Get("Access-Control-Allow-Headers")), "content-type") ||
		a.h.Get("Access-Control-Max-Age") != "600" {
		t.Errorf("preflight from the allowed origin: %d %v", a.status, a.h)
	}
	for name, p := range map[string][3]string{
		"other origin":     {"http://evil.example", "PUT", "content-type"},
		"other port":       {"http://127.0.0.1:8081", "PUT", "content-type"},
		"GET":              {allowed, "GET", ""},
		"DELETE":           {allowed, "DELETE", ""},
		"another header":   {allowed, "PUT", "content-type,x-amz-meta-x"},
		"null origin":      {"null", "PUT", "content-type"},
		"origin with path": {allowed + "/x", "PUT", "content-type"},
	} {
		a := preflight(p[0], p[1], p[2])
		if a.status/100 == 2 || a.h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight (%s) was allowed: %d %v", name, a.status, a.h)
		}
	}

	a = do(http.MethodPut, allowed, map[string]string{"Content-Type": "application/octet-stream"})
	if a.status != http.StatusOK || a.h.Get("Access-Control-Allow-Origin") != allowed {
		t.Errorf("PUT from the allowed origin: %d, Access-Control-Allow-Origin %q", a.status, a.h.Get("Access-Control-Allow-Origin"))
	}
	// The store does not refuse the PUT itself from another origin (a
	// browser would, lacking the header); a non-browser client holding
	// the URL can upload either way, which the signature governs.
	a = do(http.MethodPut, "http://evil.example", map[string]string{"Content-Type": "application/octet-stream"})
	if a.h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("PUT from another origin got Access-Control-Allow-Origin %q", a.h.Get("Access-Control-Allow-Origin"))
	}
	t.Logf("versitygw: PUT from a foreign origin answered %d without CORS headers", a.status)

	// Reading the rule back through the SDK shows it was stored as given.
	out, err := srv.Client().GetBucketCors(t.Context(), &awss3.GetBucketCorsInput{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatalf("GetBucketCors: %v", err)
	}
	if len(out.CORSRules) != 1 || len(out.CORSRules[0].AllowedOrigins) != 2 {
		t.Errorf("stored CORS rules: %+v", out.CORSRules)
	}
}

func TestSetCORSRefusesNonOrigins(t *testing.T) {
	t.Parallel()
	st := offline(t, s3.Config{Bucket: "b", Region: "us-east-1", Endpoint: "http://127.0.0.1:1", PathStyle: true,
		AccessKeyID: "a", SecretAccessKey: "s"})
	for _, origins := range [][]string{nil, {"*"}, {"http://*.example"}, {"http://a.example/"}, {"http://a.example/x"},
		{"a.example"}, {"http://u@a.example"}, {"ftp://a.example"}, {"http://a.example?x"}} {
		if err := st.SetCORS(t.Context(), origins, time.Minute); idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("SetCORS(%q): %v, want EINVALID", origins, err)
		}
	}
}

func TestEnsureBucket(t *testing.T) {
	t.Parallel()
	srv := testenv.S3(t)
	st, err := s3.New(t.Context(), s3.Config{
		Bucket: testenv.RandomName("idv-new-"), Region: srv.Region, Endpoint: srv.Endpoint,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	key := objectstest.NewKey(idv.SideFront)
	if err := st.Put(t.Context(), key, []byte("x")); idv.ErrorCode(err) != idv.EINTERNAL {
		t.Errorf("Put into a missing bucket: %v, want EINTERNAL (a misconfiguration, not a missing image)", err)
	}
	if _, err := st.Get(t.Context(), key); idv.ErrorCode(err) != idv.EINTERNAL {
		t.Errorf("Get from a missing bucket: %v, want EINTERNAL", err)
	}
	for i := range 2 {
		if err := st.EnsureBucket(t.Context()); err != nil {
			t.Fatalf("EnsureBucket #%d: %v", i+1, err)
		}
	}
	if err := st.Put(t.Context(), key, []byte("x")); err != nil {
		t.Fatalf("Put after EnsureBucket: %v", err)
	}
}

// TestUnreachableIsUnavailable points the store at a port nobody listens on.
func TestUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	st := offline(t, s3.Config{Bucket: "b", Region: "us-east-1", Endpoint: "http://" + testenv.ClosedAddr(t), PathStyle: true,
		AccessKeyID: "a", SecretAccessKey: "s"})
	key := objectstest.NewKey(idv.SideFront)
	if _, err := st.Get(t.Context(), key); idv.ErrorCode(err) != idv.EUNAVAILABLE {
		t.Errorf("Get: %v, want EUNAVAILABLE", err)
	}
	if err := st.Put(t.Context(), key, []byte("x")); idv.ErrorCode(err) != idv.EUNAVAILABLE {
		t.Errorf("Put: %v, want EUNAVAILABLE", err)
	}
	if err := st.Delete(t.Context(), key); idv.ErrorCode(err) != idv.EUNAVAILABLE {
		t.Errorf("Delete: %v, want EUNAVAILABLE", err)
	}
	// Pre-signing is local work: it still succeeds.
	if _, err := st.PresignPut(t.Context(), key, 1, time.Minute); err != nil {
		t.Errorf("PresignPut without a server: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := st.Get(ctx, key); idv.ErrorCode(err) != idv.EUNAVAILABLE {
		t.Errorf("Get with a cancelled context: %v, want EUNAVAILABLE", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]s3.Config{
		"no bucket":       {Region: "us-east-1"},
		"half the keys":   {Bucket: "b", Region: "us-east-1", AccessKeyID: "a"},
		"endpoint scheme": {Bucket: "b", Region: "us-east-1", Endpoint: "ftp://h"},
		"endpoint host":   {Bucket: "b", Region: "us-east-1", Endpoint: "http://"},
		"endpoint user":   {Bucket: "b", Region: "us-east-1", Endpoint: "http://u:p@h"},
		"endpoint query":  {Bucket: "b", Region: "us-east-1", Endpoint: "http://h?x=1"},
	} {
		if _, err := s3.New(t.Context(), cfg); idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("%s: New: %v, want EINVALID", name, err)
		}
	}
}

func offline(t *testing.T, cfg s3.Config) *s3.Store {
	t.Helper()
	st, err := s3.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	return st
}

// TestKeyFromURLAddressing checks the URL shapes of each addressing style
// without a server: the store accepts what it issues, and the other style's
// URL for the same key is foreign.
func TestKeyFromURLAddressing(t *testing.T) {
	t.Parallel()
	key := objectstest.NewKey(idv.SideFront)
	for _, tc := range []struct {
		name    string
		cfg     s3.Config
		bare    string // issued URL without its query
		refused []string
	}{
		{
			name: "AWS virtual-hosted",
			cfg:  s3.Config{Bucket: "idv-images", Region: "us-west-2"},
			bare: "https://idv-images.s3.us-west-2.amazonaws.com/" + key,
			refused: []string{
				"https://s3.us-west-2.amazonaws.com/idv-images/" + key,
				"https://idv-images.s3.us-east-1.amazonaws.com/" + key,
				"https://other.s3.us-west-2.amazonaws.com/" + key,
				"https://idv-images.s3.us-west-2.amazonaws.com.evil.example/" + key,
				"http://idv-images.s3.us-west-2.amazonaws.com/" + key,
				"https://idv-images.s3.us-west-2.amazonaws.com:443/" + key,
				"https://IDV-IMAGES.s3.us-west-2.amazonaws.com/" + key,
			},
		},
		{
			name: "AWS path style",
			cfg:  s3.Config{Bucket: "idv-images", Region: "us-west-2", PathStyle: true},
			bare: "https://s3.us-west-2.amazonaws.com/idv-images/" + key,
			refused: []string{
				"https://idv-images.s3.us-west-2.amazonaws.com/" + key,
				"https://s3.us-west-2.amazonaws.com/other/" + key,
			},
		},
		{
			name: "custom endpoint, virtual-hosted",
			cfg:  s3.Config{Bucket: "idv", Region: "us-east-1", Endpoint: "https://objects.example.gov:9000"},
			bare: "https://idv.objects.example.gov:9000/" + key,
			refused: []string{
				"https://objects.example.gov:9000/idv/" + key,
				"https://idv.objects.example.gov/" + key,
			},
		},
		{
			name: "custom endpoint, path style",
			cfg:  s3.Config{Bucket: "idv", Region: "us-east-1", Endpoint: "http://127.0.0.1:7070", PathStyle: true},
			bare: "http://127.0.0.1:7070/idv/" + key,
			refused: []string{
				"http://idv.127.0.0.1:7070/" + key,
				"http://127.0.0.1:7070/" + key,
				"http://127.0.0.1:7070/idv2/" + key,
				"http://localhost:7070/idv/" + key,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.AccessKeyID, tc.cfg.SecretAccessKey = "AKIDEXAMPLE", "secret"
			st := offline(t, tc.cfg)
			raw, err := st.PresignPut(t.Context(), key, 1, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if bare, _, _ := strings.Cut(raw, "?"); bare != tc.bare {
				t.Errorf("issued %s, want %s", bare, tc.bare)
			}
			for _, u := range []string{raw, tc.bare} {
				if got, err := st.KeyFromURL(u); err != nil || got != key {
					t.Errorf("KeyFromURL(%s) = %q, %v", u, got, err)
				}
			}
			for _, u := range tc.refused {
				if got, err := st.KeyFromURL(u); idv.ErrorCode(err) != idv.EINVALID {
					t.Errorf("KeyFromURL(%s) = %q, %v; want EINVALID", u, got, err)
				}
			}
		})
	}
}
