package web

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
)

func TestSealedCodec(t *testing.T) {
	t.Parallel()
	c := SealedCodec{Sealer: fake.Sealer{}}
	deadline := time.Date(2026, 11, 23, 20, 0, 0, 123, time.UTC)
	tests := []struct {
		name   string
		values map[string]any
	}{
		{"empty", map[string]any{}},
		{"strings and bytes", map[string]any{keyVerification: "vrf_abc", keyPtrPref + "phone": "cs|rid", keyPassedPref + "phone": []byte("{}"), keyDocNotes: []byte(`["barcode_attention"]`), "": ""}},
		{"long value", map[string]any{keyDocErrors: bytes.Repeat([]byte("x"), 70000)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := c.Encode(deadline, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			gotDeadline, got, err := c.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !gotDeadline.Equal(deadline) || !reflect.DeepEqual(got, tc.values) {
				t.Fatalf("round trip: %v %#v, want %v %#v", gotDeadline, got, deadline, tc.values)
			}
		})
	}
}

// A value of another type is refused rather than written in a form Decode
// cannot read.
func TestSealedCodecRefusesOtherTypes(t *testing.T) {
	t.Parallel()
	if _, err := (SealedCodec{Sealer: fake.Sealer{}}).Encode(time.Now(), map[string]any{"n": 42, keyVerification: "vrf_abc"}); err == nil {
		t.Fatal("a session with an int value encoded")
	}
}

func TestSealedCodecRefusesMalformedFlat(t *testing.T) {
	t.Parallel()
	good, _ := encodeFlat(time.Now(), map[string]any{"k": "value"})
	for name, plain := range map[string][]byte{
		"not the flat encoding": []byte("\x0fgob-like stream"),
		"truncated deadline":    []byte(flatMagic + "\x00\x01"),
		"truncated value":       good[:len(good)-2],
		"length too long":       append(append([]byte{}, good[:len(flatMagic)+8]...), 's', 0x01, 'k', 0xff, 0x01),
		"unknown kind":          append(append([]byte{}, good[:len(flatMagic)+8]...), 'x', 0x01, 'k', 0x00),
	} {
		sealed, _ := fake.Sealer{}.Seal(context.Background(), plain, sessionAAD)
		if _, _, err := (SealedCodec{Sealer: fake.Sealer{}}).Decode(sealed); idv.ErrorCode(err) != idv.ETAMPERED {
			t.Errorf("%s: err = %v, want ETAMPERED", name, err)
		}
	}
}

// A visitor without a verification (no cookie, or a cookie the store does
// not know) gets no stored session and no cookie from any GET: a session is
// stored only once a person starts or follows a verification link, so
// anonymous traffic cannot fill the session store.
func TestAnonymousGetsStoreNoSession(t *testing.T) {
	t.Parallel()
	for _, presigned := range []bool{true, false} {
		h, objects := newDocHarness(t, presigned)
		store, ok := h.sm.Store.(scs.IterableStore)
		if !ok {
			t.Fatalf("session store %T cannot be listed", h.sm.Store)
		}
		before, err := store.All()
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{
			"/", "/verify/document_capture", "/verify/verify_info", "/verify/phone",
			"/verify/document_capture/status", "/verify/result", "/verify/errors/warning?step=document_capture",
		} {
			for _, cookie := range []string{"", "a-token-the-store-never-issued"} {
				req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
				if cookie != "" {
					req.AddCookie(&http.Cookie{Name: h.sm.Cookie.Name, Value: cookie})
				}
				res, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = res.Body.Close()
				// The capture page (which would mint upload URLs) and every
				// other step page send an anonymous visitor to the start.
				if strings.HasPrefix(path, "/verify/") && !strings.HasSuffix(path, "/status") &&
					(res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/") {
					t.Errorf("GET %s (cookie %q): %d %q, want a redirect to /", path, cookie, res.StatusCode, res.Header.Get("Location"))
				}
				if res.StatusCode >= 500 {
					t.Errorf("GET %s (cookie %q): %d", path, cookie, res.StatusCode)
				}
				if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 {
					t.Errorf("GET %s (cookie %q) set a cookie: %q", path, cookie, sc)
				}
			}
		}
		// Nor does asking for an upload URL: none is minted (issue 13:
		// every cookieless GET used to mint two).
		for _, cookie := range []string{"", "a-token-the-store-never-issued"} {
			req, _ := http.NewRequest("POST", h.srv.URL+"/verify/document_capture/upload_url",
				strings.NewReader("capture_id=x&side=front&size=10"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if cookie != "" {
				req.AddCookie(&http.Cookie{Name: h.sm.Cookie.Name, Value: cookie})
			}
			res, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode/100 == 2 || res.StatusCode >= 500 {
				t.Errorf("anonymous upload URL request (cookie %q): %d, want a refusal", cookie, res.StatusCode)
			}
			if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Errorf("anonymous upload URL request (cookie %q) set a cookie: %q", cookie, sc)
			}
		}
		if n := len(objects.Presigns()); n != 0 {
			t.Errorf("presigned=%v: anonymous requests minted %d upload URLs", presigned, n)
		}
		after, err := store.All()
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before) {
			t.Errorf("presigned=%v: anonymous requests stored %d sessions", presigned, len(after)-len(before))
		}
	}
}
