package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/imagekey"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/results"
	"github.com/idv-dev/idv/seal"
)

// docVendor records the images it was sent.
type docVendor struct {
	mu          sync.Mutex
	front, back []byte
	calls       int
	res         idv.VendorResult
	pii         *idv.Applicant
}

func (v *docVendor) ProofDocument(_ context.Context, front, back []byte) (idv.VendorResult, *idv.Applicant) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	v.front, v.back = append([]byte(nil), front...), append([]byte(nil), back...)
	return v.res, v.pii
}

// docCase builds a document job as the browser and web tier would.
type docCase struct {
	objects  *fake.ObjectStore
	key      []byte
	front    []byte
	back     []byte
	args     idv.DocumentArguments
	job      idv.Job
	results  *results.Store
	vendor   *docVendor
	handler  *Document
	captured string
	keyStore *fake.ImageKeyStore // under useHPKE
}

func newDocCase(t *testing.T, now time.Time) *docCase {
	t.Helper()
	c := &docCase{objects: &fake.ObjectStore{}, results: newResults(t), key: make([]byte, 32),
		front: testenv.PNG(t, 8, 6), back: testenv.PNG(t, 6, 8)}
	_, _ = rand.Read(c.key)
	c.captured = idv.NewID()
	c.args = idv.DocumentArguments{CaptureID: c.captured, EncryptionKey: c.key}
	for side, img := range map[idv.Side][]byte{idv.SideFront: c.front, idv.SideBack: c.back} {
		im := c.args.Image(side)
		im.IV = make([]byte, 12)
		_, _ = rand.Read(im.IV)
		key := idv.DocumentImageKey(c.captured, side)
		ct, err := seal.SealImage(c.key, im.IV, img)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.objects.Put(context.Background(), key, ct)
		im.URL, _ = c.objects.PresignPut(context.Background(), key, int64(len(ct)), time.Hour)
	}
	c.vendor = &docVendor{res: idv.VendorResult{Vendor: "document_sim", Success: true},
		pii: &idv.Applicant{FirstName: "Canaryfirst", LastName: "Canarylast"}}
	c.handler = &Document{Runner: &Runner{Sealer: fake.Sealer{}, Results: c.results,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }},
		Objects: c.objects, Vendor: c.vendor}
	c.job = idv.Job{Kind: idv.JobDocument, ResultID: idv.NewID(), TraceID: "trace-doc", EnqueuedAt: now}
	return c
}

