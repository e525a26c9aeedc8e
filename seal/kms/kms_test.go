package kms_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
	"github.com/idv-dev/idv/seal/kms"
	"github.com/idv-dev/idv/seal/kms/kmstest"
)

// canary is plaintext no error text may ever contain.
const canary = "CANARY-Jane-Doe-900-12-3456"

var aad = idv.JobAAD(idv.JobResolution, "result-1")

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func newWrapper(t testing.TB, client kms.Client, keyID string) *kms.Wrapper {
	t.Helper()
	w, err := kms.New(client, kms.Options{KeyID: keyID})
	if err != nil {
		t.Fatalf("kms.New(%q): %v", keyID, err)
	}
	return w
}

// newEnvelope is one process's envelope: its own data-key caches.
func newEnvelope(t testing.TB, w seal.KeyWrapper) *seal.Envelope {
	t.Helper()
	e, err := seal.NewEnvelope(w, seal.Options{})
	if err != nil {
		t.Fatalf("NewEnvelope: %v", err)
	}
	return e
}

func mustSeal(t testing.TB, e *seal.Envelope, plain string) []byte {
	t.Helper()
	v, err := e.Seal(ctx(t), []byte(plain), aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return v
}

func mustOpen(t testing.TB, e *seal.Envelope, v []byte, want string) {
	t.Helper()
	got, err := e.Open(ctx(t), v, aad)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if string(got) != want {
		t.Fatalf("Open = %q, want %q", got, want)
	}
}

// keyIDOf reads the key id from a sealed value (format in seal/doc.go).
func keyIDOf(v []byte) string { return string(v[2 : 2+int(v[1])]) }

// wrappedOf reads the wrapped data key from a sealed value.
func wrappedOf(v []byte) []byte {
	k := int(v[1])
	w := int(v[2+k])<<8 | int(v[3+k])
	return v[4+k : 4+k+w]
}

// wantCode fails unless err has the idv code and its text holds no secret.
func wantCode(t testing.TB, err error, code string, secrets ...[]byte) {
	t.Helper()
	if got := idv.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
	assertNoSecrets(t, err.Error(), secrets...)
}

// assertNoSecrets checks text for each secret raw, in base64 and in hex.
func assertNoSecrets(t testing.TB, text string, secrets ...[]byte) {
	t.Helper()
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		for _, form := range []string{string(s), base64.StdEncoding.EncodeToString(s), base64.RawURLEncoding.EncodeToString(s), hex.EncodeToString(s)} {
			if strings.Contains(text, form) {
				t.Fatalf("error text %q contains a secret", text)
			}
		}
	}
}

func TestRoundTripThroughEnvelope(t *testing.T) {
	t.Parallel()
	srv := kmstest.New(t)
	arn := srv.CreateKey()
	keyID := arn[strings.LastIndex(arn, "/")+1:]
	srv.SetAlias("alias/idv", arn)
	tests := []struct{ name, ref string }{
		{"key ARN", arn},
		{"key id", keyID},
		{"alias name", "alias/idv"},
		{"alias ARN", "arn:aws:kms:" + kmstest.Region + ":" + kmstest.Account + ":alias/idv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWrapper(t, srv.Client(), tc.ref)
			sealer, opener := newEnvelope(t, w), newEnvelope(t, w)
			for _, plain := range []string{canary, "", strings.Repeat("x", 70_000)} {
				v := mustSeal(t, sealer, plain)
				if got := keyIDOf(v); got != arn {
					t.Fatalf("sealed value names key %q, want the ARN KMS reports %q", got, arn)
				}
				if bytes.Contains(v, []byte(canary)) {
					t.Fatal("sealed value contains the plaintext")
				}
				mustOpen(t, opener, v, plain) // another process: unwraps through KMS
				mustOpen(t, sealer, v, plain) // the sealing process: from its cache
			}
			_, err := opener.Open(ctx(t), mustSeal(t, sealer, canary), []byte("other aad"))
			wantCode(t, err, idv.ETAMPERED, []byte(canary))
		})
	}
}

