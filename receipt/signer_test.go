package receipt_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/receipt"
)

func verifiedClaims(clock *testenv.Clock) receipt.Claims {
	return receipt.Claims{
		Audience:   "rp_" + idv.NewID(),
		Subject:    "vf_" + idv.NewID(),
		Status:     receipt.StatusVerified,
		Checks:     receipt.Checks{Document: receipt.CheckPassed, Resolution: receipt.CheckPassed, StateID: receipt.CheckPassed, Phone: receipt.CheckNotRun},
		VerifiedAt: clock.Now().Add(-time.Minute),
	}
}

// A receipt verifies against the served key set with an ordinary JOSE
// library, before and after a rotation done by another process.
func TestReceiptsAcrossRotation(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		clock := testenv.NewClock()
		sealer := newSealer(t)
		web := newSigner(t, b.store, sealer, clock)

		c1 := verifiedClaims(clock)
		r1, err := web.Sign(ctx(t), c1) // creates the first key
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		set := fetchJWKS(t, web)
		if len(set.Keys) != 1 {
			t.Fatalf("key set has %d keys, want 1", len(set.Keys))
		}
		got, kid1, err := check(r1, set)
		if err != nil {
			t.Fatalf("receipt does not verify: %v", err)
		}
		want := c1
		want.Issuer, want.IssuedAt = issuer, clock.Now()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("claims\n got %+v\nwant %+v", got, want)
		}

		// `idv keys rotate-signing`, in another process.
		cli := newSigner(t, b.store, sealer, clock)
		kid2, err := cli.Rotate(ctx(t))
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if kid2 == kid1 {
			t.Fatal("Rotate kept the key id")
		}

		// Until its reload, the web process signs with the old key; its
		// receipts still verify against the new set, which has both keys.
		clock.Advance(time.Second)
		r2, err := web.Sign(ctx(t), verifiedClaims(clock))
		if err != nil {
			t.Fatal(err)
		}
		set = fetchJWKS(t, cli)
		if ids := keyIDs(set); !slices.Equal(ids, sorted(kid1, kid2)) {
			t.Errorf("key set after rotation: %v, want %v", ids, sorted(kid1, kid2))
		}
		for _, r := range []string{r1, r2} {
			if _, kid, err := check(r, set); err != nil || kid != kid1 {
				t.Errorf("old receipt after rotation: kid %s, %v", kid, err)
			}
		}

		// After ReloadInterval the web process signs with the new key.
		clock.Advance(receipt.DefaultReloadInterval)
		r3, err := web.Sign(ctx(t), verifiedClaims(clock))
		if err != nil {
			t.Fatal(err)
		}
		set = fetchJWKS(t, web)
		if _, kid, err := check(r3, set); err != nil || kid != kid2 {
			t.Errorf("new receipt: kid %s (want %s), %v", kid, kid2, err)
		}
		if _, _, err := check(r1, set); err != nil {
			t.Errorf("first receipt against the web process's new set: %v", err)
		}

		// Past the publish window the retired key leaves the set.
		clock.Advance(receipt.DefaultPublishRetiredFor)
		set = fetchJWKS(t, web)
		if ids := keyIDs(set); !slices.Equal(ids, []string{kid2}) {
			t.Errorf("key set after the publish window: %v, want [%s]", ids, kid2)
		}
		if _, _, err := check(r1, set); err == nil {
			t.Error("a receipt of a key out of its window still verifies")
		}
	})
}