// useHPKE has the case's images sealed to the workers' HPKE key as the
// page does under doc_auth.image_encryption hpke, with arguments that carry
// only the URLs.
func (c *docCase) useHPKE(t *testing.T) {
	t.Helper()
	c.keyStore = &fake.ImageKeyStore{}
	keys, err := imagekey.New(c.keyStore, fake.Sealer{}, imagekey.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.EnsureKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	pub, _ := keys.CurrentImageKey(context.Background())
	pk, _ := seal.ImageKEM().NewPublicKey(pub.Raw)
	c.handler.Keys = keys
	c.args = idv.DocumentArguments{CaptureID: c.captured, ImageEncryption: idv.ImageEncryptionHPKE,
		Front: idv.DocumentImage{URL: c.args.Front.URL}, Back: idv.DocumentImage{URL: c.args.Back.URL}}
	for side, img := range map[idv.Side][]byte{idv.SideFront: c.front, idv.SideBack: c.back} {
		obj, err := seal.SealImageHPKE(pk, pub.ID, seal.ImageInfo(c.captured, side), img)
		if err != nil {
			t.Fatal(err)
		}
		c.put(idv.DocumentImageKey(c.captured, side), obj)
	}
}

// alter changes side's stored object.
func (c *docCase) alter(side idv.Side, f func([]byte) []byte) {
	key := idv.DocumentImageKey(c.captured, side)
	b, _ := c.objects.Get(context.Background(), key)
	c.put(key, f(b))
}

// put replaces the object at key, as a browser or an attacker might.
func (c *docCase) put(key string, b []byte) { _ = c.objects.Put(context.Background(), key, b) }

func (c *docCase) seal(t *testing.T) {
	t.Helper()
	b, _ := json.Marshal(c.args)
	c.job.EncryptedArguments, _ = fake.Sealer{}.Seal(context.Background(), b, idv.JobAAD(c.job.Kind, c.job.ResultID))
}

func TestDocumentJob(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		// change alters the case before the job runs.
		change      func(c *docCase)
		wantOutcome idv.Outcome
		wantCode    string // the stage error code, for image problems
		wantErr     bool   // an infrastructure fault: no result, retry
		wantVendor  bool
	}{
		{name: "images open and the vendor passes them", change: func(*docCase) {}, wantOutcome: idv.OutcomeSuccess, wantVendor: true},
		{name: "vendor says no", change: func(c *docCase) {
			c.vendor.res = idv.VendorResult{Vendor: "document_sim", Errors: map[string][]string{"front": {"dpi_low"}}}
		}, wantOutcome: idv.OutcomeFailure, wantVendor: true},
		{name: "vendor times out", change: func(c *docCase) { c.vendor.res = idv.VendorResult{TimedOut: true, Exception: "request timed out"} },
			wantOutcome: idv.OutcomeTimedOut, wantVendor: true},
		{name: "tampered ciphertext", change: func(c *docCase) {
			key := idv.DocumentImageKey(c.captured, idv.SideFront)
			b, _ := c.objects.Get(context.Background(), key)
			b[3] ^= 1
			c.put(key, b)
		}, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageUnreadable},
		{name: "wrong IV", change: func(c *docCase) { c.args.Back.IV[0] ^= 1 }, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageUnreadable},
		{name: "same IV for front and back", change: func(c *docCase) {
			// Both sides sealed under the one key and one IV, so each would
			// open: the job refuses them before fetching either.
			c.args.Back.IV = c.args.Front.IV
			for side, img := range map[idv.Side][]byte{idv.SideFront: c.front, idv.SideBack: c.back} {
				ct, _ := seal.SealImage(c.key, c.args.Front.IV, img)
				c.put(idv.DocumentImageKey(c.captured, side), ct)
			}
			c.objects.GetFn = func(context.Context, string) ([]byte, error) {
				return nil, idv.Errorf(idv.EINTERNAL, "an image was fetched")
			}
		}, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageUnreadable},
		{name: "IV of the wrong size", change: func(c *docCase) { c.args.Front.IV = c.args.Front.IV[:8] }, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageUnreadable},
		{name: "wrong key", change: func(c *docCase) { c.args.EncryptionKey = make([]byte, 32) }, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageUnreadable},
		{name: "missing object", change: func(c *docCase) {
			_ = c.objects.Delete(context.Background(), idv.DocumentImageKey(c.captured, idv.SideBack))
		},
			wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageMissing},
		{name: "truncated object", change: func(c *docCase) { c.put(idv.DocumentImageKey(c.captured, idv.SideFront), []byte{1, 2}) },
			wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageUnreadable},
		{name: "oversized object", change: func(c *docCase) {
			c.put(idv.DocumentImageKey(c.captured, idv.SideFront), make([]byte, idv.MaxImageBytes+1))
		}, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageTooLarge},
		{name: "URL of another store", change: func(c *docCase) { c.args.Front.URL = "https://elsewhere.example/document-capture/x/front" },
			wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageURLInvalid},
		{name: "URL of another capture", change: func(c *docCase) { c.args.Back.URL = fake.ObjectURL(idv.DocumentImageKey(idv.NewID(), idv.SideBack)) },
			wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageURLInvalid},
		{name: "front URL given for the back", change: func(c *docCase) { c.args.Back.URL = c.args.Front.URL },
			wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageURLInvalid},
		{name: "object store down", change: func(c *docCase) {
			c.objects.GetFn = func(context.Context, string) ([]byte, error) {
				return nil, idv.Errorf(idv.EUNAVAILABLE, "object store unavailable")
			}
		}, wantErr: true},
		{name: "images the web tier sealed", change: func(c *docCase) {
			c.args = idv.DocumentArguments{CaptureID: c.captured, ServerSealed: true}
			for side, img := range map[idv.Side][]byte{idv.SideFront: c.front, idv.SideBack: c.back} {
				key := idv.DocumentImageKey(c.captured, side)
				sealed, _ := fake.Sealer{}.Seal(context.Background(), img, idv.ImageAAD(key))
				c.put(key, sealed)
			}
		}, wantOutcome: idv.OutcomeSuccess, wantVendor: true},
		{name: "hpke: images sealed to the workers' key open", change: func(c *docCase) { c.useHPKE(t) },
			wantOutcome: idv.OutcomeSuccess, wantVendor: true},
		{name: "hpke: header altered", change: func(c *docCase) {
			c.useHPKE(t)
			c.alter(idv.SideBack, func(b []byte) []byte { b[4] = 9; return b })
		}, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageHeaderInvalid},
		{name: "hpke: key id altered", change: func(c *docCase) {
			c.useHPKE(t)
			c.alter(idv.SideFront, func(b []byte) []byte { b[6] = map[bool]byte{true: 'B', false: 'A'}[b[6] == 'A']; return b })
		}, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageKeyUnknown},
		{name: "hpke: truncated", change: func(c *docCase) {
			c.useHPKE(t)
			c.alter(idv.SideFront, func(b []byte) []byte { return b[:50] })
		}, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageTruncated},
		{name: "hpke: ciphertext altered", change: func(c *docCase) {
			c.useHPKE(t)
			c.alter(idv.SideBack, func(b []byte) []byte { b[len(b)-20] ^= 1; return b })
		}, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageUnreadable},
		{name: "hpke: front and back swapped", change: func(c *docCase) {
			c.useHPKE(t)
			f, _ := c.objects.Get(context.Background(), idv.DocumentImageKey(c.captured, idv.SideFront))
			b, _ := c.objects.Get(context.Background(), idv.DocumentImageKey(c.captured, idv.SideBack))
			c.put(idv.DocumentImageKey(c.captured, idv.SideFront), b)
			c.put(idv.DocumentImageKey(c.captured, idv.SideBack), f)
		}, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageUnreadable},
		{name: "hpke: one object for both sides", change: func(c *docCase) {
			c.useHPKE(t)
			f, _ := c.objects.Get(context.Background(), idv.DocumentImageKey(c.captured, idv.SideFront))
			c.put(idv.DocumentImageKey(c.captured, idv.SideBack), f)
		}, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageEncapsulationReused},
		{name: "hpke: a plain picture instead of ciphertext", change: func(c *docCase) {
			c.useHPKE(t)
			c.put(idv.DocumentImageKey(c.captured, idv.SideFront), c.front)
		}, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageHeaderInvalid},
		{name: "hpke: key store down", change: func(c *docCase) {
			c.useHPKE(t)
			c.keyStore.ListFn = func() error { return idv.Errorf(idv.EUNAVAILABLE, "database down") }
		}, wantErr: true},
		{name: "server-sealed image under another key", change: func(c *docCase) {
			c.args = idv.DocumentArguments{CaptureID: c.captured, ServerSealed: true}
			for side, img := range map[idv.Side][]byte{idv.SideFront: c.front, idv.SideBack: c.back} {
				sealed, _ := fake.Sealer{}.Seal(context.Background(), img, idv.ImageAAD("document-capture/other/"+string(side)))
				c.put(idv.DocumentImageKey(c.captured, side), sealed)
			}
		}, wantOutcome: idv.OutcomeFailure, wantCode: idv.DocCodeImageUnreadable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newDocCase(t, now)
			tc.change(c)
			c.seal(t)
			setupDeletes := len(c.objects.Deleted())
			err := c.handler.Handle(context.Background(), c.job)
			deleted := c.objects.Deleted()[setupDeletes:]
			if tc.wantErr {
				if err == nil || idv.ErrorCode(err) != idv.EUNAVAILABLE {
					t.Fatalf("err = %v, want an EUNAVAILABLE job error", err)
				}
				if _, lerr := c.results.Load(context.Background(), c.job.ResultID); lerr == nil {
					t.Fatal("a result was stored for a job that will be retried")
				}
				if len(deleted) != 0 {
					t.Fatal("images deleted before the job could be retried")
				}
				return
			}
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			got, err := c.results.Load(context.Background(), c.job.ResultID)
			if err != nil || got.Status != idv.StatusDone || got.Result == nil {
				t.Fatalf("stored %+v, %v", got, err)
			}
			r := got.Result
			if r.Outcome != tc.wantOutcome {
				t.Fatalf("outcome %s, want %s", r.Outcome, tc.wantOutcome)
			}
			if (c.vendor.calls > 0) != tc.wantVendor {
				t.Fatalf("vendor calls %d, want called=%v", c.vendor.calls, tc.wantVendor)
			}
			if tc.wantVendor && tc.wantOutcome == idv.OutcomeSuccess {
				if !bytes.Equal(c.vendor.front, c.front) || !bytes.Equal(c.vendor.back, c.back) {
					t.Fatal("the vendor was not sent the decrypted images")
				}
				if r.Applicant == nil || r.Applicant.FirstName != "Canaryfirst" {
					t.Fatal("the PII read from the ID is not in the result")
				}
			} else if r.Applicant != nil {
				t.Fatal("PII stored with a result that is not a success")
			}
			if tc.wantCode != "" {
				var codes []string
				for _, cs := range r.Stages[0].Result.Errors {
					codes = append(codes, cs...)
				}
				if len(codes) != 1 || codes[0] != tc.wantCode {
					t.Fatalf("codes %v, want [%s]", codes, tc.wantCode)
				}
			}
			if len(deleted) != 2 {
				t.Fatalf("deleted %v, want both images deleted once the result is stored", deleted)
			}
		})
	}
}