// TestRefusedValuesAreTampered covers values KMS refuses as such: no
// retry or other process will open them, so they are ETAMPERED.
func TestRefusedValuesAreTampered(t *testing.T) {
	t.Parallel()
	srv := kmstest.New(t)
	keyA, keyB := srv.CreateKey(), srv.CreateKey()
	client := srv.Client()
	wA := newWrapper(t, client, keyA)
	valueA := mustSeal(t, newEnvelope(t, wA), canary)

	// relabel rewrites a value's header to name another key id, keeping
	// its wrapped key (format in seal/doc.go).
	relabel := func(v []byte, keyID string) []byte {
		k := int(v[1])
		out := append([]byte{v[0], byte(len(keyID))}, keyID...)
		return append(out, v[2+k:]...)
	}
	tests := []struct {
		name  string
		value func(t *testing.T) []byte
	}{
		{"wrong encryption context", func(t *testing.T) []byte {
			other := wA.WithEncryptionContext(map[string]string{"purpose": "another-app"})
			return mustSeal(t, newEnvelope(t, other), canary)
		}},
		{"no encryption context", func(t *testing.T) []byte {
			return mustSeal(t, newEnvelope(t, wA.WithEncryptionContext(nil)), canary)
		}},
		{"unknown key", func(t *testing.T) []byte {
			gone := srv.CreateKey()
			v := mustSeal(t, newEnvelope(t, newWrapper(t, client, gone)), canary)
			srv.DeleteKey(gone)
			return v
		}},
		{"key of another account", func(t *testing.T) []byte {
			return relabel(valueA, strings.Replace(keyA, kmstest.Account, "999999999999", 1))
		}},
		{"relabelled to another existing key", func(t *testing.T) []byte { return relabel(valueA, keyB) }},
		{"key id that is not a KMS key ARN", func(t *testing.T) []byte { return relabel(valueA, "k20260101T000000Z-local") }},
		{"wrapped key changed", func(t *testing.T) []byte {
			v := bytes.Clone(valueA)
			v[2+int(v[1])+2+10] ^= 0x01 // a byte inside the wrapped key
			return v
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := tc.value(t)
			opener := newEnvelope(t, newWrapper(t, client, keyA))
			_, err := opener.Open(ctx(t), v, aad)
			wantCode(t, err, idv.ETAMPERED, []byte(canary))
		})
	}
}

// TestUnavailable covers a key service that cannot serve now: seal and open
// are EUNAVAILABLE (the job is retried, the page says try again), never
// ETAMPERED, never a panic.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// break_ makes the server fail after a value was sealed; it
		// returns the client options the failing side uses.
		break_ func(srv *kmstest.Server, key string) []func(*awskms.Options)
		// callTimeout, if set, is the wrapper's CallTimeout.
		callTimeout time.Duration
	}{
		{name: "disabled key", break_: func(srv *kmstest.Server, key string) []func(*awskms.Options) {
			srv.DisableKey(key)
			return nil
		}},
		{name: "key pending deletion", break_: func(srv *kmstest.Server, key string) []func(*awskms.Options) {
			srv.ScheduleKeyDeletion(key)
			return nil
		}},
		{name: "throttling", break_: failAll("ThrottlingException")},
		{name: "KMS internal error", break_: failAll("KMSInternalException")},
		{name: "dependency timeout", break_: failAll("DependencyTimeoutException")},
		{name: "access denied", break_: failAll("AccessDeniedException")},
		{name: "wrong credentials", break_: func(*kmstest.Server, string) []func(*awskms.Options) {
			return []func(*awskms.Options){func(o *awskms.Options) {
				o.Credentials = credentials.NewStaticCredentialsProvider("AKIAWRONGWRONGWRONG0", "wrong", "")
			}}
		}},
		{name: "KMS stops answering", callTimeout: 300 * time.Millisecond, break_: failAll(kmstest.Hang)},
		{name: "KMS down", break_: func(srv *kmstest.Server, _ string) []func(*awskms.Options) {
			srv.Close()
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := kmstest.New(t)
			key := srv.CreateKey()
			v := mustSeal(t, newEnvelope(t, newWrapper(t, srv.Client(), key)), canary)

			opts := tc.break_(srv, key)
			w, err := kms.New(srv.Client(opts...), kms.Options{KeyID: key, CallTimeout: tc.callTimeout})
			if err != nil {
				t.Fatal(err)
			}
			e := newEnvelope(t, w)
			_, err = e.Seal(ctx(t), []byte(canary), aad)
			wantCode(t, err, idv.EUNAVAILABLE, []byte(canary))
			_, err = e.Open(ctx(t), v, aad)
			wantCode(t, err, idv.EUNAVAILABLE, []byte(canary))
			t.Logf("error text: %v", err)
		})
	}
}

func failAll(code string) func(*kmstest.Server, string) []func(*awskms.Options) {
	return func(srv *kmstest.Server, _ string) []func(*awskms.Options) {
		srv.Fail(kmstest.OpGenerateDataKey, code)
		srv.Fail(kmstest.OpDecrypt, code)
		return nil
	}
}