// Any change to a receipt makes it fail, and so does a receipt signed by a
// key the set does not publish.
func TestTamperedReceiptFails(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		clock := testenv.NewClock()
		s := newSigner(t, b.store, newSealer(t), clock)
		c := verifiedClaims(clock)
		c.Checks.Phone = receipt.CheckFailed
		c.Status, c.VerifiedAt = receipt.StatusFailed, time.Time{}
		token, err := s.Sign(ctx(t), c)
		if err != nil {
			t.Fatal(err)
		}
		set := fetchJWKS(t, s)
		if _, _, err := check(token, set); err != nil {
			t.Fatalf("untouched receipt: %v", err)
		}
		parts := strings.Split(token, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := bytes.Replace(payload, []byte(`"status":"failed"`), []byte(`"status":"verified"`), 1)
		if bytes.Equal(forged, payload) {
			t.Fatalf("payload %s has no status to forge", payload)
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[0] ^= 1
		header, _ := base64.RawURLEncoding.DecodeString(parts[0])
		noneHeader := base64.RawURLEncoding.EncodeToString(bytes.Replace(header, []byte(`"ES256"`), []byte(`"none"`), 1))

		other := newSigner(t, backends["sqlite"](t).store, newSealer(t), clock)
		foreign, err := other.Sign(ctx(t), verifiedClaims(clock))
		if err != nil {
			t.Fatal(err)
		}
		for name, bad := range map[string]string{
			"payload changed":   parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2],
			"signature changed": parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig),
			"alg none":          noneHeader + "." + parts[1] + ".",
			"truncated":         parts[0] + "." + parts[1],
			"another key":       foreign,
		} {
			if _, _, err := check(bad, set); err == nil {
				t.Errorf("%s: the receipt verifies", name)
			}
		}
	})
}

// The database holds no private key in clear: not the PKCS #8 bytes, not
// the scalar D raw, in hex or as a JWK "d", not PEM.
func TestSigningKeySealedAtRest(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		clock := testenv.NewClock()
		sealer := newSealer(t)
		s := newSigner(t, b.store, sealer, clock)
		if _, err := s.EnsureKey(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctx(t)); err != nil {
			t.Fatal(err)
		}
		keys, err := b.store.ListKeys(ctx(t))
		if err != nil || len(keys) != 2 {
			t.Fatalf("ListKeys: %d keys, %v", len(keys), err)
		}
		rows := b.rows(t)
		if len(rows) != 2 {
			t.Fatalf("%d rows", len(rows))
		}
		for _, k := range keys {
			der, err := sealer.Open(ctx(t), k.SealedPrivateKey, []byte("idv/signing-key/v1|"+k.ID))
			if err != nil {
				t.Fatalf("the test's own unseal of %s: %v", k.ID, err)
			}
			parsed, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				t.Fatal(err)
			}
			d, err := parsed.(*ecdsa.PrivateKey).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			canaries := map[string][]byte{
				"PKCS #8 DER": der,
				"D":           d,
				"D in hex":    []byte(hex.EncodeToString(d)),
				"JWK d":       []byte(base64.RawURLEncoding.EncodeToString(d)),
				"D in base64": []byte(base64.StdEncoding.EncodeToString(d)),
				"PEM":         []byte("PRIVATE KEY"),
				"PEM body":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})[28:60],
			}
			for _, row := range rows {
				for name, c := range canaries {
					if bytes.Contains(row, c) {
						t.Errorf("key %s: %s in clear in the database", k.ID, name)
					}
				}
			}
		}
	})
}

// A sealed private key moved to another row does not open there: the AAD
// binds it to its key id. The signer refuses to sign rather than sign with
// a key whose public half is not the published one.
func TestSealedKeyBoundToItsID(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		clock := testenv.NewClock()
		sealer := newSealer(t)
		if _, err := newSigner(t, b.store, sealer, clock).EnsureKey(ctx(t)); err != nil {
			t.Fatal(err)
		}
		keys, err := b.store.ListKeys(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		moved := keys[0]
		moved.ID, moved.CreatedAt = "moved", moved.CreatedAt.Add(time.Second)
		if err := b.store.InsertKey(ctx(t), moved); err != nil {
			t.Fatal(err)
		}
		_, err = newSigner(t, b.store, sealer, clock).Sign(ctx(t), verifiedClaims(clock))
		if idv.ErrorCode(err) != idv.ETAMPERED {
			t.Errorf("Sign with a moved key: %v, want %s", err, idv.ETAMPERED)
		}
	})
}

