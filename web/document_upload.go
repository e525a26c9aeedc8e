package web

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

// What the document capture page sends, and the checks on it: the fields of
// the browser's encrypted uploads (pre-signed), or the images themselves.
// Messages never echo what was sent.

const (
	formCaptureID = "capture_id"  // hidden field echoing keyDocCapture
	maxFormMemory = 2 * (1 << 20) // multipart parts above this go to temp files
	maxTestFile   = 64 << 10      // a YAML/JSON stand-in is small
)

// photosTooLarge is the document form's answer to a body over its cap.
var photosTooLarge = fmt.Sprintf("Your photos are too large. Each must be under %d MB.", idv.MaxImageBytes>>20)

// acceptedTypes are the image types the page and the server take: what a
// phone camera or a scanner produces.
var acceptedTypes = []string{"image/jpeg", "image/png", "image/webp"}

// testFileTypes are what http.DetectContentType calls a YAML or JSON file.
var testFileTypes = []string{"text/plain; charset=utf-8", "application/json"}

// urlChecker is the part of an object store that recognises its own URLs.
type urlChecker interface {
	KeyFromURL(rawURL string) (string, error)
}

// parseDocumentForm reads the fields the capture page submits after its
// browser-side uploads (DESIGN.md 2a): encryption_key, front_image_iv,
// back_image_iv (standard base64, as btoa writes them), front_image_url and
// back_image_url, plus capture_id. captureID is the capture whose URLs this
// session was given. Each URL must be exactly the one issued for its side of
// that capture: any other store, bucket, key, side or capture is refused
// here, before anything is fetched, and so are front and back under one IV.
// It is a pure function of the posted values, so it can be fuzzed
// (document_fuzz_test.go).
func parseDocumentForm(form url.Values, captureID string, objects urlChecker) (idv.DocumentArguments, idv.FieldErrors) {
	fe := idv.FieldErrors{}
	args := idv.DocumentArguments{CaptureID: captureID}
	if captureID == "" || form.Get(formCaptureID) != captureID {
		fe[string(idv.SideFront)] = "This page has expired. Please add your photos again."
		return idv.DocumentArguments{}, fe
	}
	key, ok := decodeB64(form.Get("encryption_key"), seal.ImageKeySize)
	if !ok {
		fe[string(idv.SideFront)] = "Your photos were not encrypted correctly. Please add them again."
	}
	args.EncryptionKey = key
	for _, side := range idv.Sides {
		name := string(side)
		iv, ok := decodeB64(form.Get(name+"_image_iv"), seal.ImageIVSize)
		raw := form.Get(name + "_image_url")
		k, err := objects.KeyFromURL(raw)
		switch {
		case raw == "":
			fe[name] = "Add a photo of the " + name + " of your ID."
		case err != nil || k != idv.DocumentImageKey(captureID, side):
			fe[name] = "This photo did not upload to the right place. Please add it again."
		case !ok:
			fe[name] = "This photo was not encrypted correctly. Please add it again."
		}
		*args.Image(side) = idv.DocumentImage{IV: iv, URL: raw}
	}
	if back := string(idv.SideBack); fe[back] == "" && args.Back.IV != nil && bytes.Equal(args.Front.IV, args.Back.IV) {
		// Two images under one key and one IV: AES-GCM then leaks both.
		// The page draws a new IV per image; only a broken page repeats one.
		fe[back] = "This photo was not encrypted correctly. Please add it again."
	}
	if len(fe) > 0 {
		return idv.DocumentArguments{}, fe
	}
	return args, nil
}

