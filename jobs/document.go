package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/imagekey"
	"github.com/idv-dev/idv/seal"
)

// imageVendor names the stage result of an image problem: no vendor was
// asked, idv itself refused the image.
const imageVendor = "idv"

// Document runs the document step: fetch both images from object storage,
// open them, ask the document-authentication vendor and store its verdict
// with the PII read from the ID. Whether the step is complete is decided by
// the web tier from this stored result alone.
type Document struct {
	Runner  *Runner
	Objects idv.ObjectStore
	Vendor  idv.DocumentProofer
	// AllowTestFiles (doc_auth.allow_test_files) lets a file that is not a
	// picture reach the vendor, so QA can hand the document simulator a
	// YAML or JSON file that picks its answer. Off, an image that is not a
	// JPEG, PNG or WebP by its first bytes is refused before any vendor is
	// asked. The check is here, after decryption, because with pre-signed
	// uploads the web tier never sees the plaintext.
	AllowTestFiles bool
	// Keys open images the browser encrypted to the workers' HPKE key
	// (arguments with ImageEncryption "hpke"); nil refuses such jobs.
	Keys ImageOpener
}

// ImageOpener opens the HPKE-encrypted objects of one capture
// (imagekey.Keys): a problem the person can mend is an error carrying a
// document code and a side (imagekey.SideError).
type ImageOpener interface {
	OpenCapture(ctx context.Context, captureID string, objs []imagekey.Object, timed func(string, func() error) error) ([][]byte, error)
}

// Handle implements idv.JobHandler.
func (h *Document) Handle(ctx context.Context, job idv.Job) error {
	var captureID string
	err := h.Runner.run(ctx, job, func(ctx context.Context, raw []byte, t *Timings) (*idv.ProofingResult, error) {
		var args idv.DocumentArguments
		if err := decode(raw, &args); err != nil {
			return nil, err
		}
		if args.CaptureID == "" {
			return nil, fmt.Errorf("%w: document arguments carry no capture id", idv.ErrDiscardJob)
		}
		captureID = args.CaptureID
		hpke := args.ImageEncryption == idv.ImageEncryptionHPKE
		if !args.ServerSealed && !hpke && bytes.Equal(args.Front.IV, args.Back.IV) {
			// One key and one IV for two images breaks AES-GCM: the web
			// tier refuses it, so only a forged or broken page gets here.
			// Neither image is read.
			h.Runner.Logger.WarnContext(ctx, "document images share an IV: refused", "capture_id", captureID)
			return imageFailure(idv.SideBack, idv.DocCodeImageUnreadable), nil
		}
		var images [len(idv.Sides)][]byte
		if hpke {
			side, problem, err := h.hpkeImages(ctx, args, t, &images)
			if err != nil {
				return nil, err
			}
			if problem != "" {
				return imageFailure(side, problem), nil
			}
		}
		for i, side := range idv.Sides {
			if hpke {
				break
			}
			img, problem, err := h.image(ctx, args, side, t)
			if err != nil {
				return nil, err
			}
			if problem == "" && !h.AllowTestFiles && !isPicture(img) {
				clear(img)
				problem = idv.DocCodeImageTypeUnsupported
			}
			if problem != "" {
				clear(images[0])
				return imageFailure(side, problem), nil
			}
			images[i] = img
		}
		for i, side := range idv.Sides {
			if hpke && !h.AllowTestFiles && !isPicture(images[i]) {
				clear(images[0])
				clear(images[1])
				return imageFailure(side, idv.DocCodeImageTypeUnsupported), nil
			}
		}
		var vr idv.VendorResult
		var pii *idv.Applicant
		_ = t.Time("document", func() error { vr, pii = h.Vendor.ProofDocument(ctx, images[0], images[1]); return nil })
		clear(images[0])
		clear(images[1])
		res := &idv.ProofingResult{Outcome: vr.Outcome(), Stages: []idv.Stage{{Name: "document", Result: vr}}}
		if res.Outcome == idv.OutcomeSuccess {
			// Errors on a pass are notes (barcode attention), not failures.
			res.Applicant = pii
		} else {
			res.FailedAttributes = attributes(vr.Errors)
		}
		return res, nil
	})
	if err == nil && captureID != "" {
		// The result is stored; the images have done their work. A failed
		// delete is left to the bucket's lifecycle rule.
		for _, side := range idv.Sides {
			key := idv.DocumentImageKey(captureID, side)
			if e := h.Objects.Delete(ctx, key); e != nil {
				h.Runner.Logger.WarnContext(ctx, "document image not deleted", "side", side, "error", e.Error())
			}
		}
	}
	return err
}

