package seal_test

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

// Fixed master keys, so fuzz seeds stay valid across runs.
var (
	masterK1 = bytes.Repeat([]byte{0x01}, seal.MasterKeySize)
	masterK2 = bytes.Repeat([]byte{0x02}, seal.MasterKeySize)
)

func newRing(t testing.TB, keys map[string][]byte, current string) *seal.LocalKeyRing {
	t.Helper()
	r, err := seal.NewLocalKeyRing(keys, current)
	if err != nil {
		t.Fatalf("NewLocalKeyRing: %v", err)
	}
	return r
}

// ringK1 is a ring holding only k1.
func ringK1(t testing.TB) *seal.LocalKeyRing {
	return newRing(t, map[string][]byte{"k1": masterK1}, "k1")
}

func newEnvelope(t testing.TB, w seal.KeyWrapper, opts seal.Options) *seal.Envelope {
	t.Helper()
	e, err := seal.NewEnvelope(w, opts)
	if err != nil {
		t.Fatalf("NewEnvelope: %v", err)
	}
	return e
}

func mustSeal(t testing.TB, e *seal.Envelope, plaintext, aad []byte) []byte {
	t.Helper()
	s, err := e.Seal(context.Background(), plaintext, aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return s
}

func mustOpen(t testing.TB, e *seal.Envelope, sealed, aad []byte) []byte {
	t.Helper()
	p, err := e.Open(context.Background(), sealed, aad)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return p
}

// wantCode fails unless err carries code and its text names none of the
// secrets (plaintexts, aad) the test used.
func wantCode(t testing.TB, err error, code string, secrets ...string) {
	t.Helper()
	if got := idv.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q contains the secret %q", err, s)
		}
	}
}

// countingWrapper counts calls to the wrapper it wraps and can be made to
// fail, standing in for a KMS that is down.
type countingWrapper struct {
	seal.KeyWrapper
	generates atomic.Int64
	unwraps   atomic.Int64
	fail      atomic.Pointer[error]
}

func (w *countingWrapper) failWith(err error) { w.fail.Store(&err) }

func (w *countingWrapper) GenerateDataKey(ctx context.Context) (string, []byte, []byte, error) {
	w.generates.Add(1)
	if err := w.fail.Load(); err != nil {
		return "", nil, nil, *err
	}
	return w.KeyWrapper.GenerateDataKey(ctx)
}

func (w *countingWrapper) UnwrapDataKey(ctx context.Context, keyID string, wrapped []byte) ([]byte, error) {
	w.unwraps.Add(1)
	if err := w.fail.Load(); err != nil {
		return nil, *err
	}
	return w.KeyWrapper.UnwrapDataKey(ctx, keyID, wrapped)
}

// keyIDOf reads the key id from a sealed value, per the format in doc.go.
func keyIDOf(t testing.TB, sealed []byte) string {
	t.Helper()
	if len(sealed) < 2 || len(sealed) < 2+int(sealed[1]) {
		t.Fatalf("sealed value too short for a key id")
	}
	return string(sealed[2 : 2+int(sealed[1])])
}