// parseHPKEDocumentForm reads the fields the capture page submits when it
// encrypted the images to the workers' HPKE key: capture_id and the two
// URLs, checked as parseDocumentForm checks them. Nothing else is read: the
// key id and encapsulated key travel inside each object, where only a
// worker reads them.
func parseHPKEDocumentForm(form url.Values, captureID string, objects urlChecker) (idv.DocumentArguments, idv.FieldErrors) {
	fe := idv.FieldErrors{}
	args := idv.DocumentArguments{CaptureID: captureID, ImageEncryption: idv.ImageEncryptionHPKE}
	if captureID == "" || form.Get(formCaptureID) != captureID {
		fe[string(idv.SideFront)] = "This page has expired. Please add your photos again."
		return idv.DocumentArguments{}, fe
	}
	for _, side := range idv.Sides {
		name := string(side)
		raw := form.Get(name + "_image_url")
		k, err := objects.KeyFromURL(raw)
		switch {
		case raw == "":
			fe[name] = "Add a photo of the " + name + " of your ID."
		case err != nil || k != idv.DocumentImageKey(captureID, side):
			fe[name] = "This photo did not upload to the right place. Please add it again."
		}
		args.Image(side).URL = raw
	}
	if len(fe) > 0 {
		return idv.DocumentArguments{}, fe
	}
	return args, nil
}

// decodeB64 decodes standard base64 (padding optional) of exactly n bytes.
func decodeB64(s string, n int) ([]byte, bool) {
	if len(s) > 4*n {
		return nil, false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == n {
			return b, true
		}
	}
	return nil, false
}

// readImages reads the posted images (pre-signed uploads off), refusing
// what the page would have refused: a missing side, a file over the size
// limit or of another type. The route caps the body at maxImagesBytes
// (limitBody).
func (s *Server) readImages(r *http.Request, captureID string) (map[idv.Side][]byte, idv.FieldErrors) {
	err := r.ParseMultipartForm(maxFormMemory)
	if r.MultipartForm != nil {
		defer func() { _ = r.MultipartForm.RemoveAll() }()
	}
	front := string(idv.SideFront)
	if err != nil {
		if tooLarge(err) {
			return nil, idv.FieldErrors{front: photosTooLarge}
		}
		return nil, idv.FieldErrors{front: "We couldn't read your photos. Please add them again."}
	}
	if captureID == "" || r.PostFormValue(formCaptureID) != captureID {
		return nil, idv.FieldErrors{front: "This page has expired. Please add your photos again."}
	}
	fe := idv.FieldErrors{}
	images := map[idv.Side][]byte{}
	for _, side := range idv.Sides {
		img, msg := s.readImage(r.MultipartForm, side)
		if msg != "" {
			fe[string(side)] = msg
			continue
		}
		images[side] = img
	}
	if len(fe) > 0 {
		for _, img := range images {
			clear(img)
		}
		return nil, fe
	}
	return images, nil
}

func (s *Server) readImage(form *multipart.Form, side idv.Side) ([]byte, string) {
	files := form.File[string(side)]
	if len(files) != 1 {
		return nil, "Add a photo of the " + string(side) + " of your ID."
	}
	fh := files[0]
	if fh.Size > int64(idv.MaxImageBytes) {
		return nil, "This photo is too large. Use a photo under 10 MB."
	}
	f, err := fh.Open()
	if err != nil {
		return nil, "We couldn't read this photo. Please add it again."
	}
	defer f.Close()
	img, err := io.ReadAll(io.LimitReader(f, int64(idv.MaxImageBytes)+1))
	if err != nil || len(img) == 0 || len(img) > idv.MaxImageBytes {
		return nil, "We couldn't read this photo. Please add it again."
	}
	if msg := s.checkImageType(img); msg != "" {
		clear(img)
		return nil, msg
	}
	return img, ""
}

// checkImageType sniffs the bytes rather than trusting the name or the
// declared type.
func (s *Server) checkImageType(img []byte) string {
	ct := http.DetectContentType(img)
	if slices.Contains(acceptedTypes, ct) ||
		s.docs.AllowTestFiles && len(img) <= maxTestFile && slices.Contains(testFileTypes, ct) {
		return ""
	}
	return "This file is not a photo. Use a JPEG, PNG or WebP image."
}
