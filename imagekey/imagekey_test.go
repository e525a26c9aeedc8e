package imagekey_test

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/imagekey"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/seal"
)

func sealer(t testing.TB) idv.Sealer {
	t.Helper()
	ring, err := seal.NewLocalKeyRing(map[string][]byte{"k1": bytes.Repeat([]byte{9}, seal.MasterKeySize)}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	e, err := seal.NewEnvelope(ring, seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// capture seals both sides of a capture as the page does, to pub.
func capture(t testing.TB, pub imagekey.PublicKey, captureID string) []imagekey.Object {
	t.Helper()
	pk, err := seal.ImageKEM().NewPublicKey(pub.Raw)
	if err != nil {
		t.Fatal(err)
	}
	var objs []imagekey.Object
	for _, side := range idv.Sides {
		obj, err := seal.SealImageHPKE(pk, pub.ID, seal.ImageInfo(captureID, side), []byte("photo of the "+string(side)))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, imagekey.Object{Side: side, Data: obj})
	}
	return objs
}

// refused asserts that err is a person's problem with code on side.
func refused(t *testing.T, err error, side idv.Side, code string) {
	t.Helper()
	se, ok := err.(*imagekey.SideError)
	if !ok || se.Side != side || se.Code != code || idv.ErrorCode(err) != idv.ETAMPERED {
		t.Fatalf("error %v (%T); want %s on the %s", err, err, code, side)
	}
}

// Rotation keeps the previous key opening what was sealed to it for the
// grace, then refuses it as retired; an id never made is unknown. The
// public side follows the rotation and never needs the sealer.
func TestRotation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := testenv.NewClock()
	store := &fake.ImageKeyStore{}
	opts := imagekey.Options{Grace: time.Hour, Now: clock.Now}
	pub := imagekey.NewPublic(store, opts)
	if _, err := pub.CurrentImageKey(ctx); idv.ErrorCode(err) != idv.EUNAVAILABLE {
		t.Fatalf("no key yet: %v", err)
	}
	keys, err := imagekey.New(store, sealer(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	k1, err := keys.EnsureKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := keys.EnsureKey(ctx); err != nil || again != k1 {
		t.Fatalf("EnsureKey again = %s, %v; want %s", again, err, k1)
	}
	old, err := pub.CurrentImageKey(ctx)
	if err != nil || old.ID != k1 || len(old.Raw) != 65 {
		t.Fatalf("public key = %+v, %v", old, err)
	}
	inFlight := capture(t, old, "cap-before")

	k2, err := keys.Rotate(ctx)
	if err != nil || k2 == k1 {
		t.Fatalf("Rotate = %s, %v", k2, err)
	}
	clock.Advance(2 * imagekey.DefaultReloadInterval)
	if cur, err := pub.CurrentImageKey(ctx); err != nil || cur.ID != k2 {
		t.Fatalf("public key after rotation = %s, %v; want %s", cur.ID, err, k2)
	}

	// Within the grace: the upload sealed before the rotation opens.
	clock.Advance(30 * time.Minute)
	got, err := keys.OpenCapture(ctx, "cap-before", inFlight, nil)
	if err != nil || string(got[0]) != "photo of the front" || string(got[1]) != "photo of the back" {
		t.Fatalf("in-flight upload after rotation: %q, %v", got, err)
	}
	// A retried job opens the same objects again.
	if _, err := keys.OpenCapture(ctx, "cap-before", inFlight, nil); err != nil {
		t.Fatalf("the same capture again (a retried job): %v", err)
	}

	// Past the grace: the retired key is refused, the current one opens.
	late := capture(t, old, "cap-late")
	clock.Advance(31 * time.Minute)
	_, err = keys.OpenCapture(ctx, "cap-late", late, nil)
	refused(t, err, idv.SideFront, idv.DocCodeImageKeyRetired)
	cur, _ := pub.CurrentImageKey(ctx)
	if _, err := keys.OpenCapture(ctx, "cap-now", capture(t, cur, "cap-now"), nil); err != nil {
		t.Fatalf("current key: %v", err)
	}

	// A key another process made is found at once (no reload wait); one
	// nobody made is unknown.
	other, err := imagekey.New(store, sealer(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	k3, err := other.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k3pub, err := other.CurrentImageKey(ctx)
	if err != nil || k3pub.ID != k3 {
		t.Fatalf("other process's key: %v %v", k3pub.ID, err)
	}
	if _, err := keys.OpenCapture(ctx, "cap-k3", capture(t, k3pub, "cap-k3"), nil); err != nil {
		t.Fatalf("key rotated by another process: %v", err)
	}
	_, err = keys.OpenCapture(ctx, "cap-x", capture(t, imagekey.PublicKey{ID: "nonesuch", Raw: k3pub.Raw}, "cap-x"), nil)
	refused(t, err, idv.SideFront, idv.DocCodeImageKeyUnknown)

	// The private keys are sealed at rest, bound to their ids.
	for _, sk := range mustList(t, store) {
		if len(sk.SealedPrivateKey) < 32 {
			t.Fatalf("key %s stored %d sealed bytes", sk.ID, len(sk.SealedPrivateKey))
		}
		if _, err := sealer(t).Open(ctx, sk.SealedPrivateKey, imagekey.PrivateKeyAAD("another-id")); err == nil {
			t.Fatalf("key %s opens under another id", sk.ID)
		}
	}
}

// Encapsulated keys: front and back sharing one is refused before either
// is opened; one already recorded under another capture is refused; the
// header problems keep their codes and sides.
func TestOpenCaptureRefusals(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := &fake.ImageKeyStore{}
	keys, err := imagekey.New(store, sealer(t), imagekey.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.EnsureKey(ctx); err != nil {
		t.Fatal(err)
	}
	pub, err := keys.CurrentImageKey(ctx)
	if err != nil {
		t.Fatal(err)
	}

	objs := capture(t, pub, "cap-1")
	same := []imagekey.Object{objs[0], {Side: idv.SideBack, Data: objs[0].Data}}
	_, err = keys.OpenCapture(ctx, "cap-1", same, nil)
	refused(t, err, idv.SideBack, idv.DocCodeImageEncapsulationReused)

	// An enc another capture recorded (a page whose random numbers
	// repeat) is refused, and so is the back it came with.
	objs = capture(t, pub, "cap-2")
	h, err := seal.ParseImageHeader(objs[1].Data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(h.Enc)
	if _, err := store.RecordEncapsulations(ctx, []imagekey.Encapsulation{{EncHash: sum[:], CaptureID: "cap-0", Side: idv.SideBack, SeenAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	_, err = keys.OpenCapture(ctx, "cap-2", objs, nil)
	refused(t, err, idv.SideBack, idv.DocCodeImageEncapsulationReused)

	objs = capture(t, pub, "cap-3")
	for _, tc := range []struct {
		name string
		back []byte
		code string
	}{
		{"truncated", objs[1].Data[:40], idv.DocCodeImageTruncated},
		{"header altered", append([]byte("IDVX"), objs[1].Data[4:]...), idv.DocCodeImageHeaderInvalid},
		{"ciphertext altered", append(slices.Clone(objs[1].Data[:len(objs[1].Data)-1]), objs[1].Data[len(objs[1].Data)-1]^1), idv.DocCodeImageUnreadable},
		{"the other side's object", capture(t, pub, "cap-3")[0].Data, idv.DocCodeImageUnreadable},
	} {
		_, err := keys.OpenCapture(ctx, "cap-3", []imagekey.Object{objs[0], {Side: idv.SideBack, Data: tc.back}}, nil)
		t.Run(tc.name, func(t *testing.T) { refused(t, err, idv.SideBack, tc.code) })
	}
}

func mustList(t *testing.T, s imagekey.KeyStore) []imagekey.StoredKey {
	keys, err := s.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