// hpkeImages fetches both sides and opens them with the workers' HPKE keys
// into images. A problem is a document code on side, as for image.
func (h *Document) hpkeImages(ctx context.Context, args idv.DocumentArguments, t *Timings, images *[len(idv.Sides)][]byte) (idv.Side, string, error) {
	if h.Keys == nil {
		return "", "", fmt.Errorf("%w: document job encrypted with hpke, but this worker has no image keys", idv.ErrDiscardJob)
	}
	objs := make([]imagekey.Object, 0, len(idv.Sides))
	for _, side := range idv.Sides {
		ct, code, err := h.fetch(ctx, args, side, t)
		if code != "" || err != nil {
			return side, code, err
		}
		objs = append(objs, imagekey.Object{Side: side, Data: ct})
	}
	opened, err := h.Keys.OpenCapture(ctx, args.CaptureID, objs, t.Time)
	var se *imagekey.SideError
	switch {
	case errors.As(err, &se):
		h.Runner.Logger.WarnContext(ctx, "document image refused", "capture_id", args.CaptureID, "side", se.Side, "code", se.Code, "error", se.Err.Error())
		return se.Side, se.Code, nil
	case err != nil:
		return "", "", err
	}
	copy(images[:], opened)
	return "", "", nil
}

// image fetches and opens one side. A problem (a document code) is the
// person's to mend: it ends the attempt with a failure result they can act
// on (take the photos again), not with a job error, since retrying cannot
// mend a missing or altered image. An error is an infrastructure fault
// worth a retry.
func (h *Document) image(ctx context.Context, args idv.DocumentArguments, side idv.Side, t *Timings) ([]byte, string, error) {
	key := idv.DocumentImageKey(args.CaptureID, side)
	ct, code, err := h.fetch(ctx, args, side, t)
	if code != "" || err != nil {
		return nil, code, err
	}
	var img []byte
	err = t.Time("decrypt."+string(side), func() error {
		var e error
		if args.ServerSealed {
			img, e = h.Runner.Sealer.Open(ctx, ct, idv.ImageAAD(key))
		} else {
			img, e = seal.OpenImage(args.EncryptionKey, args.Image(side).IV, ct)
		}
		return e
	})
	switch idv.ErrorCode(err) {
	case "":
		return img, "", nil
	case idv.ETAMPERED, idv.EINVALID:
		return nil, idv.DocCodeImageUnreadable, nil
	default:
		return nil, "", err
	}
}

// fetch downloads one side's object, as image and hpkeImages read it. A
// problem is a document code, an error a fault worth a retry.
func (h *Document) fetch(ctx context.Context, args idv.DocumentArguments, side idv.Side, t *Timings) ([]byte, string, error) {
	key := idv.DocumentImageKey(args.CaptureID, side)
	if !args.ServerSealed {
		// The web tier checked the URL already; check again here so a job
		// can never be pointed at another capture's images or another
		// store.
		got, err := h.Objects.KeyFromURL(args.Image(side).URL)
		if err != nil || got != key {
			return nil, idv.DocCodeImageURLInvalid, nil
		}
	}
	var ct []byte
	err := t.Time("download."+string(side), func() error {
		var e error
		ct, e = h.Objects.Get(ctx, key)
		return e
	})
	switch idv.ErrorCode(err) {
	case "":
		return ct, "", nil
	case idv.ENOTFOUND:
		return nil, idv.DocCodeImageMissing, nil
	case idv.EINVALID:
		return nil, idv.DocCodeImageTooLarge, nil
	default:
		return nil, "", err
	}
}

// Magic bytes of the image types a phone camera or a scanner produces, the
// ones the capture page accepts.
var (
	jpegMagic = []byte{0xff, 0xd8, 0xff}
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	riffMagic = []byte("RIFF") // a WebP file is RIFF, a 4-byte size, WEBP
	webpMagic = []byte("WEBP")
)

// isPicture reports whether img starts as a JPEG, PNG or WebP file does. It
// reads the first bytes only: whether the picture decodes is the vendor's
// to say (image_load_failure).
func isPicture(img []byte) bool {
	return bytes.HasPrefix(img, jpegMagic) || bytes.HasPrefix(img, pngMagic) ||
		len(img) >= 12 && bytes.HasPrefix(img, riffMagic) && bytes.Equal(img[8:12], webpMagic)
}

// imageFailure is the result of an image idv could not use.
func imageFailure(side idv.Side, code string) *idv.ProofingResult {
	vr := idv.VendorResult{Vendor: imageVendor, Errors: map[string][]string{string(side): {code}}}
	return &idv.ProofingResult{
		Outcome:          idv.OutcomeFailure,
		Stages:           []idv.Stage{{Name: "document", Result: vr}},
		FailedAttributes: []string{string(side)},
	}
}