func TestSignRefusesBadClaims(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock()
	s := newSigner(t, backends["sqlite"](t).store, newSealer(t), clock)
	good := verifiedClaims(clock)
	for name, change := range map[string]func(c *receipt.Claims){
		"no audience":             func(c *receipt.Claims) { c.Audience = "" },
		"no subject":              func(c *receipt.Claims) { c.Subject = "" },
		"not final":               func(c *receipt.Claims) { c.Status = "processing" },
		"verified without time":   func(c *receipt.Claims) { c.VerifiedAt = time.Time{} },
		"failed with verified_at": func(c *receipt.Claims) { c.Status = receipt.StatusFailed },
		"unknown check outcome":   func(c *receipt.Claims) { c.Checks.StateID = "maybe" },
	} {
		c := good
		change(&c)
		if _, err := s.Sign(ctx(t), c); idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("%s: %v, want %s", name, err, idv.EINVALID)
		}
	}
	if keys, _ := s.JWKS(ctx(t)); len(keys.Keys) != 0 {
		t.Error("a refused receipt created a key")
	}
}

// The receipt's JSON has exactly these members: adding one (perhaps
// something about the person) must be a deliberate change of this test.
func TestClaimsCarryNoPII(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock()
	c := verifiedClaims(clock)
	c.Issuer, c.IssuedAt = issuer, clock.Now()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"aud", "checks", "iat", "iss", "status", "sub", "verified_at"}
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, want) {
		t.Errorf("receipt members %v, want %v", got, want)
	}
	if got := reflect.TypeFor[receipt.Claims]().NumField(); got != len(want) {
		t.Errorf("Claims has %d fields, want %d", got, len(want))
	}
	if string(m["checks"]) != `{"document":"passed","resolution":"passed","state_id":"passed","phone":"not_run"}` {
		t.Errorf("checks = %s", m["checks"])
	}
	if string(m["iat"]) != "1735787045" {
		t.Errorf("iat = %s, want a NumericDate", m["iat"])
	}
	// Empty outcomes go out as not_run; a failed receipt has no verified_at.
	c.Checks, c.Status, c.VerifiedAt = receipt.Checks{}, receipt.StatusExpired, time.Time{}
	b, _ = json.Marshal(c)
	if !strings.Contains(string(b), `"checks":{"document":"not_run","resolution":"not_run","state_id":"not_run","phone":"not_run"}`) ||
		strings.Contains(string(b), "verified_at") {
		t.Errorf("expired receipt: %s", b)
	}
}

// Many requests sign at once, while a rotation happens.
func TestConcurrentSigning(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock()
	b := backends["sqlite"](t)
	// Real time: a reload on nearly every use.
	s, err := receipt.New(b.store, newSealer(t), receipt.Options{Issuer: issuer, ReloadInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	tokens := make([]string, 40)
	errs := make([]error, 40)
	for i := range tokens {
		wg.Go(func() {
			if i == 20 {
				_, errs[i] = s.Rotate(ctx(t))
				return
			}
			tokens[i], errs[i] = s.Sign(ctx(t), verifiedClaims(clock))
		})
	}
	wg.Wait()
	set := fetchJWKS(t, s)
	for i, tok := range tokens {
		if errs[i] != nil {
			t.Fatalf("%d: %v", i, errs[i])
		}
		if i == 20 {
			continue
		}
		if _, _, err := check(tok, set); err != nil {
			t.Errorf("receipt %d: %v", i, err)
		}
	}
}

func TestJWKSUnavailable(t *testing.T) {
	t.Parallel()
	s, err := receipt.New(failingStore{}, newSealer(t), receipt.Options{Issuer: issuer})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptestGet(t, s)
	if rec.Code != 503 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("key store down: %d %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if _, err := s.Sign(ctx(t), verifiedClaims(testenv.NewClock())); idv.ErrorCode(err) != idv.EUNAVAILABLE {
		t.Errorf("Sign with the key store down: %v", err)
	}
}
