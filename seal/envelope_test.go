package seal_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ring := ringK1(t)
	sealer := newEnvelope(t, ring, seal.Options{})
	// A second envelope over the same ring is another process (a worker
	// opening what the web tier sealed): it has to unwrap.
	opener := newEnvelope(t, ring, seal.Options{})
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"empty plaintext, no aad", nil, nil},
		{"empty plaintext, aad", []byte{}, []byte("idv/result/v1|x")},
		{"one byte", []byte{0}, []byte("a")},
		{"job arguments", bytes.Repeat([]byte(`{"ssn":"900-12-3456"}`), 15), idv.JobAAD(idv.JobResolution, "r1")},
		{"64 KiB", bytes.Repeat([]byte{0xAB}, 64<<10), idv.ResultAAD("r2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sealed := mustSeal(t, sealer, tt.plaintext, tt.aad)
			for name, e := range map[string]*seal.Envelope{"same envelope": sealer, "other envelope": opener} {
				got := mustOpen(t, e, sealed, tt.aad)
				if !bytes.Equal(got, tt.plaintext) {
					t.Fatalf("%s: Open = %x, want %x", name, got, tt.plaintext)
				}
			}
		})
	}
}

// TestFormatLayout checks a sealed value against the layout documented in
// doc.go, so the documentation cannot drift from the code.
func TestFormatLayout(t *testing.T) {
	t.Parallel()
	e := newEnvelope(t, ringK1(t), seal.Options{})
	plaintext := []byte("hello")
	sealed := mustSeal(t, e, plaintext, nil)

	if sealed[0] != 0xE1 {
		t.Fatalf("format byte = %#x, want 0xE1", sealed[0])
	}
	if got := keyIDOf(t, sealed); got != "k1" {
		t.Fatalf("key id = %q, want k1", got)
	}
	k := int(sealed[1])
	w := int(binary.BigEndian.Uint16(sealed[2+k:]))
	if w != 12+32+16 { // LocalKeyRing: nonce, key, tag
		t.Fatalf("wrapped key length = %d, want 60", w)
	}
	if want := 4 + k + w + 12 + len(plaintext) + 16; len(sealed) != want {
		t.Fatalf("sealed length = %d, want %d", len(sealed), want)
	}
	if bytes.Contains(sealed, plaintext) {
		t.Fatalf("sealed value contains the plaintext")
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	t.Parallel()
	e := newEnvelope(t, ringK1(t), seal.Options{})
	a := mustSeal(t, e, []byte("same"), nil)
	b := mustSeal(t, e, []byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal")
	}
}

// TestOpenRejectsEveryByteFlip changes each byte of a small sealed value in
// a few ways: every change, in the header or the body, must fail with
// ETAMPERED, both where the data key is cached and where it is not.
func TestOpenRejectsEveryByteFlip(t *testing.T) {
	t.Parallel()
	ring := ringK1(t)
	const secret = "Jane-900123456"
	aad := idv.JobAAD(idv.JobResolution, "result-1")
	sealer := newEnvelope(t, ring, seal.Options{})
	sealed := mustSeal(t, sealer, []byte(secret), aad)
	for _, mask := range []byte{0x01, 0x80, 0xFF} {
		for i := range sealed {
			tampered := bytes.Clone(sealed)
			tampered[i] ^= mask
			for name, e := range map[string]*seal.Envelope{
				"warm": sealer,
				"cold": newEnvelope(t, ring, seal.Options{}),
			} {
				_, err := e.Open(context.Background(), tampered, aad)
				if err == nil {
					t.Fatalf("%s: byte %d ^ %#x: Open succeeded", name, i, mask)
				}
				wantCode(t, err, idv.ETAMPERED, secret, string(aad))
			}
		}
	}
}

func TestOpenRejectsTruncationAndExtension(t *testing.T) {
	t.Parallel()
	ring := ringK1(t)
	sealer := newEnvelope(t, ring, seal.Options{})
	sealed := mustSeal(t, sealer, []byte("some plaintext"), nil)
	for n := 0; n < len(sealed); n++ {
		for name, e := range map[string]*seal.Envelope{"warm": sealer, "cold": newEnvelope(t, ring, seal.Options{})} {
			_, err := e.Open(context.Background(), sealed[:n], nil)
			if err == nil {
				t.Fatalf("%s: truncated to %d bytes: Open succeeded", name, n)
			}
			wantCode(t, err, idv.ETAMPERED)
		}
	}
	for _, extra := range [][]byte{{0}, bytes.Repeat([]byte{0xFF}, 16)} {
		_, err := sealer.Open(context.Background(), append(bytes.Clone(sealed), extra...), nil)
		wantCode(t, err, idv.ETAMPERED)
	}
	_, err := sealer.Open(context.Background(), sealed[:3], nil)
	if msg := idv.ErrorMessage(err); msg != "sealed value is truncated" {
		t.Fatalf("message = %q", msg)
	}
}

func TestOpenRejectsWrongAAD(t *testing.T) {
	t.Parallel()
	e := newEnvelope(t, ringK1(t), seal.Options{})
	good := idv.JobAAD(idv.JobResolution, "r1")
	sealed := mustSeal(t, e, []byte("x"), good)
	tests := []struct {
		name string
		aad  []byte
	}{
		{"nil", nil},
		{"other result id", idv.JobAAD(idv.JobResolution, "r2")},
		{"other job kind", idv.JobAAD(idv.JobAddress, "r1")},
		{"prefix", good[:len(good)-1]},
		{"extended", append(bytes.Clone(good), '1')},
		{"result aad", idv.ResultAAD("r1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.Open(context.Background(), sealed, tt.aad)
			wantCode(t, err, idv.ETAMPERED)
			if msg := idv.ErrorMessage(err); msg != "sealed value failed authentication" {
				t.Fatalf("message = %q", msg)
			}
		})
	}
	// And the other way: sealed without aad, opened with some.
	bare := mustSeal(t, e, []byte("x"), nil)
	_, err := e.Open(context.Background(), bare, []byte("a"))
	wantCode(t, err, idv.ETAMPERED)
}

// TestOpenRejectsSwappedHeader moves the header of one value onto the body of
// another: the header is part of the AAD, so neither opens.
func TestOpenRejectsSwappedHeader(t *testing.T) {
	t.Parallel()
	ring := ringK1(t)
	e := newEnvelope(t, ring, seal.Options{DataKeyMaxUses: 1}) // a data key per value
	a := mustSeal(t, e, []byte("aaaa"), nil)
	b := mustSeal(t, e, []byte("bbbb"), nil)
	hl := 4 + int(a[1]) + int(binary.BigEndian.Uint16(a[2+int(a[1]):]))
	swapped := append(bytes.Clone(a[:hl]), b[hl:]...)
	_, err := e.Open(context.Background(), swapped, nil)
	wantCode(t, err, idv.ETAMPERED)
}

func TestOpenRejectsMalformedHeaders(t *testing.T) {
	t.Parallel()
	e := newEnvelope(t, ringK1(t), seal.Options{})
	body := make([]byte, 12+16)
	build := func(format byte, keyID []byte, wrappedLen uint16, wrapped []byte) []byte {
		b := []byte{format, byte(len(keyID))}
		b = append(b, keyID...)
		b = binary.BigEndian.AppendUint16(b, wrappedLen)
		b = append(b, wrapped...)
		return append(b, body...)
	}
	wrapped := make([]byte, 60)
	tests := []struct {
		name    string
		sealed  []byte
		message string
	}{
		{"empty", nil, "sealed value is truncated"},
		{"json", []byte(`{"ssn":"900-12-3456","first_name":"Jane","last":"Doe"}`), "sealed value has an unknown format"},
		{"zeros", make([]byte, 100), "sealed value has an unknown format"},
		{"future version", build(0xE2, []byte("k1"), 60, wrapped), "sealed value has an unknown format"},
		{"empty key id", build(0xE1, nil, 60, wrapped), "sealed value has a malformed header"},
		{"key id with space", build(0xE1, []byte("k 1"), 60, wrapped), "sealed value has a malformed header"},
		{"key id with control byte", build(0xE1, []byte("k\x001"), 60, wrapped), "sealed value has a malformed header"},
		{"empty wrapped key", build(0xE1, []byte("k1"), 0, nil), "sealed value has a malformed header"},
		{"huge wrapped key", build(0xE1, []byte("k1"), 6145, make([]byte, 6145)), "sealed value has a malformed header"},
		{"wrapped length past end", build(0xE1, []byte("k1"), 200, wrapped), "sealed value is truncated"},
		{"key id length past end", append([]byte{0xE1, 255}, make([]byte, 40)...), "sealed value is truncated"},
		{"unknown key", build(0xE1, []byte("k9"), 60, wrapped), `sealed value names unknown key "k9"`},
		{"forged wrapped key", build(0xE1, []byte("k1"), 60, wrapped), `sealed value's data key failed authentication under key "k1"`},
		{"wrong-size wrapped key", build(0xE1, []byte("k1"), 61, make([]byte, 61)), "sealed value has a malformed data key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.Open(context.Background(), tt.sealed, nil)
			wantCode(t, err, idv.ETAMPERED, "900-12-3456", "Jane")
			if msg := idv.ErrorMessage(err); msg != tt.message {
				t.Fatalf("message = %q, want %q", msg, tt.message)
			}
		})
	}
}