// TestUnavailableRecovers checks that a failure is not cached: once KMS
// answers again, sealing and opening work.
func TestUnavailableRecovers(t *testing.T) {
	t.Parallel()
	srv := kmstest.New(t)
	key := srv.CreateKey()
	w := newWrapper(t, srv.Client(), key)
	v := mustSeal(t, newEnvelope(t, w), canary)
	e := newEnvelope(t, w)
	srv.Fail(kmstest.OpDecrypt, "ThrottlingException")
	_, err := e.Open(ctx(t), v, aad)
	wantCode(t, err, idv.EUNAVAILABLE)
	srv.Fail(kmstest.OpDecrypt, "")
	mustOpen(t, e, v, canary)
}

func TestRotation(t *testing.T) {
	t.Parallel()
	t.Run("configure a new key", func(t *testing.T) {
		t.Parallel()
		srv := kmstest.New(t)
		client := srv.Client()
		oldKey, newKey := srv.CreateKey(), srv.CreateKey()
		before := newEnvelope(t, newWrapper(t, client, oldKey))
		v1 := mustSeal(t, before, "sealed before")

		after := newEnvelope(t, newWrapper(t, client, newKey)) // restarted with keys.kms_key_id = newKey
		v2 := mustSeal(t, after, "sealed after")
		if keyIDOf(v1) != oldKey || keyIDOf(v2) != newKey {
			t.Fatalf("key ids %s, %s; want %s, %s", keyIDOf(v1), keyIDOf(v2), oldKey, newKey)
		}
		mustOpen(t, after, v1, "sealed before") // decrypt old
		mustOpen(t, after, v2, "sealed after")
		mustOpen(t, before, v2, "sealed after") // a process not yet restarted reads new values
		fresh := newEnvelope(t, newWrapper(t, client, newKey))
		mustOpen(t, fresh, v1, "sealed before")

		// Retiring the old key too early strands what it sealed: a
		// disabled key is EUNAVAILABLE (enable it again and they open).
		srv.DisableKey(oldKey)
		_, err := newEnvelope(t, newWrapper(t, client, newKey)).Open(ctx(t), v1, aad)
		wantCode(t, err, idv.EUNAVAILABLE)
		srv.EnableKey(oldKey)
		mustOpen(t, newEnvelope(t, newWrapper(t, client, newKey)), v1, "sealed before")
	})
	t.Run("move the alias", func(t *testing.T) {
		t.Parallel()
		srv := kmstest.New(t)
		client := srv.Client()
		oldKey, newKey := srv.CreateKey(), srv.CreateKey()
		srv.SetAlias("alias/idv", oldKey)
		v1 := mustSeal(t, newEnvelope(t, newWrapper(t, client, "alias/idv")), "sealed before")
		srv.SetAlias("alias/idv", newKey)
		// The next data key (after DataKeyTTL, or a restart) is under the
		// key the alias names now.
		e := newEnvelope(t, newWrapper(t, client, "alias/idv"))
		v2 := mustSeal(t, e, "sealed after")
		if keyIDOf(v1) != oldKey || keyIDOf(v2) != newKey {
			t.Fatalf("key ids %s, %s; want %s, %s", keyIDOf(v1), keyIDOf(v2), oldKey, newKey)
		}
		mustOpen(t, e, v1, "sealed before")
	})
}

