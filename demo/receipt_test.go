package demo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// issuer signs receipts as idv does, and publishes its keys.
type issuer struct {
	keys    map[string]*ecdsa.PrivateKey // by kid: published
	fetches atomic.Int32
	srv     *httptest.Server
}

func newIssuer(t *testing.T, kids ...string) *issuer {
	t.Helper()
	is := &issuer{keys: map[string]*ecdsa.PrivateKey{}}
	for _, kid := range kids {
		is.keys[kid] = newKey(t)
	}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		is.fetches.Add(1)
		var set jose.JSONWebKeySet
		for kid, k := range is.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"})
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(is.srv.Close)
	return is
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t *testing.T, key any, alg jose.SignatureAlgorithm, kid, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReceiptCheck(t *testing.T) {
	t.Parallel()
	const iss, aud, sub = "http://idv.test", "rp_demo", "vrf_one"
	is := newIssuer(t, "k1")
	good := func() map[string]any {
		return map[string]any{"iss": iss, "aud": aud, "sub": sub, "iat": time.Now().Unix(), "status": "verified",
			"checks": map[string]string{"document": "passed", "resolution": "passed", "state_id": "passed", "phone": "passed"}}
	}
	with := func(k string, v any) map[string]any { c := good(); c[k] = v; return c }
	for _, tc := range []struct {
		name    string
		token   func() string
		problem string // "" for a verified receipt
	}{
		{"a good receipt", func() string { return sign(t, is.keys["k1"], jose.ES256, "k1", receiptType, good()) }, ""},
		{"another relying party's", func() string { return sign(t, is.keys["k1"], jose.ES256, "k1", receiptType, with("aud", "rp_other")) }, "claims"},
		{"another verification's", func() string { return sign(t, is.keys["k1"], jose.ES256, "k1", receiptType, with("sub", "vrf_two")) }, "claims"},
		{"another issuer's", func() string {
			return sign(t, is.keys["k1"], jose.ES256, "k1", receiptType, with("iss", "http://evil.test"))
		}, "claims"},
		{"signed by an unpublished key", func() string { return sign(t, newKey(t), jose.ES256, "k1", receiptType, good()) }, "signature does not verify"},
		{"an unknown kid", func() string { return sign(t, newKey(t), jose.ES256, "k9", receiptType, good()) }, "not in the published key set"},
		{"no kid", func() string { return sign(t, is.keys["k1"], jose.ES256, "", receiptType, good()) }, "names no key"},
		{"another token type", func() string { return sign(t, is.keys["k1"], jose.ES256, "k1", "JWT", good()) }, "typ"},
		{"HS256", func() string { return sign(t, []byte(strings.Repeat("k", 32)), jose.HS256, "k1", receiptType, good()) }, "not an ES256 JWS"},
		{"not a JWS", func() string { return "garbage" }, "not an ES256 JWS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newReceiptChecker(http.DefaultClient, is.srv.URL, iss, aud)
			got := c.check(t.Context(), tc.token(), sub)
			switch {
			case tc.problem == "" && (!got.Verified || got.Status != "verified" || got.Checks["phone"] != "passed" || got.KeyID != "k1"):
				t.Fatalf("not verified: %+v", got)
			case tc.problem != "" && (got.Verified || !strings.Contains(got.Problem, tc.problem)):
				t.Fatalf("got %+v, want a problem with %q", got, tc.problem)
			}
		})
	}
}

// The key set is kept, and fetched again when a receipt names a new key
// (idv signs with a new key at once after a rotation).
func TestReceiptKeyRotation(t *testing.T) {
	t.Parallel()
	is := newIssuer(t, "k1")
	c := newReceiptChecker(http.DefaultClient, is.srv.URL, "http://idv.test", "rp_demo")
	claims := map[string]any{"iss": "http://idv.test", "aud": "rp_demo", "sub": "vrf_one", "iat": time.Now().Unix(), "status": "failed"}
	for range 2 {
		if got := c.check(t.Context(), sign(t, is.keys["k1"], jose.ES256, "k1", receiptType, claims), "vrf_one"); !got.Verified {
			t.Fatalf("k1: %+v", got)
		}
	}
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for one key, want 1", n)
	}
	k2 := newKey(t)
	token := sign(t, k2, jose.ES256, "k2", receiptType, claims)
	if got := c.check(t.Context(), token, "vrf_one"); got.Verified {
		t.Fatalf("k2 before it is published: %+v", got)
	}
	is.keys["k2"] = k2 // not concurrent: the server answers between checks
	if got := c.check(t.Context(), token, "vrf_one"); !got.Verified || got.KeyID != "k2" {
		t.Fatalf("k2 once published: %+v", got)
	}
}