func TestOpenUnknownAndWrongKey(t *testing.T) {
	t.Parallel()
	sealed := mustSeal(t, newEnvelope(t, ringK1(t), seal.Options{}), []byte("x"), nil)
	tests := []struct {
		name    string
		ring    *seal.LocalKeyRing
		message string
	}{
		{"ring without k1", newRing(t, map[string][]byte{"k2": masterK2}, "k2"), `sealed value names unknown key "k1"`},
		{"k1 with other key bytes", newRing(t, map[string][]byte{"k1": masterK2}, "k1"), `sealed value's data key failed authentication under key "k1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := newEnvelope(t, tt.ring, seal.Options{}).Open(context.Background(), sealed, nil)
			wantCode(t, err, idv.ETAMPERED)
			if msg := idv.ErrorMessage(err); msg != tt.message {
				t.Fatalf("message = %q, want %q", msg, tt.message)
			}
		})
	}
}

func TestWrapperUnavailable(t *testing.T) {
	t.Parallel()
	ring := ringK1(t)
	sealed := mustSeal(t, newEnvelope(t, ring, seal.Options{}), []byte("x"), nil)

	down := &countingWrapper{KeyWrapper: ring}
	down.failWith(errors.New("dial tcp 10.0.0.1:443: connection refused"))
	e := newEnvelope(t, down, seal.Options{})
	_, err := e.Seal(context.Background(), []byte("x"), nil)
	wantCode(t, err, idv.EUNAVAILABLE)
	_, err = e.Open(context.Background(), sealed, nil)
	wantCode(t, err, idv.EUNAVAILABLE)

	// A wrapper error that already has a code keeps it.
	coded := &countingWrapper{KeyWrapper: ring}
	coded.failWith(idv.Errorf(idv.ETAMPERED, "sealed value names unknown key %q", "k1"))
	_, err = newEnvelope(t, coded, seal.Options{}).Open(context.Background(), sealed, nil)
	wantCode(t, err, idv.ETAMPERED)
}

// blockingWrapper stands in for a KMS that hangs until released.
type blockingWrapper struct {
	seal.KeyWrapper
	entered chan struct{}
	release chan struct{}
}

func (w *blockingWrapper) GenerateDataKey(ctx context.Context) (string, []byte, []byte, error) {
	w.entered <- struct{}{}
	<-w.release
	return w.KeyWrapper.GenerateDataKey(ctx)
}

// TestSealWaitingForSlowWrapperHonoursContext: while one Seal waits on a slow
// wrapper, another gives up when its context ends instead of queueing forever.
func TestSealWaitingForSlowWrapperHonoursContext(t *testing.T) {
	t.Parallel()
	w := &blockingWrapper{KeyWrapper: ringK1(t), entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnvelope(t, w, seal.Options{})
	first := make(chan error, 1)
	go func() {
		_, err := e.Seal(context.Background(), []byte("x"), nil)
		first <- err
	}()
	<-w.entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := e.Seal(ctx, []byte("y"), nil)
	wantCode(t, err, idv.EUNAVAILABLE)
	close(w.release)
	if err := <-first; err != nil {
		t.Fatalf("first Seal: %v", err)
	}
	mustSeal(t, e, []byte("z"), nil) // the key is now cached: no wrapper call
}

// badWrapper returns data keys that do not fit the format.
type badWrapper struct {
	keyID   string
	key     []byte
	wrapped []byte
}

func (w badWrapper) GenerateDataKey(context.Context) (string, []byte, []byte, error) {
	return w.keyID, bytes.Clone(w.key), w.wrapped, nil
}

func (w badWrapper) UnwrapDataKey(context.Context, string, []byte) ([]byte, error) {
	return bytes.Clone(w.key), nil
}

func TestWrapperReturningBadDataKeys(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	tests := []struct {
		name string
		w    badWrapper
	}{
		{"short key", badWrapper{"k1", make([]byte, 16), []byte("w")}},
		{"empty key id", badWrapper{"", key, []byte("w")}},
		{"key id with space", badWrapper{"my key", key, []byte("w")}},
		{"long key id", badWrapper{strings.Repeat("k", 256), key, []byte("w")}},
		{"empty wrapped", badWrapper{"k1", key, nil}},
		{"huge wrapped", badWrapper{"k1", key, make([]byte, 6145)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := newEnvelope(t, tt.w, seal.Options{}).Seal(context.Background(), []byte("x"), nil)
			wantCode(t, err, idv.EINTERNAL)
		})
	}
	// Open with a wrapper returning a short key is a fault of the wrapper.
	sealed := mustSeal(t, newEnvelope(t, ringK1(t), seal.Options{}), []byte("x"), nil)
	_, err := newEnvelope(t, badWrapper{key: make([]byte, 16)}, seal.Options{}).Open(context.Background(), sealed, nil)
	wantCode(t, err, idv.EINTERNAL)
}

func TestNewEnvelopeValidatesOptions(t *testing.T) {
	t.Parallel()
	ring := ringK1(t)
	tests := []struct {
		name string
		w    seal.KeyWrapper
		opts seal.Options
	}{
		{"nil wrapper", nil, seal.Options{}},
		{"negative TTL", ring, seal.Options{DataKeyTTL: -time.Second}},
		{"negative uses", ring, seal.Options{DataKeyMaxUses: -1}},
		{"too many uses", ring, seal.Options{DataKeyMaxUses: 1<<32 + 1}},
		{"negative cache size", ring, seal.Options{OpenCacheSize: -1}},
		{"negative cache TTL", ring, seal.Options{OpenCacheTTL: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := seal.NewEnvelope(tt.w, tt.opts); err == nil {
				t.Fatal("NewEnvelope succeeded")
			}
		})
	}
}