// TestCachingKeepsKMSOffTheHotPath: 1000 jobs cost one GenerateDataKey in
// the sealing process and one Decrypt in each other process.
func TestCachingKeepsKMSOffTheHotPath(t *testing.T) {
	t.Parallel()
	srv := kmstest.New(t)
	w := newWrapper(t, srv.Client(), srv.CreateKey())
	web, worker := newEnvelope(t, w), newEnvelope(t, w)

	const n, goroutines = 1000, 8
	values := make([][]byte, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := range goroutines {
		wg.Go(func() {
			for i := g; i < n; i += goroutines {
				plain := fmt.Sprintf("job %d", i)
				v, err := web.Seal(ctx(t), []byte(plain), aad)
				if err != nil {
					errs <- err
					return
				}
				values[i] = v
				if got, err := web.Open(ctx(t), v, aad); err != nil || string(got) != plain {
					errs <- fmt.Errorf("web opens value %d: %q, %v", i, got, err)
				}
				if got, err := worker.Open(ctx(t), v, aad); err != nil || string(got) != plain {
					errs <- fmt.Errorf("worker opens value %d: %q, %v", i, got, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := srv.Calls(kmstest.OpGenerateDataKey); got != 1 {
		t.Errorf("GenerateDataKey calls = %d for %d seals, want 1", got, n)
	}
	// The worker unwraps the one data key once; concurrent first opens may
	// race to unwrap it, so allow a few.
	if got := srv.Calls(kmstest.OpDecrypt); got < 1 || got > goroutines {
		t.Errorf("Decrypt calls = %d for %d opens in two processes, want 1 to %d", got, 2*n, goroutines)
	}
}

// TestErrorsCarryNoKeyMaterial is the canary check: in every failure, no
// error text holds the sealed plaintext, a data key or a wrapped data key.
func TestErrorsCarryNoKeyMaterial(t *testing.T) {
	t.Parallel()
	srv := kmstest.New(t)
	key := srv.CreateKey()
	client := srv.Client()
	w := newWrapper(t, client, key)
	v := mustSeal(t, newEnvelope(t, w), canary)
	wrapped := wrappedOf(v)

	var errs []error
	open := func(value []byte, wr seal.KeyWrapper) {
		_, err := newEnvelope(t, wr).Open(ctx(t), value, aad)
		errs = append(errs, err)
	}
	open(v, w.WithEncryptionContext(map[string]string{"purpose": "x"}))
	broken := bytes.Clone(v)
	broken[len(broken)-1] ^= 1
	open(broken, w)
	for _, code := range []string{"ThrottlingException", "KMSInternalException", "InvalidCiphertextException"} {
		srv.Fail(kmstest.OpDecrypt, code)
		open(v, w)
	}
	srv.Fail(kmstest.OpDecrypt, "")
	_, err := w.UnwrapDataKey(ctx(t), key, []byte(canary))
	errs = append(errs, err)
	srv.DisableKey(key)
	open(v, w)
	_, err = newEnvelope(t, w).Seal(ctx(t), []byte(canary), aad)
	errs = append(errs, err)
	srv.Close()
	open(v, w)

	secrets := append(srv.DataKeys(), []byte(canary), wrapped)
	for _, err := range errs {
		if err == nil {
			t.Fatal("a failure case did not fail")
		}
		assertNoSecrets(t, err.Error(), secrets...)
		assertNoSecrets(t, fmt.Sprintf("%+v %#v", err, err), secrets...)
	}
}

func TestNewValidatesKeyID(t *testing.T) {
	t.Parallel()
	client := awskms.New(awskms.Options{Region: "us-east-1"})
	valid := []string{
		"1234abcd-12ab-34cd-56ef-1234567890ab",
		"mrk-1234abcd12ab34cd56ef1234567890ab",
		"arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
		"alias/idv",
		"alias/idv/prod_1",
		"arn:aws:kms:us-east-2:111122223333:alias/idv",
	}
	invalid := []string{"", "idv", "key/1234abcd-12ab-34cd-56ef-1234567890ab", "alias/", "alias/has space",
		"arn:aws:s3:::bucket", "arn:aws:kms:us-east-2:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
	for _, ref := range valid {
		if _, err := kms.New(client, kms.Options{KeyID: ref}); err != nil {
			t.Errorf("New(%q): %v", ref, err)
		}
	}
	for _, ref := range invalid {
		_, err := kms.New(client, kms.Options{KeyID: ref})
		if idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("New(%q) = %v, want EINVALID", ref, err)
		}
	}
	if got := kms.RegionOf(valid[2]); got != "us-east-2" {
		t.Errorf("RegionOf = %q", got)
	}
}

// TestOpen builds the client as production does (default credential chain,
// region from the key ARN, endpoint override) against the fake.
func TestOpen(t *testing.T) {
	srv := kmstest.New(t)
	key := srv.CreateKey()
	t.Setenv("AWS_ACCESS_KEY_ID", kmstest.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", kmstest.SecretAccessKey)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	w, err := kms.Open(ctx(t), kms.Config{KeyID: key, Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvelope(t, w)
	mustOpen(t, e, mustSeal(t, e, canary), canary)

	_, err = kms.Open(ctx(t), kms.Config{KeyID: "alias/idv", Endpoint: srv.URL})
	if idv.ErrorCode(err) != idv.EINVALID || !strings.Contains(err.Error(), "region") {
		t.Fatalf("Open without a region = %v, want EINVALID naming the region", err)
	}
}

// TestContextCanceled: a caller that gives up gets EUNAVAILABLE wrapping
// its context error.
func TestContextCanceled(t *testing.T) {
	t.Parallel()
	srv := kmstest.New(t)
	w := newWrapper(t, srv.Client(), srv.CreateKey())
	srv.Fail(kmstest.OpGenerateDataKey, kmstest.Hang)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, _, err := w.GenerateDataKey(c)
	wantCode(t, err, idv.EUNAVAILABLE)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not wrap context.Canceled", err)
	}
}