func TestDocumentJobWithoutCaptureIDIsDiscarded(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	c := newDocCase(t, now)
	c.args.CaptureID = ""
	c.seal(t)
	err := c.handler.Handle(context.Background(), c.job)
	if err == nil || !strings.Contains(err.Error(), "capture id") {
		t.Fatalf("err = %v, want a discard", err)
	}
	if c.vendor.calls != 0 {
		t.Fatal("vendor called")
	}
}

// upload replaces side's image with img, sealed as the browser (or, with
// serverSealed, the web tier) would.
func (c *docCase) upload(t *testing.T, side idv.Side, img []byte, serverSealed bool) {
	t.Helper()
	key := idv.DocumentImageKey(c.captured, side)
	var ct []byte
	var err error
	if serverSealed {
		ct, err = fake.Sealer{}.Seal(context.Background(), img, idv.ImageAAD(key))
	} else {
		ct, err = seal.SealImage(c.key, c.args.Image(side).IV, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.put(key, ct)
}

// TestDocumentJobTestFiles: with doc_auth.allow_test_files off, a file that
// is not a picture never reaches the vendor (where a YAML file would pick the
// simulator's answer), whichever way it was uploaded; on, it does. Real
// pictures pass either way.
func TestDocumentJobTestFiles(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	yaml := []byte("doc_auth_result: Passed\n")
	json := []byte(`{"doc_auth_result": "Passed"}`)
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, "rest of a JPEG"...)
	webp := []byte("RIFF\x10\x00\x00\x00WEBPVP8 rest of a WebP")
	tests := []struct {
		name         string
		front        []byte // nil: a real PNG
		allow        bool
		serverSealed bool
		wantRefused  bool
	}{
		{name: "YAML, test files off", front: yaml, wantRefused: true},
		{name: "YAML posted to the web tier, test files off", front: yaml, serverSealed: true, wantRefused: true},
		{name: "JSON, test files off", front: json, wantRefused: true},
		{name: "PNG signature cut short, test files off", front: []byte("\x89PNG front"), wantRefused: true},
		{name: "RIFF that is not WebP, test files off", front: []byte("RIFF\x10\x00\x00\x00WAVEfmt "), wantRefused: true},
		{name: "YAML, test files on", front: yaml, allow: true},
		{name: "YAML posted to the web tier, test files on", front: yaml, serverSealed: true, allow: true},
		{name: "PNG, test files off"},
		{name: "PNG, test files on", allow: true},
		{name: "JPEG, test files off", front: jpeg},
		{name: "WebP, test files off", front: webp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newDocCase(t, now)
			c.handler.AllowTestFiles = tc.allow
			if tc.serverSealed {
				c.args = idv.DocumentArguments{CaptureID: c.captured, ServerSealed: true}
				c.upload(t, idv.SideFront, c.front, true)
				c.upload(t, idv.SideBack, c.back, true)
			}
			if tc.front != nil {
				c.front = tc.front
				c.upload(t, idv.SideFront, tc.front, tc.serverSealed)
			}
			c.seal(t)
			if err := c.handler.Handle(context.Background(), c.job); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			got, err := c.results.Load(context.Background(), c.job.ResultID)
			if err != nil || got.Result == nil {
				t.Fatalf("stored %+v, %v", got, err)
			}
			r := got.Result
			if tc.wantRefused {
				if c.vendor.calls != 0 {
					t.Fatal("the vendor was asked about a file that is not a picture")
				}
				if r.Outcome != idv.OutcomeFailure || len(r.Stages) != 1 ||
					!slices.Equal(r.Stages[0].Result.Errors[idv.DocAttrFront], []string{idv.DocCodeImageTypeUnsupported}) ||
					!slices.Equal(r.FailedAttributes, []string{idv.DocAttrFront}) {
					t.Fatalf("result %+v, want a failure image_type_unsupported on the front", r)
				}
				return
			}
			if r.Outcome != idv.OutcomeSuccess || c.vendor.calls != 1 || !bytes.Equal(c.vendor.front, c.front) {
				t.Fatalf("outcome %s, vendor calls %d: want the file sent to the vendor", r.Outcome, c.vendor.calls)
			}
		})
	}
}
